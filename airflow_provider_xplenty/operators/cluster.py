"""Operators that create and terminate Xplenty clusters."""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_xplenty._compat import BaseOperator, task_state_store
from airflow_provider_xplenty._waiting.events import utc_iso, validate_event
from airflow_provider_xplenty._waiting.task import (
    STATUS_HISTORY_XCOM_KEY,
    IdArg,
    XplentyTaskMixin,
    api_floor,
    as_int,
    dag_run_start,
    default_deferrable,
    push,
    try_number,
)
from airflow_provider_xplenty.exceptions import (
    XplentyClusterFailedError,
    XplentyError,
    XplentyNotFoundError,
    XplentyRejectedError,
    XplentyTimeoutError,
)
from airflow_provider_xplenty.links.xplenty import HTML_URL_XCOM_KEY, XplentyClusterLink
from airflow_provider_xplenty.models import ClusterStatus

if TYPE_CHECKING:
    from airflow_provider_xplenty._compat import Context
    from airflow_provider_xplenty.models import Cluster

CLUSTER_ID_XCOM_KEY = "cluster_id"
#: task_state_store key (Airflow 3.3+) holding the id of the cluster the task created.
CLUSTER_STORE_KEY = "xplenty_cluster_id"
#: How much older than the DAG run (on the API's clock) a cluster of this task instance may look when
#: a retry searches for it: only a cluster carrying this task instance's marker is adopted, so the
#: bound only limits the pages read, and it is generous for an API clock running slow.
CLUSTER_SEARCH_SLACK = timedelta(days=1)


def task_instance_digest(context: Context | dict[str, Any]) -> str | None:
    """A short hash of (dag_id, run_id, task_id, map_index): the same for every try of the task instance."""
    ti = context.get("ti")
    if ti is None:
        return None
    key = "|".join(str(getattr(ti, a, "")) for a in ("dag_id", "run_id", "task_id", "map_index"))
    return hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:12]


def cluster_marker(context: Context | dict[str, Any]) -> str | None:
    """The text put in the cluster ``description`` that says which task instance created it."""
    digest = task_instance_digest(context)
    return None if digest is None else f"[airflow:{digest}]"


def default_cluster_name(context: Context | dict[str, Any]) -> str | None:
    """A cluster name that is the same for every try of one task instance (``None`` without one)."""
    digest = task_instance_digest(context)
    if digest is None:
        return None
    task = re.sub(r"[^A-Za-z0-9_-]+", "-", str(getattr(context.get("ti"), "task_id", "task")))[:40]
    return f"airflow-{task}-{digest}"


class XplentyCreateClusterOperator(XplentyTaskMixin, BaseOperator):
    """Create an Xplenty cluster and (by default) wait until it can run jobs; return its id.

    The cluster id and ``html_url`` go to XCom (``cluster_id``, ``html_url``) as soon as the cluster
    exists. If the task fails after creating the cluster (provisioning ``error``, timeout, kill),
    the cluster is terminated (or, while still provisioning, set to terminate itself once idle).
    A retry adopts the cluster an earlier try created (the id in ``task_state_store`` on Airflow 3.3,
    else the cluster named ``name`` whose description carries this task instance's marker
    ``[airflow:<hash>]``) instead of creating a second one; one in ``error`` is terminated and replaced.
    A same-named cluster of another DAG run (or task) is never adopted.

    :param nodes: number of nodes (production: 2 or more; sandbox: 1) (templated).
    :param cluster_type: ``production`` or ``sandbox`` (templated).
    :param name: cluster name (templated); default: ``airflow-<task_id>-<hash>``, the same for every
        try of the task instance. Give a name unique per DAG run (e.g. with ``{{ run_id }}``).
    :param description: cluster description (templated); `` [airflow:<hash>]`` is appended (the
        task instance's marker, by which a retry recognises its cluster).
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
        self._init_waiting(
            xplenty_conn_id, deferrable, poll_interval, timeout, hook_params, transient_error_timeout
        )
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
        self.wait_for_available = wait_for_available
        self.terminate_on_failure = terminate_on_failure
        self.cluster_id: int | None = None
        self._settled = False

    def execute(self, context: Context) -> int:
        """Create the cluster (or adopt an earlier try's), push its id and link, and wait for it."""
        name = self.name or default_cluster_name(context)
        marker = cluster_marker(context)
        cluster = self._adopt(context, name, marker) if try_number(context) > 1 else None
        if cluster is None:
            description = " ".join(p for p in (str(self.description or "").strip(), marker) if p) or None
            cluster = self.hook.create_cluster(
                nodes=None if self.nodes in (None, "") else as_int(self.nodes, "nodes"),
                type=self.cluster_type,
                name=name,
                description=description,
                terminate_on_idle=self.terminate_on_idle,
                time_to_idle=self.time_to_idle,
                region=self.region,
                zone=self.zone,
                stack=self.stack,
                **dict(self.cluster_params or {}),
            )
            store = task_state_store(context)
            if store is not None:
                store.set(CLUSTER_STORE_KEY, cluster.id)
            self.log.info("Created Xplenty cluster %s (%s): %s", cluster.id, cluster.status, cluster.html_url)
        self.cluster_id = cluster.id
        push(context, CLUSTER_ID_XCOM_KEY, cluster.id)
        push(context, HTML_URL_XCOM_KEY, cluster.html_url)
        history = [{"status": cluster.status, "at": utc_iso()}]
        if not self.wait_for_available:
            push(context, STATUS_HISTORY_XCOM_KEY, history)
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
        event = self._wait_or_defer(
            context,
            kind="cluster",
            resource_id=cluster.id,
            target_statuses=ClusterStatus.ready_states(),
            failed_statuses=ClusterStatus.failed_states(),
            history=history,
            poll_interval=self.poll_interval,
            trigger_extra={"terminate_on_kill": self.terminate_on_failure},
        )
        return self._handle(context, event)

    def _adopt(self, context: Context, name: str | None, marker: str | None) -> Cluster | None:
        """Return the cluster an earlier try of this task instance created, if a retry may use it.

        The id kept in ``task_state_store`` (Airflow 3.3), else the newest cluster named ``name`` whose
        description carries ``marker``. A cluster in ``error`` is terminated (a fresh one is then
        created); one going away is ignored; an active one gets this task's idle settings back (a
        failed try may have set it to expire) and is waited on.
        """
        found: Cluster | None = None
        store = task_state_store(context)
        stored = store.get(CLUSTER_STORE_KEY) if store is not None else None
        if stored is not None:
            with contextlib.suppress(XplentyNotFoundError):  # gone: nothing to adopt
                found = self.hook.get_cluster(as_int(stored, "stored cluster id"))
        elif name and marker:
            found = self._find_by_marker(context, name, marker)
        if found is None:
            return None
        if found.status == ClusterStatus.ERROR.value:
            self.log.warning("Xplenty cluster %s of an earlier try is in error; terminating it", found.id)
            self.hook.terminate_cluster_or_expire(found.id)
            return None
        if found.status not in ClusterStatus.active_states():
            return None
        self.log.info("Adopting Xplenty cluster %s (%s) created by an earlier try", found.id, found.status)
        if (found.terminate_on_idle, found.time_to_idle) != (self.terminate_on_idle, self.time_to_idle):
            found = self.hook.update_cluster(
                found.id, terminate_on_idle=self.terminate_on_idle, time_to_idle=self.time_to_idle
            )
        return found

    def _find_by_marker(self, context: Context, name: str, marker: str) -> Cluster | None:
        """The newest cluster named ``name`` carrying ``marker``, not going away.

        Ownership comes from the marker, not from times: API and Airflow clocks are never compared
        for a match; the DAG run's start (moved to the API's clock, less a generous slack) only says
        where to stop reading pages.
        """
        since = dag_run_start(context)
        if since is None:
            return None
        floor = api_floor(self.hook, since) - CLUSTER_SEARCH_SLACK
        for cluster in self.hook.list_clusters(sort="created", direction="desc"):
            if cluster.created_at is not None and cluster.created_at < floor:
                break
            if (
                cluster.name == name
                and marker in str(cluster.description or "")
                and cluster.status not in ClusterStatus.terminating_states()
            ):
                return cluster
        return None

    def execute_complete(
        self, context: Context, event: dict[str, Any] | None = None, cluster_id: int | None = None
    ) -> int:
        """Resume after the trigger fired: validate the event; clean up on anything but success.

        :param cluster_id: the cluster the task deferred on (from ``defer(kwargs=...)``).
        """
        if cluster_id is not None:
            self.cluster_id = cluster_id
        try:
            event = validate_event(event, kind="cluster", resource_id=self.cluster_id)
        except XplentyError:
            if self.cluster_id is None and isinstance(event, dict):
                event_id = event.get("resource_id")
                self.cluster_id = event_id if isinstance(event_id, int) else None
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
        push(context, STATUS_HISTORY_XCOM_KEY, history)
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
        push(context, STATUS_HISTORY_XCOM_KEY, history)
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
            status = self.hook.terminate_cluster_or_expire(self.cluster_id)
        except Exception:
            self.log.exception("Could not terminate Xplenty cluster %s", self.cluster_id)
            return "could NOT be terminated (terminate it by hand)"
        self._settled = True  # clean up at most once
        if status in ClusterStatus.not_yet_terminable_states():
            return f"is {status}; set to terminate itself once idle"
        return f"was terminated ({status})"

    def on_kill(self) -> None:
        """Terminate the cluster when the task is killed (or times out) before the cluster was ready."""
        self._cleanup("the task was killed")


class XplentyTerminateClusterOperator(XplentyTaskMixin, BaseOperator):
    """Terminate an Xplenty cluster; idempotent and safe as a teardown task.

    A cluster already terminating or terminated (or unknown, 404) is success. A cluster still
    ``pending``/``creating`` or ``scaling`` (which the API refuses to terminate) is waited on, then
    terminated; a ``422`` on ``DELETE`` is resolved by reading the cluster again.

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
        cluster_id: IdArg,
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
        self._init_waiting(
            xplenty_conn_id, deferrable, poll_interval, timeout, hook_params, transient_error_timeout
        )
        self.cluster_id = cluster_id
        self.wait_for_termination = wait_for_termination

    def execute(self, context: Context) -> str:
        """Terminate the cluster (after provisioning or scaling ends); return its final status."""
        cluster_id = as_int(self.cluster_id, "cluster_id")
        try:
            cluster = self.hook.get_cluster(cluster_id)
        except XplentyNotFoundError:
            self.log.info("Xplenty cluster %s does not exist; nothing to terminate", cluster_id)
            return "not_found"
        push(context, HTML_URL_XCOM_KEY, cluster.html_url)
        history = [{"status": cluster.status, "at": utc_iso()}]
        if cluster.status in ClusterStatus.not_yet_terminable_states():
            return self._wait_until_terminable(context, cluster_id, history, cluster.status)
        return self._terminate(context, cluster_id, history)

    def _wait_until_terminable(
        self, context: Context, cluster_id: int, history: list[dict[str, Any]], status: str
    ) -> str:
        self.log.info("Xplenty cluster %s is %s; waiting until it can be terminated", cluster_id, status)
        try:
            return self._wait(
                context,
                cluster_id,
                history,
                sorted(ClusterStatus.terminable_states()),
                "terminate_after_provisioning",
            )
        except Exception:
            # TaskDeferred is a BaseException and passes through; a timeout or error here must not
            # leave the cluster running: set it to terminate itself (the resumed path does the same).
            self._expire(cluster_id)
            raise

    def _expire(self, cluster_id: int) -> None:
        """Terminate the cluster now, or make it terminate itself once idle (at most once per try)."""
        if getattr(self, "_expired", False):
            return
        self._expired = True
        try:
            status = self.hook.terminate_cluster_or_expire(cluster_id)
            self.log.warning("Gave up waiting for Xplenty cluster %s; it is now %s", cluster_id, status)
        except Exception:
            self.log.exception("Could not terminate Xplenty cluster %s (terminate it by hand)", cluster_id)

    def _wait(
        self,
        context: Context,
        cluster_id: int,
        history: list[dict[str, Any]],
        targets: Sequence[str],
        next_step: str,
    ) -> str:
        event = self._wait_or_defer(
            context,
            kind="cluster",
            resource_id=cluster_id,
            target_statuses=targets,
            failed_statuses=(),
            history=history,
            poll_interval=self.poll_interval,
            method_name=next_step,
        )
        return str(getattr(self, next_step)(context, event, cluster_id=cluster_id))

    def _checked(self, event: Any, cluster_id: int | None) -> dict[str, Any]:
        expected = cluster_id if cluster_id is not None else as_int(self.cluster_id, "cluster_id")
        event = validate_event(event, kind="cluster", resource_id=expected)
        if event["status"] != "success":
            raise (
                XplentyTimeoutError(event["message"])
                if event["status"] == "timeout"
                else XplentyError(event["message"])
            )
        return event

    def terminate_after_provisioning(
        self, context: Context, event: dict[str, Any] | None = None, cluster_id: int | None = None
    ) -> str:
        """Resume once the cluster left ``pending``/``creating``/``scaling``: terminate it.

        On a timeout or error instead, the cluster is set to terminate itself once idle, then the task fails.
        """
        try:
            event = self._checked(event, cluster_id)
        except XplentyError:
            self._expire(cluster_id if cluster_id is not None else as_int(self.cluster_id, "cluster_id"))
            raise
        return self._terminate(context, int(event["resource_id"]), list(event.get("history") or []))

    def _terminate(self, context: Context, cluster_id: int, history: list[dict[str, Any]]) -> str:
        status = history[-1]["status"] if history else None
        if status in ClusterStatus.terminating_states():
            self.log.info("Xplenty cluster %s is already %s", cluster_id, status)
        else:
            try:
                status = self.hook.terminate_cluster(cluster_id).status
                self.log.info("Asked Xplenty to terminate cluster %s: %s", cluster_id, status)
            except XplentyNotFoundError:
                return "not_found"
            except XplentyRejectedError as error:
                # Refused: read the cluster again. Gone or going: done. Provisioning/scaling: wait, retry.
                status = self.hook.get_cluster(cluster_id).status
                self.log.info("Xplenty refused to terminate cluster %s (%s): %s", cluster_id, status, error)
                if status in ClusterStatus.not_yet_terminable_states():
                    history.append({"status": status, "at": utc_iso()})
                    return self._wait_until_terminable(context, cluster_id, history, status)
                if status not in ClusterStatus.terminating_states():
                    raise
            if not history or status != history[-1]["status"]:
                history.append({"status": status, "at": utc_iso()})
        push(context, STATUS_HISTORY_XCOM_KEY, history)
        if not self.wait_for_termination or status == ClusterStatus.TERMINATED.value:
            return str(status)
        return self._wait(
            context, cluster_id, history, sorted(ClusterStatus.terminal_states()), "execute_complete"
        )

    def execute_complete(
        self, context: Context, event: dict[str, Any] | None = None, cluster_id: int | None = None
    ) -> str:
        """Resume once the cluster is ``terminated``."""
        event = self._checked(event, cluster_id)
        push(context, STATUS_HISTORY_XCOM_KEY, list(event.get("history") or []))
        self.log.info("Xplenty cluster %s is terminated", event["resource_id"])
        return str(event["xplenty_status"])
