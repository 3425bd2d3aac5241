"""Sensor that waits for an Xplenty cluster to reach a status."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowSensorTimeout, AirflowSkipException

from airflow_provider_xplenty.exceptions import XplentyClusterFailedError, XplentyConfigError, XplentyError
from airflow_provider_xplenty.hooks.xplenty import XplentyHook
from airflow_provider_xplenty.links.xplenty import HTML_URL_XCOM_KEY, XplentyClusterLink
from airflow_provider_xplenty.models import ClusterStatus
from airflow_provider_xplenty.triggers.watcher import ResourceKind, StatusSnapshot, SyncPollingStatusSource
from airflow_provider_xplenty.triggers.xplenty import (
    XplentyClusterTrigger,
    XplentyJobTrigger,
    default_deferrable,
    utc_iso,
    validate_event,
    wall_clock_deadlines,
)

if TYPE_CHECKING:
    from airflow.sdk import Context


def _as_int(value: Any, what: str) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        raise XplentyConfigError(f"{what} must be an integer id, got {value!r}") from None


class XplentyStatusSensorBase(BaseSensorOperator):
    """Poke, reschedule or defer until a cluster or job reaches one of ``target_statuses``.

    A status in ``failed_statuses`` fails the task with the API's detail. Subclasses set ``kind``.
    """

    kind: ClassVar[ResourceKind]
    failure_error: ClassVar[type[XplentyError]] = XplentyError

    def __init__(
        self,
        *,
        resource_id: int | str,
        target_statuses: Sequence[str],
        failed_statuses: Sequence[str],
        xplenty_conn_id: str = "xplenty_default",
        deferrable: bool = default_deferrable(),
        hook_params: dict[str, Any] | None = None,
        transient_error_timeout: float = 600.0,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poke_interval", 30)
        super().__init__(**kwargs)
        if not target_statuses:
            raise XplentyConfigError("target_statuses must not be empty")
        overlap = set(target_statuses) & set(failed_statuses)
        if overlap:
            raise XplentyConfigError(f"statuses both target and failed: {sorted(overlap)}")
        self.resource_id = resource_id
        self.target_statuses = list(target_statuses)
        self.failed_statuses = list(failed_statuses)
        self.xplenty_conn_id = xplenty_conn_id
        self.deferrable = deferrable
        self.hook_params = dict(hook_params or {})
        self.transient_error_timeout = transient_error_timeout
        self._last_status: str | None = None

    @cached_property
    def hook(self) -> XplentyHook:
        """The sync hook (built on first use, never at DAG parse time)."""
        return XplentyHook(self.xplenty_conn_id, **self.hook_params)

    def _fail_message(self, snap: StatusSnapshot) -> str:
        detail = f": {snap.errors}" if snap.errors else ""
        return f"Xplenty {self.kind} {snap.resource_id} is {snap.status}{detail}. See {snap.html_url}"

    def poke(self, context: Context) -> PokeReturnValue:
        """Check the status once; raise when it is a failed status."""
        resource_id = _as_int(self.resource_id, f"{self.kind}_id")
        snap = SyncPollingStatusSource(self.hook, poll_interval=self.poke_interval).fetch(
            self.kind, resource_id
        )
        if self._last_status is None:
            ti = context.get("ti")
            if ti is not None:
                ti.xcom_push(key=HTML_URL_XCOM_KEY, value=snap.html_url)
        if snap.status != self._last_status:
            progress = f" ({snap.progress * 100:.0f}%)" if snap.progress is not None else ""
            self.log.info("Xplenty %s %s is %s%s", self.kind, resource_id, snap.status, progress)
            self._last_status = snap.status
        if snap.status in self.failed_statuses:
            raise self.failure_error(self._fail_message(snap))
        done = snap.status in self.target_statuses
        return PokeReturnValue(is_done=done, xcom_value=snap.status if done else None)

    def execute(self, context: Context) -> Any:
        """Poke/reschedule as usual, or (deferrable) check once and then defer to a trigger."""
        if not self.deferrable:
            return super().execute(context)
        result = self.poke(context)
        if result.is_done:
            return result.xcom_value
        end_time, execution_deadline = wall_clock_deadlines(context, self.timeout, self.execution_timeout)
        trigger_cls = XplentyJobTrigger if self.kind == "job" else XplentyClusterTrigger
        history = [{"status": self._last_status, "at": utc_iso()}] if self._last_status else []
        self.defer(
            trigger=trigger_cls(
                _as_int(self.resource_id, f"{self.kind}_id"),
                xplenty_conn_id=self.xplenty_conn_id,
                poll_interval=self.poke_interval,
                target_statuses=self.target_statuses,
                failed_statuses=self.failed_statuses,
                end_time=end_time,
                execution_deadline=execution_deadline,
                history=history,
                hook_params=self.hook_params,
                transient_error_timeout=self.transient_error_timeout,
                **self._trigger_extra(),
            ),
            method_name="execute_complete",
            timeout=None,
        )

    def _trigger_extra(self) -> dict[str, Any]:
        return {}

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> str:
        """Resume after the trigger fired: validate the event, then succeed, fail or time out."""
        event = validate_event(
            event, kind=self.kind, resource_id=_as_int(self.resource_id, f"{self.kind}_id")
        )
        ti = context.get("ti")
        if ti is not None:
            ti.xcom_push(key="status_history", value=event.get("history") or [])
        status = event["status"]
        if status == "success":
            self.log.info("%s", event["message"])
            return str(event["xplenty_status"])
        if status == "timeout":
            message = f"{event['message']} (sensor timeout {self.timeout}s)"
            if self.soft_fail:
                raise AirflowSkipException(message)
            raise AirflowSensorTimeout(message)
        if status == "failed":
            detail = f": {event['errors']}" if event.get("errors") else ""
            raise self.failure_error(
                f"Xplenty {self.kind} {event['resource_id']} is {event['xplenty_status']}{detail}. "
                f"See {event.get('html_url')}"
            )
        raise XplentyError(str(event["message"]))


class XplentyClusterSensor(XplentyStatusSensorBase):
    """Wait for an Xplenty cluster to reach a status (by default: ready to run jobs).

    :param cluster_id: the cluster (templated).
    :param target_statuses: statuses that end the wait successfully.
    :param failed_statuses: statuses that fail the task (default ``error``, plus ``pending_terminate``,
        ``terminating`` and ``terminated`` unless one of those is a target).
    :param xplenty_conn_id: the Airflow connection (templated).
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param hook_params: extra keyword arguments for the hooks.
    :param transient_error_timeout: seconds of consecutive transient API errors tolerated (deferred).

    Plus the ``BaseSensorOperator`` arguments: ``mode`` (``poke``/``reschedule``), ``poke_interval``
    (default 30 here), ``timeout``, ``soft_fail``.
    """

    kind = "cluster"
    failure_error = XplentyClusterFailedError
    template_fields: Sequence[str] = ("cluster_id", "xplenty_conn_id")
    operator_extra_links = (XplentyClusterLink(),)

    def __init__(
        self,
        *,
        cluster_id: int | str,
        target_statuses: Sequence[str] = ("available", "idle"),
        failed_statuses: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        if failed_statuses is None:
            failed: set[str] = {ClusterStatus.ERROR.value}
            if not set(target_statuses) & ClusterStatus.terminating_states():
                # waiting for a usable cluster: one going away will never become usable
                failed |= ClusterStatus.terminating_states()
            failed_statuses = sorted(failed - set(target_statuses))
        super().__init__(
            resource_id=cluster_id, target_statuses=target_statuses, failed_statuses=failed_statuses, **kwargs
        )
        self.cluster_id = cluster_id

    def poke(self, context: Context) -> PokeReturnValue:
        """Check the cluster's status once."""
        self.resource_id = self.cluster_id
        return super().poke(context)

    def execute(self, context: Context) -> Any:
        """Wait for the cluster (poke, reschedule or deferred)."""
        self.resource_id = self.cluster_id
        return super().execute(context)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> str:
        """Resume after the trigger fired."""
        self.resource_id = self.cluster_id
        return super().execute_complete(context, event)
