"""The leak of issue 11 end to end (daily DAG, alert e-mail, sweep DAG), and what the sweep leaves alone.

Real Airflow (``dag.test``), the real emulator and a real SMTP server.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from typing import Any

import pytest
from _airflow_compat import dag_test
from dag_test_support import task_states, xcom

from airflow_provider_xplenty.operators._ownership import run_marker_of
from airflow_provider_xplenty.testing import SmtpSink

LOGICAL_DATE = datetime(2025, 1, 1, tzinfo=timezone.utc)
GONE = {"pending_terminate", "terminating", "terminated"}
#: Credits of one create call: the floor read before the POST, and the POST itself.
CREATE_CREDITS = 2


@pytest.fixture()
def emulator(xplenty_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The emulator at x10 (an emulated hour of credits lasts 6 real minutes), with fast hook retries."""
    xplenty_emulator.reset(speed=10.0)
    conn = json.loads(os.environ["AIRFLOW_CONN_XPLENTY_DEFAULT"])
    conn["extra"] = {**conn.get("extra", {}), "retry_limit": 1, "retry_max_seconds": 2, "retry_backoff": 0.05}
    monkeypatch.setenv("AIRFLOW_CONN_XPLENTY_DEFAULT", json.dumps(conn))
    return xplenty_emulator


def _live(emulator: Any) -> list[dict[str, Any]]:
    return [c for c in emulator.clusters() if c["status"] not in GONE]


def test_lost_create_response_then_429_longer_than_the_retries_leaves_no_cluster(
    daily_dag: Any, sweep_dag: Any, emulator: Any, smtp_sink: SmtpSink
) -> None:
    """The POST's answer is lost, then every call gets 429 past all retries (teardown's too).

    The alert names the run's marker and the cluster's name and points at the sweep; once the API
    answers again, the sweep DAG terminates the cluster.
    """
    emulator.add_fault(kind="lost_response", method="POST", path_contains="/clusters", mode="drop")
    emulator.set_rate_limit(limit=5000, remaining=CREATE_CREDITS)

    dag_run = dag_test(daily_dag, logical_date=LOGICAL_DATE)

    states = task_states(dag_run)
    assert dag_run.state == "failed", states
    assert states["plan"] == "success"
    assert states["create_cluster"] == "failed"
    tries = {ti.task_id: ti.try_number for ti in dag_run.get_task_instances()}
    assert tries["create_cluster"] == 3
    assert states["terminate_cluster"] == "failed"  # it ran (plan is a setup) but the API never answered
    assert states["verify_termination"] == "skipped"  # no id to verify
    (cluster,) = emulator.clusters()  # the retries created no second cluster
    assert cluster["status"] not in GONE  # leaked, for now
    marker = run_marker_of(dag_run.dag_id, dag_run.run_id)
    assert marker in cluster["description"]

    (msg,) = smtp_sink.messages
    body = SmtpSink.body(msg)
    assert "Clusters that may still be up" in body
    assert marker in body and "DailyCluster_20250101" in body
    assert "xplenty_sweep" in body

    emulator.set_rate_limit(limit=5000, remaining=5000)  # the API answers again
    emulator.advance(120)  # provisioned
    sweep_run = dag_test(sweep_dag)

    assert sweep_run.state == "success", task_states(sweep_run)
    report = xcom(sweep_run, "sweep_clusters")
    assert report["terminated"] == [cluster["id"]]
    emulator.advance(60)
    assert _live(emulator) == []


def _finished_run(register_dag: Any, dag_id: str, fail: bool) -> Any:
    from _airflow_compat import DAG, task

    with DAG(dag_id, schedule=None, start_date=LOGICAL_DATE) as dag:

        @task
        def work() -> None:
            if fail:
                raise RuntimeError("failed on purpose")

        work()
    register_dag(dag)
    return dag_test(dag, logical_date=None)


def _running_run(register_dag: Any, dag_id: str) -> tuple[str, str]:
    """A DAG run that is still running (a row in the metadata DB)."""
    from _airflow_compat import AIRFLOW_V_3_0_PLUS, DAG
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunType

    register_dag(DAG(dag_id, schedule=None, start_date=LOGICAL_DATE))
    run_id = "manual__still-running"
    now = datetime.now(timezone.utc)
    with create_session() as session:
        session.add(
            DagRun(
                dag_id=dag_id,
                run_id=run_id,
                run_type=DagRunType.MANUAL,
                state=DagRunState.RUNNING,
                start_date=now,
                **({"run_after": now} if AIRFLOW_V_3_0_PLUS else {"execution_date": now}),
            )
        )
    return dag_id, run_id


@pytest.mark.parametrize("dry_run", [False, True], ids=["sweep", "dry-run"])
def test_sweep_terminates_only_the_clusters_of_ended_runs(
    register_dag: Any, emulator: Any, dry_run: bool
) -> None:
    import uuid

    from _airflow_compat import DAG

    from airflow_provider_xplenty.hooks.xplenty import XplentyHook
    from airflow_provider_xplenty.operators.sweep import XplentySweepClustersOperator

    suffix = uuid.uuid4().hex[:6]
    ok = _finished_run(register_dag, f"sweep_ok_{suffix}", fail=False)
    failed = _finished_run(register_dag, f"sweep_failed_{suffix}", fail=True)
    assert (ok.state, failed.state) == ("success", "failed")
    running = _running_run(register_dag, f"sweep_running_{suffix}")
    hook = XplentyHook()

    def cluster(description: str) -> int:
        return hook.create_cluster(nodes=2, description=description).id

    ended = {
        cluster(f"etl [airflow:0123456789ab] {run_marker_of(ok.dag_id, ok.run_id)}"),
        cluster(f"etl {run_marker_of(failed.dag_id, failed.run_id)}"),
    }
    kept = {
        cluster(f"etl {run_marker_of(*running)}"): "kept",
        cluster(f"etl {run_marker_of('no_such_dag', 'manual__1')}"): "unknown",  # another Airflow's
        cluster("etl [airflow:0123456789ab]"): "unknown",  # an older provider's: no run named
        cluster(f"etl {run_marker_of('d' * 150, 'r' * 150)}"): "unknown",  # hashed: no run named
    }
    not_airflows = cluster("someone else's cluster")
    emulator.advance(120)  # all provisioned

    with DAG(f"sweeper_{suffix}", schedule=None, start_date=LOGICAL_DATE) as dag:
        XplentySweepClustersOperator(task_id="sweep", dry_run=dry_run)
    register_dag(dag)
    sweep_run = dag_test(dag, logical_date=None)

    assert sweep_run.state == "success", task_states(sweep_run)
    report = xcom(sweep_run, "sweep")
    assert set(report["would_terminate" if dry_run else "terminated"]) == ended
    assert set(report["kept"]) == {i for i, why in kept.items() if why == "kept"}
    assert set(report["unknown"]) == {i for i, why in kept.items() if why == "unknown"}
    assert not_airflows not in {i for ids in report.values() for i in ids}
    statuses = {c["id"]: c["status"] for c in emulator.clusters()}
    assert all((statuses[i] in GONE) is not dry_run for i in ended)
    assert all(statuses[i] not in GONE for i in [*kept, not_airflows])


def test_sweep_leaves_the_clusters_of_its_own_run_and_of_other_dags_alone(
    register_dag: Any, emulator: Any
) -> None:
    import uuid

    from _airflow_compat import DAG

    from airflow_provider_xplenty.hooks.xplenty import XplentyHook
    from airflow_provider_xplenty.operators.cluster import XplentyCreateClusterOperator
    from airflow_provider_xplenty.operators.sweep import XplentySweepClustersOperator

    suffix = uuid.uuid4().hex[:6]
    ended = _finished_run(register_dag, f"other_{suffix}", fail=True)
    other_dag = (
        XplentyHook().create_cluster(nodes=2, description=run_marker_of(ended.dag_id, ended.run_id)).id
    )
    with DAG(f"makes_and_sweeps_{suffix}", schedule=None, start_date=LOGICAL_DATE) as dag:
        create = XplentyCreateClusterOperator(task_id="create", nodes=2, wait_for_available=False)
        create >> XplentySweepClustersOperator(task_id="sweep", dag_ids=[f"makes_and_sweeps_{suffix}"])
    register_dag(dag)
    run = dag_test(dag, logical_date=None)

    assert run.state == "success", task_states(run)
    own = xcom(run, "create")
    report = xcom(run, "sweep")
    assert set(report["kept"]) == {own, other_dag}
    assert all(c["status"] not in GONE for c in emulator.clusters())
