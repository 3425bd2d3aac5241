"""Cluster operators through real Airflow (dag.test) and the emulator: create, no leak, terminate."""

from __future__ import annotations

import pytest
from xplenty_dagtest import HOOK, POLL, new_dag, run_dag, states, xcom

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
    assert xcom(dr, "create", "_link_XplentyClusterLink") == cluster["html_url"]
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
    assert xcom(dr, "terminate", "_link_XplentyClusterLink") == state["html_url"]


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


def test_on_kill_terminates_a_created_cluster(emu):
    emu.set_speed(1.0, durations={**FAST_CLUSTERS, "cluster_pending": 0, "cluster_creating": 0})
    op = create_task(wait_for_available=False)
    op.execute(context={})
    emu.advance(1)
    op._settled = False  # as if the task were still waiting
    op.on_kill()
    (cluster,) = emu.clusters()
    assert cluster["status"] in GONE
