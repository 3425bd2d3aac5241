"""Operators that create and terminate Xplenty clusters.

Longer than most modules: each operator carries its whole lifecycle (blocking and deferred paths,
retry adoption, clean-up after failure, teardown by run marker), and both live at their documented
import path. The marker rules are in ``_ownership.py``; the API flows in the hook.
"""

from __future__ import annotations

import contextlib
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
    as_flag,
    as_int,
    dag_run_start,
    default_deferrable,
    known_at_parse,
    no_id,
    positive_int,
    push,
    try_number,
)
from airflow_provider_xplenty.exceptions import (
    XplentyApiError,
    XplentyClusterFailedError,
    XplentyConfigError,
    XplentyError,
    XplentyNotFoundError,
    XplentyRejectedError,
    XplentyTimeoutError,
)
from airflow_provider_xplenty.links.xplenty import HTML_URL_XCOM_KEY, XplentyClusterLink
from airflow_provider_xplenty.models import ClusterStatus
from airflow_provider_xplenty.operators._ownership import (
    CLUSTER_SEARCH_SLACK,
    cluster_marker,
    clusters_created_since,
    context_run,
    expire,
    live_run_clusters,
    marked_description,
    run_marker,
    run_marker_of,
    task_instance_digest,
)

if TYPE_CHECKING:
    from airflow_provider_xplenty._compat import Context
    from airflow_provider_xplenty.models import Cluster

__all__ = [
    "CLUSTER_IDS_XCOM_KEY",
    "CLUSTER_ID_XCOM_KEY",
    "CLUSTER_NAME_XCOM_KEY",
    "XplentyCreateClusterOperator",
    "XplentyTerminateClusterOperator",
    "cluster_marker",
    "default_cluster_name",
    "run_marker",
    "task_instance_digest",
]

CLUSTER_ID_XCOM_KEY = "cluster_id"
#: XCom key of the name the create task gives its cluster (pushed before the create call).
CLUSTER_NAME_XCOM_KEY = "cluster_name"
#: XCom key of every cluster id a terminate task without ``cluster_id`` acted on.
CLUSTER_IDS_XCOM_KEY = "cluster_ids"
#: task_state_store key (Airflow 3.3+) holding the id of the cluster the task created.
CLUSTER_STORE_KEY = "xplenty_cluster_id"
#: The values of ``cluster_type`` the API accepts.
CLUSTER_TYPES = ("production", "sandbox")


def checked_cluster_type(value: Any) -> str:
    """Return ``cluster_type`` when the API accepts it, else raise naming it (and the lowercase fix)."""
    if value in CLUSTER_TYPES:
        return str(value)
    fixed = str(value).strip().lower()
    hint = f"; use lowercase: {fixed!r}" if fixed in CLUSTER_TYPES else ""
    raise XplentyConfigError(f"cluster_type must be 'production' or 'sandbox', got {value!r}{hint}")


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

    The description also gets `` [airflow-run:<dag_id>/<run_id>]``, the DAG run's marker, by which a
    terminate task without a cluster id and the sweep (``XplentySweepClustersOperator``) find the
    cluster when its id was never learned (e.g. the create call's response was lost).
    ``nodes``, ``cluster_type`` and ``time_to_idle`` are checked when the DAG is parsed (when templated:
    once rendered, before any request).

    :param nodes: number of nodes (production: 2 or more; sandbox: 1) (templated).
    :param cluster_type: ``production`` or ``sandbox`` (templated).
    :param name: cluster name (templated); default: ``airflow-<task_id>-<hash>``, the same for every
        try of the task instance. Give a name unique per DAG run (e.g. with ``{{ run_id }}``).
    :param description: cluster description (templated); `` [airflow:<hash>]`` is appended (the
        task instance's marker, by which a retry recognises its cluster), then the DAG run's marker.
    :param owned_by_run: the cluster belongs to the DAG run (templated; ``True``/``False``): a teardown
        without a cluster id and the sweep terminate it once the run has ended. ``False`` leaves out the
        run's marker, for a cluster meant to outlive its run.
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
        "owned_by_run",
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
        time_to_idle: int | None = 3600,
        region: str | None = None,
        zone: str | None = None,
        stack: str | None = None,
        cluster_params: dict[str, Any] | None = None,
        owned_by_run: bool | str = True,
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
        # what is known now is checked now; templated values once rendered (_create_fields)
        if known_at_parse(nodes) and nodes not in (None, ""):
            positive_int(nodes, "nodes")
        if known_at_parse(cluster_type):
            checked_cluster_type(cluster_type)
        if known_at_parse(owned_by_run):
            as_flag(owned_by_run, "owned_by_run")
        self.nodes = nodes
        self.cluster_type = cluster_type
        self.name = name
        self.description = description
        self.terminate_on_idle = terminate_on_idle
        self.time_to_idle = None if time_to_idle is None else positive_int(time_to_idle, "time_to_idle")
        self.owned_by_run = owned_by_run
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
        fields = self._create_fields(context, name)  # rendered values checked before any request
        push(context, CLUSTER_NAME_XCOM_KEY, name)
        cluster = self._adopt(context, name, marker) if try_number(context) > 1 else None
        if cluster is None:
            try:
                cluster = self.hook.create_cluster(**fields)
            except XplentyError as error:
                self._after_failed_create(context, name, marker, error)
                raise
            self.log.info("Created Xplenty cluster %s (%s): %s", cluster.id, cluster.status, cluster.html_url)
        self.cluster_id = cluster.id  # from here on, a failure cleans it up
        history = [{"status": cluster.status, "at": utc_iso()}]
        try:
            self._remember(context, cluster)
            push(context, HTML_URL_XCOM_KEY, cluster.html_url)
            if not self.wait_for_available:
                push(context, STATUS_HISTORY_XCOM_KEY, history)
                self._settled = True
                return cluster.id
            return self._wait(context, cluster, history)
        except Exception:
            # TaskDeferred is a BaseException and passes through; API and wait errors clean up.
            self._cleanup("the task failed while waiting for it")
            raise

    def _create_fields(self, context: Context, name: str | None) -> dict[str, Any]:
        """The create call's arguments, the rendered ones checked (an error names the argument)."""
        owned = as_flag(self.owned_by_run, "owned_by_run")
        return {
            "nodes": None if self.nodes in (None, "") else positive_int(self.nodes, "nodes"),
            "type": checked_cluster_type(self.cluster_type),
            "name": name,
            "description": marked_description(self.description, context, owned_by_run=owned),
            "terminate_on_idle": self.terminate_on_idle,
            "time_to_idle": self.time_to_idle,
            "region": self.region,
            "zone": self.zone,
            "stack": self.stack,
            **dict(self.cluster_params or {}),
        }

    def _remember(self, context: Context, cluster: Cluster) -> None:
        """Record the cluster id durably the moment it is known: task_state_store (3.3) and XCom."""
        self.cluster_id = cluster.id
        store = task_state_store(context)
        if store is not None:
            store.set(CLUSTER_STORE_KEY, cluster.id)
        push(context, CLUSTER_ID_XCOM_KEY, cluster.id)

    def _after_failed_create(
        self, context: Context, name: str | None, marker: str | None, error: XplentyError
    ) -> None:
        """The create call failed: if it may have created the cluster anyway, find it and clean it up.

        A lost response whose look-up also failed (e.g. the API answers 429 from then on) leaves a
        cluster whose id the hook never learned. It carries this task instance's and this run's
        markers: found here when the API answers again, else by the teardown (no cluster id) or the sweep.
        """
        code = error.status_code if isinstance(error, XplentyApiError) else None
        if code is not None and 400 <= code < 500 and code != 429:
            return  # refused: nothing was created
        if not (self.terminate_on_failure and name and marker):
            return
        try:
            found = self._find_by_marker(context, name, marker)
        except Exception as lookup_error:
            run = context_run(context)
            self.log.warning(
                "The create call may have made cluster %r (its outcome is unknown: %s) and looking for it "
                "failed too (%s). It carries %s in its description: a terminate task without cluster_id, "
                "or the sweep once this DAG run has ended, terminates it.",
                name,
                error,
                lookup_error,
                run_marker_of(*run) if run else marker,
            )
            return
        if found is not None:
            self._remember(context, found)
            self._cleanup(f"the create call failed ({error})")

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
        for cluster in clusters_created_since(self.hook, floor):
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
            if expire(self.hook, self.cluster_id, self.log):
                self._settled = True
                return "could not be terminated; set to terminate itself once idle"
            return "could NOT be terminated (the teardown or the sweep may; else terminate it by hand)"
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

    Without a cluster id (``cluster_id`` renders ``None``, ``""`` or ``"None"``, e.g. read from a create
    task that failed before it learned one), every live cluster carrying this DAG run's marker
    ``[airflow-run:...]`` is terminated: the newest as if its id had been given, any others at once
    (or, still provisioning, set to terminate themselves once idle). None found is success
    (``"not_found"``). The ids go to XCom (``cluster_id``: the newest, ``cluster_ids``: all).

    :param cluster_id: the cluster (templated); empty: this DAG run's clusters.
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
        cluster_id: IdArg | None = None,
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
        if no_id(self.cluster_id):
            return self._terminate_run_clusters(context)
        cluster_id = as_int(self.cluster_id, "cluster_id")
        push(context, CLUSTER_ID_XCOM_KEY, cluster_id)
        return self._terminate_one(context, cluster_id)

    def _terminate_run_clusters(self, context: Context) -> str:
        """Terminate every live cluster carrying this DAG run's marker (no ``cluster_id`` was given)."""
        run, since = context_run(context), dag_run_start(context)
        if run is None or since is None:
            raise XplentyConfigError(
                "cluster_id is empty, and without a DAG run there is no marker to find clusters by"
            )
        marker = run_marker_of(*run)
        clusters = live_run_clusters(self.hook, *run, since)
        if not clusters:
            self.log.info(
                "No cluster id, and no live cluster carries this run's marker %s: nothing to terminate",
                marker,
            )
            return "not_found"
        newest, *others = clusters
        self.log.info(
            "No cluster id: terminating this run's clusters (marker %s): %s",
            marker,
            ", ".join(f"{c.id} {c.name!r} ({c.status})" for c in clusters),
        )
        push(context, CLUSTER_ID_XCOM_KEY, newest.id)
        push(context, CLUSTER_IDS_XCOM_KEY, [c.id for c in clusters])
        for cluster in others:
            self._expire(cluster.id, why="an older cluster of this run")
        return self._terminate_one(context, newest.id)

    def _terminate_one(self, context: Context, cluster_id: int) -> str:
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

    def _expire(self, cluster_id: int, why: str = "gave up waiting for it") -> None:
        """Terminate the cluster now, or make it terminate itself once idle (once per cluster and try)."""
        done: set[int] = self.__dict__.setdefault("_expired_ids", set())
        if cluster_id in done:
            return
        done.add(cluster_id)
        try:
            status = self.hook.terminate_cluster_or_expire(cluster_id)
            self.log.warning("Xplenty cluster %s (%s) is now %s", cluster_id, why, status)
        except Exception:
            self.log.exception("Could not terminate Xplenty cluster %s", cluster_id)
            if not expire(self.hook, cluster_id, self.log):
                self.log.error(
                    "Xplenty cluster %s may still be up: the sweep or a user must terminate it", cluster_id
                )

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

    def _resumed_id(self, event: Any, cluster_id: int | None) -> int | None:
        """The cluster a resumed task waited on: the ``defer`` kwarg, else the argument, else the event's.

        Without a ``cluster_id`` argument (this run's clusters, found by marker) and without the kwarg
        (``dag.test()`` drops defer kwargs), only the event names it.
        """
        if cluster_id is not None:
            return cluster_id
        if not no_id(self.cluster_id):
            return as_int(self.cluster_id, "cluster_id")
        event_id = event.get("resource_id") if isinstance(event, dict) else None
        return event_id if isinstance(event_id, int) else None

    def _checked(self, event: Any, cluster_id: int | None) -> dict[str, Any]:
        expected = cluster_id if cluster_id is not None else self._resumed_id(None, None)
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
            resumed = self._resumed_id(event, cluster_id)
            if resumed is not None:
                self._expire(resumed)
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
