"""Operators that create and terminate Xplenty clusters."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_xplenty.exceptions import (
    XplentyApiError,
    XplentyClusterFailedError,
    XplentyConfigError,
    XplentyError,
    XplentyTimeoutError,
)
from airflow_provider_xplenty.hooks.xplenty import XplentyHook
from airflow_provider_xplenty.links.xplenty import HTML_URL_XCOM_KEY, XplentyClusterLink
from airflow_provider_xplenty.models import Cluster, ClusterStatus
from airflow_provider_xplenty.triggers.watcher import IDLE_TERMINATION_SECONDS
from airflow_provider_xplenty.triggers.xplenty import (
    XplentyClusterTrigger,
    default_deferrable,
    utc_iso,
    validate_event,
    wait_sync,
    wall_clock_deadlines,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

CLUSTER_ID_XCOM_KEY = "cluster_id"
STATUS_HISTORY_XCOM_KEY = "status_history"


def _push(context: Context | dict[str, Any], key: str, value: Any) -> None:
    ti = context.get("ti")
    if ti is not None:
        ti.xcom_push(key=key, value=value)


def _as_int(value: Any, what: str) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        raise XplentyConfigError(f"{what} must be an integer id, got {value!r}") from None


def terminate_or_expire(hook: XplentyHook, cluster_id: int, log: Any) -> str | None:
    """Terminate a cluster now, or (still provisioning) make it terminate itself once idle.

    Returns the cluster's status afterwards, ``None`` when the API does not know it.
    """
    try:
        cluster = hook.terminate_cluster(cluster_id)
        log.info("Terminating Xplenty cluster %s: %s", cluster_id, cluster.status)
        return cluster.status
    except XplentyApiError as error:
        if error.status_code == 404:
            return None
        if error.status_code != 422:
            raise
    cluster = hook.get_cluster(cluster_id)
    if cluster.status in ClusterStatus.provisioning_states():
        cluster = hook.update_cluster(
            cluster_id, terminate_on_idle=True, time_to_idle=IDLE_TERMINATION_SECONDS
        )
        log.warning(
            "Xplenty cluster %s is still %s and cannot be terminated yet; it is now set to terminate "
            "itself after %ss idle",
            cluster_id,
            cluster.status,
            IDLE_TERMINATION_SECONDS,
        )
    return cluster.status


class XplentyCreateClusterOperator(BaseOperator):
    """Create an Xplenty cluster and (by default) wait until it can run jobs; return its id.

    The cluster id and ``html_url`` go to XCom (``cluster_id``, ``html_url``) as soon as the cluster
    exists. If the task fails after creating the cluster (provisioning ``error``, timeout, kill),
    the cluster is terminated (or, while still provisioning, set to terminate itself once idle).

    :param nodes: number of nodes (production: 2 or more; sandbox: 1) (templated).
    :param cluster_type: ``production`` or ``sandbox`` (templated).
    :param name: cluster name (templated).
    :param description: cluster description (templated).
    :param terminate_on_idle: let Xplenty terminate the cluster after ``time_to_idle`` seconds idle.
    :param time_to_idle: seconds of idleness before auto-termination.
    :param region: region, e.g. ``amazon-web-services::us-east-1`` (templated).
    :param zone: zone where the region has zones (templated).
    :param stack: software stack (templated).
    :param cluster_params: any other create-cluster fields (templated).
    :param xplenty_conn_id: the Airflow connection (templated).
    :param wait_for_available: wait until the cluster is ``available`` or ``idle``.
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param poll_interval: seconds between two status checks.
    :param timeout: longest wait for the cluster (seconds or timedelta).
    :param terminate_on_failure: terminate the cluster when the task fails after creating it.
    :param hook_params: extra keyword arguments for the hooks.
    :param transient_error_timeout: seconds of consecutive transient API errors tolerated while waiting.
    """

    template_fields: Sequence[str] = (
        "nodes",
        "cluster_type",
        "name",
        "description",
        "region",
        "zone",
        "stack",
        "cluster_params",
        "xplenty_conn_id",
    )
    template_fields_renderers = {"cluster_params": "json"}
    operator_extra_links = (XplentyClusterLink(),)
    ui_color = "#e0f7e0"

    def __init__(
        self,
        *,
        nodes: int | str | None = None,
        cluster_type: str = "production",
        name: str | None = None,
        description: str | None = None,
        terminate_on_idle: bool = True,
        time_to_idle: int = 3600,
        region: str | None = None,
        zone: str | None = None,
        stack: str | None = None,
        cluster_params: dict[str, Any] | None = None,
        xplenty_conn_id: str = "xplenty_default",
        wait_for_available: bool = True,
        deferrable: bool = default_deferrable(),
        poll_interval: float = 30,
        timeout: float | timedelta | None = 3600,
        terminate_on_failure: bool = True,
        hook_params: dict[str, Any] | None = None,
        transient_error_timeout: float = 600.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if poll_interval <= 0:
            raise XplentyConfigError("poll_interval must be positive")
        self.nodes = nodes
        self.cluster_type = cluster_type
        self.name = name
        self.description = description
        self.terminate_on_idle = terminate_on_idle
        self.time_to_idle = time_to_idle
        self.region = region
        self.zone = zone
        self.stack = stack
        self.cluster_params = cluster_params
        self.xplenty_conn_id = xplenty_conn_id
        self.wait_for_available = wait_for_available
        self.deferrable = deferrable
        self.poll_interval = float(poll_interval)
        self.timeout = timeout
        self.terminate_on_failure = terminate_on_failure
        self.hook_params = dict(hook_params or {})
        self.transient_error_timeout = transient_error_timeout
        self.cluster_id: int | None = None
        self._settled = False

    @cached_property
    def hook(self) -> XplentyHook:
        """The sync hook (built on first use, never at DAG parse time)."""
        return XplentyHook(self.xplenty_conn_id, **self.hook_params)

    def execute(self, context: Context) -> int:
        """Create the cluster, push its id and link, and wait for it (in the worker or deferred)."""
        extra = dict(self.cluster_params or {})
        cluster = self.hook.create_cluster(
            nodes=None if self.nodes in (None, "") else _as_int(self.nodes, "nodes"),
            type=self.cluster_type,
            name=self.name,
            description=self.description,
            terminate_on_idle=self.terminate_on_idle,
            time_to_idle=self.time_to_idle,
            region=self.region,
            zone=self.zone,
            stack=self.stack,
            **extra,
        )
        self.cluster_id = cluster.id
        _push(context, CLUSTER_ID_XCOM_KEY, cluster.id)
        _push(context, HTML_URL_XCOM_KEY, cluster.html_url)
        self.log.info("Created Xplenty cluster %s (%s): %s", cluster.id, cluster.status, cluster.html_url)
        history = [{"status": cluster.status, "at": utc_iso()}]
        if not self.wait_for_available:
            _push(context, STATUS_HISTORY_XCOM_KEY, history)
            self._settled = True
            return cluster.id
        try:
            return self._wait(context, cluster, history)
        except Exception:
            # TaskDeferred is a BaseException and passes through; API and wait errors clean up.
            self._cleanup("the task failed while waiting for it")
            raise

    def _wait(self, context: Context, cluster: Cluster, history: list[dict[str, Any]]) -> int:
        if cluster.is_ready:
            return self._succeed(context, cluster.id, history)
        if cluster.status in ClusterStatus.failed_states():
            return self._fail(
                context, cluster.id, history, f"Xplenty cluster {cluster.id} is {cluster.status}"
            )
        end_time, execution_deadline = wall_clock_deadlines(context, self.timeout, self.execution_timeout)
        if self.deferrable:
            self.defer(
                trigger=XplentyClusterTrigger(
                    cluster_id=cluster.id,
                    xplenty_conn_id=self.xplenty_conn_id,
                    poll_interval=self.poll_interval,
                    target_statuses=sorted(ClusterStatus.ready_states()),
                    failed_statuses=sorted(ClusterStatus.failed_states()),
                    end_time=end_time,
                    execution_deadline=execution_deadline,
                    history=history,
                    terminate_on_kill=self.terminate_on_failure,
                    hook_params=self.hook_params,
                    transient_error_timeout=self.transient_error_timeout,
                ),
                method_name="execute_complete",
                timeout=None,
            )
        event, _snap = wait_sync(
            hook=self.hook,
            kind="cluster",
            resource_id=cluster.id,
            target_statuses=ClusterStatus.ready_states(),
            failed_statuses=ClusterStatus.failed_states(),
            poll_interval=self.poll_interval,
            end_time=end_time,
            history=history,
            log=self.log,
            transient_error_timeout=self.transient_error_timeout,
        )
        return self._handle(context, event)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> int:
        """Resume after the trigger fired: validate the event; clean up on anything but success."""
        try:
            event = validate_event(event, kind="cluster", resource_id=self.cluster_id)
        except XplentyError:
            cluster_id = event.get("resource_id") if isinstance(event, dict) else None
            if isinstance(cluster_id, int) and self.terminate_on_failure:
                self.cluster_id = cluster_id
                self._cleanup("the trigger sent a malformed event")
            raise
        self.cluster_id = int(event["resource_id"])
        return self._handle(context, event)

    def _handle(self, context: Context, event: dict[str, Any]) -> int:
        cluster_id = int(event["resource_id"])
        history = list(event.get("history") or [])
        if event["status"] == "success":
            return self._succeed(context, cluster_id, history)
        return self._fail(
            context, cluster_id, history, str(event["message"]), timeout=event["status"] == "timeout"
        )

    def _succeed(self, context: Context, cluster_id: int, history: list[dict[str, Any]]) -> int:
        _push(context, STATUS_HISTORY_XCOM_KEY, history)
        self._settled = True
        self.log.info("Xplenty cluster %s is ready", cluster_id)
        return cluster_id

    def _fail(
        self,
        context: Context,
        cluster_id: int,
        history: list[dict[str, Any]],
        message: str,
        *,
        timeout: bool = False,
    ) -> int:
        _push(context, STATUS_HISTORY_XCOM_KEY, history)
        self.cluster_id = cluster_id
        cleaned = self._cleanup(message)
        suffix = f"; cluster {cluster_id} {cleaned}" if cleaned else ""
        if timeout:
            raise XplentyTimeoutError(f"{message}{suffix}")
        raise XplentyClusterFailedError(f"{message}{suffix}")

    def _cleanup(self, why: str) -> str:
        if not self.terminate_on_failure or self.cluster_id is None or self._settled:
            return ""
        self.log.warning("Terminating Xplenty cluster %s because %s", self.cluster_id, why)
        try:
            status = terminate_or_expire(self.hook, self.cluster_id, self.log)
        except Exception:
            self.log.exception("Could not terminate Xplenty cluster %s", self.cluster_id)
            return "could NOT be terminated (terminate it by hand)"
        self._settled = True  # clean up at most once
        if status in ClusterStatus.provisioning_states():
            return f"is {status}; set to terminate itself once idle"
        return f"was terminated ({status})"

    def on_kill(self) -> None:
        """Terminate the cluster when the task is killed (or times out) before the cluster was ready."""
        self._cleanup("the task was killed")


class XplentyTerminateClusterOperator(BaseOperator):
    """Terminate an Xplenty cluster; idempotent and safe as a teardown task.

    A cluster already terminating or terminated (or unknown, 404) is success. A cluster still
    ``pending``/``creating`` (which the API refuses to terminate) is waited on, then terminated.

    :param cluster_id: the cluster (templated).
    :param xplenty_conn_id: the Airflow connection (templated).
    :param wait_for_termination: wait until the cluster is ``terminated``.
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param poll_interval: seconds between two status checks.
    :param timeout: longest wait (seconds or timedelta), for provisioning and termination each.
    :param hook_params: extra keyword arguments for the hooks.
    :param transient_error_timeout: seconds of consecutive transient API errors tolerated while waiting.
    """

    template_fields: Sequence[str] = ("cluster_id", "xplenty_conn_id")
    operator_extra_links = (XplentyClusterLink(),)
    ui_color = "#ffe0e0"

    def __init__(
        self,
        *,
        cluster_id: int | str,
        xplenty_conn_id: str = "xplenty_default",
        wait_for_termination: bool = True,
        deferrable: bool = default_deferrable(),
        poll_interval: float = 30,
        timeout: float | timedelta | None = 3600,
        hook_params: dict[str, Any] | None = None,
        transient_error_timeout: float = 600.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if poll_interval <= 0:
            raise XplentyConfigError("poll_interval must be positive")
        self.cluster_id = cluster_id
        self.xplenty_conn_id = xplenty_conn_id
        self.wait_for_termination = wait_for_termination
        self.deferrable = deferrable
        self.poll_interval = float(poll_interval)
        self.timeout = timeout
        self.hook_params = dict(hook_params or {})
        self.transient_error_timeout = transient_error_timeout

    @cached_property
    def hook(self) -> XplentyHook:
        """The sync hook (built on first use)."""
        return XplentyHook(self.xplenty_conn_id, **self.hook_params)

    #: statuses in which DELETE is accepted or no longer needed
    _TERMINABLE = ("available", "idle", "error", "scaling", "pending_terminate", "terminating", "terminated")

    def execute(self, context: Context) -> str:
        """Terminate the cluster (waiting for provisioning to end first); return its final status."""
        cluster_id = _as_int(self.cluster_id, "cluster_id")
        try:
            cluster = self.hook.get_cluster(cluster_id)
        except XplentyApiError as error:
            if error.status_code == 404:
                self.log.info("Xplenty cluster %s does not exist; nothing to terminate", cluster_id)
                return "not_found"
            raise
        _push(context, HTML_URL_XCOM_KEY, cluster.html_url)
        history = [{"status": cluster.status, "at": utc_iso()}]
        if cluster.status in ClusterStatus.provisioning_states():
            self.log.info(
                "Xplenty cluster %s is %s; waiting until it can be terminated", cluster_id, cluster.status
            )
            return self._wait(context, cluster_id, history, self._TERMINABLE, "terminate_after_provisioning")
        return self._terminate(context, cluster_id, history)

    def _wait(
        self,
        context: Context,
        cluster_id: int,
        history: list[dict[str, Any]],
        targets: Sequence[str],
        next_step: str,
    ) -> str:
        end_time, execution_deadline = wall_clock_deadlines(context, self.timeout, self.execution_timeout)
        if self.deferrable:
            self.defer(
                trigger=XplentyClusterTrigger(
                    cluster_id=cluster_id,
                    xplenty_conn_id=self.xplenty_conn_id,
                    poll_interval=self.poll_interval,
                    target_statuses=list(targets),
                    failed_statuses=[],
                    end_time=end_time,
                    execution_deadline=execution_deadline,
                    history=history,
                    hook_params=self.hook_params,
                    transient_error_timeout=self.transient_error_timeout,
                ),
                method_name=next_step,
                timeout=None,
            )
        event, _snap = wait_sync(
            hook=self.hook,
            kind="cluster",
            resource_id=cluster_id,
            target_statuses=targets,
            failed_statuses=(),
            poll_interval=self.poll_interval,
            end_time=end_time,
            history=history,
            log=self.log,
            transient_error_timeout=self.transient_error_timeout,
        )
        return str(getattr(self, next_step)(context, event))

    def _checked(self, event: Any) -> dict[str, Any]:
        event = validate_event(event, kind="cluster", resource_id=_as_int(self.cluster_id, "cluster_id"))
        if event["status"] != "success":
            raise (
                XplentyTimeoutError(event["message"])
                if event["status"] == "timeout"
                else XplentyError(event["message"])
            )
        return event

    def terminate_after_provisioning(self, context: Context, event: dict[str, Any] | None = None) -> str:
        """Resume once the cluster left ``pending``/``creating``: terminate it."""
        event = self._checked(event)
        return self._terminate(context, int(event["resource_id"]), list(event.get("history") or []))

    def _terminate(self, context: Context, cluster_id: int, history: list[dict[str, Any]]) -> str:
        status = history[-1]["status"] if history else None
        if status not in ClusterStatus.terminating_states():
            try:
                cluster = self.hook.terminate_cluster(cluster_id)
                status = cluster.status
                self.log.info("Asked Xplenty to terminate cluster %s: %s", cluster_id, status)
            except XplentyApiError as error:
                if error.status_code == 404:
                    return "not_found"
                if error.status_code != 422:
                    raise
                cluster = self.hook.get_cluster(cluster_id)
                status = cluster.status
                if cluster.status in ClusterStatus.provisioning_states():
                    return self._wait(
                        context, cluster_id, history, self._TERMINABLE, "terminate_after_provisioning"
                    )
                if cluster.status not in ClusterStatus.terminating_states():
                    raise
            if status != history[-1]["status"]:
                history.append({"status": status, "at": utc_iso()})
        else:
            self.log.info("Xplenty cluster %s is already %s", cluster_id, status)
        _push(context, STATUS_HISTORY_XCOM_KEY, history)
        if not self.wait_for_termination or status == ClusterStatus.TERMINATED.value:
            return str(status)
        return self._wait(context, cluster_id, history, ["terminated"], "execute_complete")

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> str:
        """Resume once the cluster is ``terminated``."""
        event = self._checked(event)
        _push(context, STATUS_HISTORY_XCOM_KEY, list(event.get("history") or []))
        self.log.info("Xplenty cluster %s is terminated", event["resource_id"])
        return str(event["xplenty_status"])
