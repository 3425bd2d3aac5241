"""Cluster operators through real Airflow (dag.test) and the emulator: create, no leak, terminate."""

from __future__ import annotations

import asyncio
import threading

import pytest
from _airflow_compat import operator_link_url
from xplenty_dagtest import HOOK, POLL, fail_status_reads, new_dag, run_dag, states, try_numbers, when, xcom

from airflow_provider_xplenty.exceptions import XplentyRejectedError
from airflow_provider_xplenty.models import Cluster
from airflow_provider_xplenty.operators.cluster import (
    XplentyCreateClusterOperator,
    XplentyTerminateClusterOperator,
)

pytestmark = pytest.mark.usefixtures("airflow_db")

FAST_CLUSTERS = {"cluster_pending": 0.2, "cluster_creating": 0.6, "cluster_terminating": 0.4}
GONE = {"pending_terminate", "terminating", "terminated"}
MODES = pytest.mark.parametrize("deferrable", [False, True], ids=["blocking", "deferrable"])


@pytest.fixture()
def emu(xplenty_emulator):
    xplenty_emulator.set_speed(1.0, durations=FAST_CLUSTERS)
    return xplenty_emulator


def create_task(**kwargs):
    params = {
        "task_id": "create",
        "nodes": 2,
        "name": "etl-{{ run_id[:6] }}",
        "poll_interval": POLL,
        "hook_params": HOOK,
    }
    params.update(kwargs)
    return XplentyCreateClusterOperator(**params)


@MODES
def test_create_cluster_waits_until_available(emu, register_dag, deferrable):
    with new_dag("create_ok") as dag:
        create_task(deferrable=deferrable, time_to_idle=1800)
    dr = run_dag(dag, register_dag)
    assert states(dr) == {"create": "success"}
    (cluster,) = emu.clusters()
    assert cluster["status"] in ("available", "idle")
    assert cluster["name"].startswith("etl-manual")
    assert cluster["terminate_on_idle"] is True and cluster["time_to_idle"] == 1800
    assert xcom(dr, "create") == cluster["id"]
    assert xcom(dr, "create", "cluster_id") == cluster["id"]
    assert xcom(dr, "create", "html_url") == cluster["html_url"]
    assert operator_link_url(dag, dr, "create") == cluster["html_url"]
    history = [h["status"] for h in xcom(dr, "create", "status_history")]
    assert history[0] == "pending" and history[-1] == "available"


@MODES
def test_provisioning_error_fails_task_and_terminates_cluster(emu, register_dag, deferrable):
    emu.add_fault(kind="cluster_failure", message="Could not allocate nodes")
    with new_dag("create_err") as dag:
        create_task(deferrable=deferrable)
    dr = run_dag(dag, register_dag)
    assert states(dr) == {"create": "failed"}
    (cluster,) = emu.clusters()
    assert cluster["status"] in GONE
    assert "error" in [h["status"] for h in cluster["history"]]


@MODES
def test_timeout_while_creating_leaves_no_cluster_behind(emu, register_dag, deferrable):
    """Still provisioning (cannot be deleted yet): the cluster is set to terminate itself once idle."""
    emu.set_speed(1.0, durations={**FAST_CLUSTERS, "cluster_creating": 60})
    with new_dag("create_timeout") as dag:
        create_task(deferrable=deferrable, timeout=0.5, terminate_on_idle=False)
    dr = run_dag(dag, register_dag)
    assert states(dr) == {"create": "failed"}
    (cluster,) = emu.clusters()
    assert cluster["status"] in ("pending", "creating")
    assert cluster["terminate_on_idle"] is True
    assert cluster["time_to_idle"] == 60
    emu.advance(60)  # provisioning ends: available, then idle after 60 s, then it terminates itself
    emu.advance(61)
    emu.advance(30)
    (cluster,) = emu.clusters()
    assert cluster["status"] == "terminated", cluster["history"]


@MODES
def test_terminate_waits_for_a_creating_cluster_then_terminates(emu, register_dag, deferrable):
    from airflow_provider_xplenty.hooks.xplenty import XplentyHook

    cluster = XplentyHook().create_cluster(nodes=2)
    assert cluster.status == "pending"
    with new_dag("terminate_creating") as dag:
        XplentyTerminateClusterOperator(
            task_id="terminate", cluster_id=cluster.id, deferrable=deferrable, poll_interval=POLL
        )
    dr = run_dag(dag, register_dag)
    assert states(dr) == {"terminate": "success"}
    (state,) = emu.clusters()
    assert state["status"] == "terminated"
    assert xcom(dr, "terminate") == "terminated"
    assert operator_link_url(dag, dr, "terminate") == state["html_url"]


@MODES
def test_terminate_twice_and_unknown_cluster_succeed(emu, register_dag, deferrable):
    emu.set_speed(1.0, durations={**FAST_CLUSTERS, "cluster_pending": 0, "cluster_creating": 0})
    with new_dag("terminate_twice") as dag:
        create = create_task(deferrable=deferrable)
        first = XplentyTerminateClusterOperator(
            task_id="first", cluster_id=create.output, deferrable=deferrable, poll_interval=POLL
        )
        second = XplentyTerminateClusterOperator(
            task_id="second",
            cluster_id="{{ ti.xcom_pull('create') }}",
            deferrable=deferrable,
            poll_interval=POLL,
        )
        unknown = XplentyTerminateClusterOperator(task_id="unknown", cluster_id=999999, poll_interval=POLL)
        create >> first >> second >> unknown
    dr = run_dag(dag, register_dag)
    assert states(dr) == {"create": "success", "first": "success", "second": "success", "unknown": "success"}
    (cluster,) = emu.clusters()
    assert cluster["status"] == "terminated"
    assert xcom(dr, "second") == "terminated"
    assert xcom(dr, "unknown") == "not_found"


def test_teardown_terminates_cluster_when_the_job_fails(emu, register_dag):
    from airflow_provider_xplenty.operators.job import XplentyRunJobOperator

    emu.set_speed(1.0, durations={**FAST_CLUSTERS, "job_idle": 0.1, "job_pending": 0.1, "job_running": 0.3})
    emu.add_fault(kind="job_failure", package_id=101, message="bad data")
    with new_dag("teardown") as dag:
        create = create_task()
        run = XplentyRunJobOperator(
            task_id="run_job", cluster_id=create.output, package_id=101, poll_interval=POLL
        )
        terminate = XplentyTerminateClusterOperator(
            task_id="terminate", cluster_id=create.output, poll_interval=POLL
        )
        create >> run >> terminate.as_teardown(setups=create)
    dr = run_dag(dag, register_dag)
    assert states(dr) == {"create": "success", "run_job": "failed", "terminate": "success"}
    assert str(dr.state) in ("failed", "DagRunState.FAILED")
    (cluster,) = emu.clusters()
    assert cluster["status"] == "terminated"


@MODES
def test_kill_while_waiting_for_the_cluster_leaves_no_cluster_behind(emu, deferrable):
    """Kill a create that is really waiting: worker on_kill (blocking) or the trigger's on_kill (deferred)."""
    from _airflow_compat import TaskDeferred

    emu.set_speed(1.0, durations={**FAST_CLUSTERS, "cluster_creating": 60})
    op = create_task(deferrable=deferrable, terminate_on_idle=False, timeout=3)
    if deferrable:
        with pytest.raises(TaskDeferred) as deferred:
            op.execute(context={})
        trigger = deferred.value.trigger

        async def run_then_kill():
            waiting = asyncio.ensure_future(trigger.run().__anext__())
            await asyncio.sleep(0.5)
            assert not waiting.done()
            waiting.cancel()
            await trigger.on_kill()  # what Airflow 3.3 calls when a user kills the deferred task

        asyncio.run(run_then_kill())
    else:
        outcome: list[BaseException] = []
        worker = threading.Thread(target=lambda: _run(op, outcome), daemon=True)
        worker.start()
        watch = when(lambda: any(c["status"] == "creating" for c in emu.clusters()), lambda: None)
        watch.check()
        assert worker.is_alive()
        op.on_kill()  # what the task runner calls on a kill or execution_timeout
    (cluster,) = emu.clusters()
    assert cluster["status"] in ("pending", "creating")
    assert cluster["terminate_on_idle"] is True and cluster["time_to_idle"] == 60
    if not deferrable:  # a killed worker stops there; here the thread goes on until its timeout
        worker.join(10)
        assert not worker.is_alive() and outcome, outcome
    emu.advance(60)
    emu.advance(61)
    emu.advance(30)
    (cluster,) = emu.clusters()
    assert cluster["status"] == "terminated", cluster["history"]


def _run(op, outcome):
    try:
        op.execute(context={})
    except BaseException as error:
        outcome.append(error)


@MODES
def test_retry_after_a_failure_while_waiting_adopts_the_cluster(emu, register_dag, deferrable):
    """Try 1 fails while the cluster provisions; the retry waits on that cluster: one cluster total."""
    emu.set_speed(1.0, durations={**FAST_CLUSTERS, "cluster_creating": 2.5})

    def creating():
        return [c["id"] for c in emu.clusters() if c["status"] == "creating"]

    watch = when(lambda: bool(creating()), lambda: fail_status_reads(emu, "clusters"))
    with new_dag("create_retry", retries=1) as dag:
        create_task(deferrable=deferrable, transient_error_timeout=0, time_to_idle=1800, name=None)
    dr = run_dag(dag, register_dag)
    watch.check()
    assert states(dr) == {"create": "success"}
    assert try_numbers(dr) == {"create": 2}
    (cluster,) = emu.clusters()
    assert cluster["status"] in ("available", "idle")
    assert cluster["name"].startswith("airflow-create-")
    # try 1's clean-up set it to expire; the adopting retry gave it the task's settings back
    assert cluster["terminate_on_idle"] is True and cluster["time_to_idle"] == 1800
    assert xcom(dr, "create") == cluster["id"]


def test_retry_replaces_a_cluster_left_in_error(emu, register_dag):
    emu.add_fault(kind="cluster_failure", message="no capacity", count=1)
    with new_dag("create_retry_error", retries=1) as dag:
        create_task(terminate_on_failure=False)
    dr = run_dag(dag, register_dag)
    assert states(dr) == {"create": "success"}
    first, second = sorted(emu.clusters(), key=lambda c: c["id"])
    assert first["status"] in GONE and "error" in [h["status"] for h in first["history"]]
    assert second["status"] in ("available", "idle")
    assert xcom(dr, "create") == second["id"]


class ScriptedClusterApi:
    """A cluster whose status follows a script (one step per GET); DELETE only from available/idle/error."""

    def __init__(self, *script):
        self.script = list(script)
        self.status = self.script.pop(0)
        self.deletes: list[str] = []

    def _cluster(self, status):
        return Cluster(id=7, status=status, html_url="https://app.xplenty.com/clusters/7")

    def get_cluster(self, cluster_id):
        seen = self.status
        if self.script:
            self.status = self.script.pop(0)
        return self._cluster(seen)

    def terminate_cluster(self, cluster_id):
        self.deletes.append(self.status)
        if self.status not in ("available", "idle", "error"):
            raise XplentyRejectedError(422, f"Cluster 7 is {self.status} and cannot be terminated now.")
        self.status, self.script = "pending_terminate", []
        return self._cluster("pending_terminate")


def terminate_with(api):
    op = XplentyTerminateClusterOperator(
        task_id="terminate", cluster_id=7, poll_interval=0.01, wait_for_termination=False
    )
    op.__dict__["hook"] = api
    return op.execute(context={})


def test_terminate_waits_for_a_scaling_cluster():
    api = ScriptedClusterApi("scaling", "scaling", "scaling", "available")
    assert terminate_with(api) == "pending_terminate"
    assert api.deletes == ["available"]


def test_terminate_refused_while_the_cluster_starts_scaling_waits_and_retries():
    api = ScriptedClusterApi("available", "scaling", "scaling", "available")
    assert terminate_with(api) == "pending_terminate"
    assert api.deletes == ["scaling", "available"]


def test_terminate_refused_because_someone_else_terminated_it_is_success():
    api = ScriptedClusterApi("available", "pending_terminate")
    assert terminate_with(api) == "pending_terminate"
    assert api.deletes == ["pending_terminate"]


def _retry_context(run_id, *, run_started, task_id="create"):
    """A retry's context (try 2, no task_state_store: the name + marker search, as on Airflow 3.2)."""
    from datetime import datetime, timezone
    from types import SimpleNamespace

    ti = SimpleNamespace(
        dag_id="daily",
        run_id=run_id,
        task_id=task_id,
        map_index=-1,
        try_number=2,
        start_date=datetime.now(timezone.utc),
        xcom_push=lambda **kw: None,
    )
    return {"ti": ti, "dag_run": SimpleNamespace(start_date=run_started)}


def test_retry_does_not_adopt_another_runs_cluster_of_the_same_name(emu):
    """A manual and a scheduled run share ``DailyCluster_<date>``: run B's retry creates its own cluster."""
    from datetime import datetime, timedelta, timezone

    from airflow_provider_xplenty.hooks.xplenty import XplentyHook
    from airflow_provider_xplenty.operators._ownership import run_marker
    from airflow_provider_xplenty.operators.cluster import cluster_marker

    started = datetime.now(timezone.utc) - timedelta(seconds=30)
    run_a = _retry_context("manual__2026-11-25", run_started=started)
    run_b = _retry_context("scheduled__2026-11-25", run_started=started)
    other = XplentyHook().create_cluster(
        nodes=2, name="DailyCluster_2026-11-25", description=f"nightly {cluster_marker(run_a)}"
    )
    op = create_task(name="DailyCluster_2026-11-25", description="nightly", wait_for_available=False)
    mine = op.execute(context=run_b)
    assert mine != other.id
    clusters = {c["id"]: c for c in emu.clusters()}
    assert len(clusters) == 2
    assert clusters[mine]["name"] == "DailyCluster_2026-11-25"
    # this task instance's marker, then this DAG run's (run A's cluster carries only the older form)
    assert clusters[mine]["description"] == f"nightly {cluster_marker(run_b)} {run_marker(run_b)}"
    assert clusters[other.id]["status"] not in GONE  # run A's cluster is left alone


@pytest.mark.parametrize(
    ("ahead", "behind"),
    [(0, 0), (600, 0), (0, 600)],
    ids=["same-clock", "api-clock-10min-ahead", "api-clock-10min-behind"],
)
def test_retry_adopts_its_own_cluster_whatever_the_api_clock(emu, ahead, behind):
    """The earlier try's cluster carries the marker: adopted when the API clock runs fast (x60) or slow."""
    from datetime import datetime, timedelta, timezone

    emu.set_speed(60.0, durations={**FAST_CLUSTERS, "cluster_pending": 600, "cluster_creating": 600})
    emu.advance(ahead)
    run_started = datetime.now(timezone.utc) + timedelta(seconds=behind)  # Airflow's clock ahead
    context = _retry_context("scheduled__2026-11-25", run_started=run_started)
    first = create_task(name="DailyCluster_2026-11-25", wait_for_available=False)
    context["ti"].try_number = 1
    first_id = first.execute(context=context)
    emu.advance(ahead)  # by the retry, the API's clock is further ahead of Airflow's
    context["ti"].try_number = 2
    context["ti"].start_date = datetime.now(timezone.utc) + timedelta(seconds=1)
    retry = create_task(name="DailyCluster_2026-11-25", wait_for_available=False)
    assert retry.execute(context=context) == first_id
    assert len(emu.clusters()) == 1


@MODES
def test_terminate_timeout_while_provisioning_leaves_no_cluster_behind(emu, register_dag, deferrable):
    """Terminate gives up waiting for a creating cluster: the task fails and the cluster expires."""
    from airflow_provider_xplenty.hooks.xplenty import XplentyHook

    emu.set_speed(1.0, durations={**FAST_CLUSTERS, "cluster_creating": 60})
    cluster = XplentyHook().create_cluster(nodes=2, terminate_on_idle=False)
    with new_dag("terminate_timeout") as dag:
        XplentyTerminateClusterOperator(
            task_id="terminate",
            cluster_id=cluster.id,
            deferrable=deferrable,
            poll_interval=POLL,
            timeout=0.5,
        )
    dr = run_dag(dag, register_dag)
    assert states(dr) == {"terminate": "failed"}
    (state,) = emu.clusters()
    assert state["status"] in ("pending", "creating")
    assert state["terminate_on_idle"] is True and state["time_to_idle"] == 60
    emu.advance(60)
    emu.advance(61)
    emu.advance(30)
    (state,) = emu.clusters()
    assert state["status"] == "terminated", state["history"]


def test_cleanup_of_a_scaling_cluster_says_it_is_set_to_expire(monkeypatch):
    """The create operator's clean-up words a scaling cluster like a provisioning one (not terminated)."""
    from airflow_provider_xplenty.hooks.xplenty import XplentyHook

    monkeypatch.setattr(XplentyHook, "terminate_cluster_or_expire", lambda hook, cluster_id: "scaling")
    op = create_task()
    op.cluster_id = 7
    assert op._cleanup("test") == "is scaling; set to terminate itself once idle"
