"""What the cluster and job sensors share: poke, reschedule or defer until a status, and resume."""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_xplenty._compat import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    AirflowTaskTimeout,
    BaseSensorOperator,
    PokeReturnValue,
)
from airflow_provider_xplenty._waiting.events import ResourceKind, StatusSnapshot, utc_iso, validate_event
from airflow_provider_xplenty._waiting.task import (
    STATUS_HISTORY_XCOM_KEY,
    XplentyTaskMixin,
    as_int,
    default_deferrable,
    no_id,
    push,
)
from airflow_provider_xplenty.exceptions import XplentyConfigError, XplentyError
from airflow_provider_xplenty.links.xplenty import HTML_URL_XCOM_KEY

if TYPE_CHECKING:
    from airflow_provider_xplenty._compat import Context


class XplentyStatusSensorBase(XplentyTaskMixin, BaseSensorOperator):
    """Poke, reschedule or defer until a cluster or job reaches one of ``target_statuses``.

    A status in ``failed_statuses`` fails the task with the API's detail. With ``skip_without_id``,
    an id that renders empty (``None``, ``""``, ``"None"``: the upstream task never learned one) skips
    the task instead of failing it. Subclasses set ``kind``
    and ``id_field`` (the templated attribute holding the id, read by :attr:`resource_id`), and
    ``statuses`` (the status enum every target and failed status must belong to).
    """

    kind: ClassVar[ResourceKind]
    id_field: ClassVar[str]
    statuses: ClassVar[type[Enum]]
    failure_error: ClassVar[type[XplentyError]] = XplentyError

    def __init__(
        self,
        *,
        target_statuses: Sequence[str] | str,
        failed_statuses: Sequence[str] | str,
        skip_without_id: bool = False,
        xplenty_conn_id: str = "xplenty_default",
        deferrable: bool = default_deferrable(),
        hook_params: dict[str, Any] | None = None,
        transient_error_timeout: float = 600.0,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poke_interval", 30)
        super().__init__(**kwargs)
        self.target_statuses = self._known_statuses(target_statuses, "target_statuses")
        self.failed_statuses = self._known_statuses(failed_statuses, "failed_statuses")
        if not self.target_statuses:
            raise XplentyConfigError("target_statuses must not be empty")
        overlap = set(self.target_statuses) & set(self.failed_statuses)
        if overlap:
            raise XplentyConfigError(f"statuses both target and failed: {sorted(overlap)}")
        self.skip_without_id = skip_without_id
        # poke_interval/timeout are BaseSensorOperator's, validated there (0 is a valid poke_interval)
        self._init_waiting(
            xplenty_conn_id,
            deferrable,
            self.poke_interval,
            self.timeout,
            hook_params,
            transient_error_timeout,
            checked_by_airflow=True,
        )
        self._last_status: str | None = None

    @staticmethod
    def _as_list(given: Sequence[str] | str) -> list[str]:
        """A status argument as a list (a single string is one status)."""
        return [given] if isinstance(given, str) else list(given)

    @classmethod
    def _known_statuses(cls, given: Sequence[str] | str, name: str) -> list[str]:
        """Return ``given`` as a list of statuses of :attr:`statuses`; a misspelt one fails the DAG's parse.

        A status the API never reports would make the sensor poll until its timeout (or the resource's end).
        """
        values = cls._as_list(given)
        known = [str(member.value) for member in cls.statuses]
        for value in values:
            if value not in known:
                import difflib

                close = difflib.get_close_matches(str(value).lower(), known, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise XplentyConfigError(
                    f"{name}: {value!r} is not an Xplenty {cls.kind} status; "
                    f"use one of {', '.join(known)}.{hint}"
                )
        return values

    @property
    def resource_id(self) -> int:
        """The (rendered) id of the watched cluster or job."""
        return as_int(getattr(self, self.id_field), self.id_field)

    def _fail_message(self, snap: StatusSnapshot) -> str:
        detail = f": {snap.errors}" if snap.errors else ""
        return f"Xplenty {self.kind} {snap.resource_id} is {snap.status}{detail}. See {snap.html_url}"

    def poke(self, context: Context) -> PokeReturnValue:
        """Check the status once; raise when it is a failed status."""
        resource_id = self.resource_id
        from airflow_provider_xplenty._waiting.sources import SyncPollingStatusSource

        snap = SyncPollingStatusSource(self.hook, poll_interval=self.poke_interval).fetch(
            self.kind, resource_id
        )
        if self._last_status is None:
            push(context, HTML_URL_XCOM_KEY, snap.html_url)
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
        if self.skip_without_id and no_id(getattr(self, self.id_field)):
            raise AirflowSkipException(f"No Xplenty {self.kind} to watch: {self.id_field} is empty")
        if not self.deferrable:
            return super().execute(context)
        try:
            result = self.poke(context)
        except AirflowFailException as error:
            # as in poke mode and after the trigger: soft_fail/never_fail skip instead of failing
            if self.soft_fail or self.never_fail:
                flag = "soft_fail" if self.soft_fail else "never_fail"
                raise AirflowSkipException(f"Skipping due to {flag} is set to True: {error}") from error
            raise
        if result.is_done:
            return result.xcom_value
        history = [{"status": self._last_status, "at": utc_iso()}] if self._last_status else []
        self._wait_or_defer(
            context,
            kind=self.kind,
            resource_id=self.resource_id,
            target_statuses=self.target_statuses,
            failed_statuses=self.failed_statuses,
            history=history,
            poll_interval=self.poke_interval,
            trigger_extra=self._trigger_extra(),
        )

    def _trigger_extra(self) -> dict[str, Any]:
        return {}

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None, **ids: Any) -> str:
        """Resume after the trigger fired: validate the event, then succeed, fail or time out."""
        event = validate_event(event, kind=self.kind, resource_id=self.resource_id)
        push(context, STATUS_HISTORY_XCOM_KEY, event.get("history") or [])
        status = event["status"]
        if status == "success":
            self.log.info("%s", event["message"])
            return str(event["xplenty_status"])
        if status == "timeout":
            if event.get("reason") == "execution_timeout":
                # like any task's execution_timeout: retried when retries are left
                raise AirflowTaskTimeout(f"{event['message']} (execution_timeout {self.execution_timeout})")
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
