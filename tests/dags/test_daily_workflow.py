"""The daily workflow DAG end to end: real Airflow (dag.test), real emulator, real SMTP server."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from _airflow_compat import AIRFLOW_V_3_0_PLUS, dag_test
from dag_test_support import ALERT_TO, task_states, xcom

from airflow_provider_xplenty.testing import SmtpSink

LOGICAL_DATE = datetime(2025, 1, 1, tzinfo=timezone.utc)
SPEED = 100.0  # emulated seconds per real second: a cluster comes up in ~0.7 s
ACTIVE_CLUSTER_STATES = {"pending", "creating", "available", "idle", "scaling"}

ALL_TASKS = {
    "plan",
    "create_cluster",
    "verify_cluster",
    "run_job",
    "verify_job",
    "preview_output",
    "run_additional_jobs[0]",
    "run_additional_jobs[1]",
    "terminate_cluster",
    "verify_termination",
}


@pytest.fixture()
def emulator(xplenty_emulator: Any) -> Any:
    xplenty_emulator.reset(speed=SPEED)
    return xplenty_emulator


def _jobs(emulator: Any, package_id: int) -> list[dict[str, Any]]:
    return sorted((j for j in emulator.jobs() if j["package_id"] == package_id), key=lambda j: j["id"])


def _assert_no_active_cluster(emulator: Any) -> None:
    active = [(c["id"], c["status"]) for c in emulator.clusters() if c["status"] in ACTIVE_CLUSTER_STATES]
    assert active == []


def test_clean_run(daily_dag: Any, emulator: Any, smtp_sink: SmtpSink) -> None:
    dag_run = dag_test(daily_dag, logical_date=LOGICAL_DATE)

    states = task_states(dag_run)
    assert dag_run.state == "success", states
    assert states == dict.fromkeys(ALL_TASKS, "success")
    (cluster,) = emulator.clusters()
    assert cluster["name"] == "DailyCluster_20250101"
    assert cluster["nodes"] == 2 and cluster["type"] == "production"
    assert cluster["status"] == "terminated"
    (main,) = _jobs(emulator, 103)
    assert main["status"] == "completed"
    assert main["variables"]["InputPath"] == "'/input20250101'"
    assert main["variables"]["OutputPath"] == "'/output20250101'"
    assert [j["status"] for j in _jobs(emulator, 101)] == ["completed"]
    assert [j["status"] for j in _jobs(emulator, 102)] == ["completed"]
    assert xcom(dag_run, "run_job", "job_id") == main["id"]
    assert xcom(dag_run, "verify_job")["status"] == "completed"
    previews = xcom(dag_run, "preview_output")
    assert previews and all(lines for lines in previews.values())
    # preview_output reads the previews run_job pushed; each output's preview is fetched only once.
    outputs = xcom(dag_run, "run_job", "outputs")
    assert previews == {o["name"] or str(o["id"]): o["preview"].splitlines()[:10] for o in outputs}
    fetched = [r for r in emulator.requests()["requests"] if f"/jobs/{main['id']}/outputs/" in r["path"]]
    assert len(fetched) == len(outputs)
    assert smtp_sink.messages == []


def test_job_fails_on_every_try(daily_dag: Any, emulator: Any, smtp_sink: SmtpSink) -> None:
    emulator.add_fault(kind="job_failure", package_id=103, message="Input /input20250101 not found", count=3)

    dag_run = dag_test(daily_dag, logical_date=LOGICAL_DATE)

    states = task_states(dag_run)
    assert dag_run.state == "failed", states
    assert states["run_job"] == "failed"
    assert states["terminate_cluster"] == "success"
    assert states["verify_termination"] == "success"
    main = _jobs(emulator, 103)
    assert [j["status"] for j in main] == ["failed"] * 3  # one job per try, retried twice
    _assert_no_active_cluster(emulator)
    assert [c["status"] for c in emulator.clusters()] == ["terminated"]

    assert len(smtp_sink.messages) == 1
    msg = smtp_sink.messages[0]
    body = SmtpSink.body(msg)
    assert sorted(smtp_sink.envelopes[0]["to"]) == sorted(a.strip() for a in ALERT_TO.split(","))
    last = main[-1]
    assert "xplenty_daily_workflow" in msg["Subject"] and "run_job" in msg["Subject"]
    assert f"Xplenty job {last['id']}" in msg["Subject"]
    assert dag_run.run_id in body
    assert ">3 of 3<" in body
    assert "Input /input20250101 not found" in body
    assert last["html_url"] in body
    assert "Clusters that may still be up" not in body  # the teardown terminated it


def test_job_fails_once_then_succeeds(daily_dag: Any, emulator: Any, smtp_sink: SmtpSink) -> None:
    emulator.add_fault(kind="job_failure", package_id=103, message="transient", count=1)

    dag_run = dag_test(daily_dag, logical_date=LOGICAL_DATE)

    states = task_states(dag_run)
    assert dag_run.state == "success", states
    assert [j["status"] for j in _jobs(emulator, 103)] == ["failed", "completed"]
    assert [c["status"] for c in emulator.clusters()] == ["terminated"]
    assert smtp_sink.messages == []


def test_cluster_provisioning_error(daily_dag: Any, emulator: Any, smtp_sink: SmtpSink) -> None:
    emulator.add_fault(kind="cluster_failure", message="Not enough capacity in us-east-1")

    dag_run = dag_test(daily_dag, logical_date=LOGICAL_DATE)

    states = task_states(dag_run)
    assert dag_run.state == "failed", states
    assert states["verify_cluster"] == "failed"
    assert states["run_job"] == "upstream_failed"
    assert emulator.jobs() == []
    _assert_no_active_cluster(emulator)

    assert len(smtp_sink.messages) == 1
    msg = smtp_sink.messages[0]
    body = SmtpSink.body(msg)
    (cluster,) = emulator.clusters()
    assert "verify_cluster" in msg["Subject"]
    assert f"{cluster['id']} (" in body
    assert cluster["html_url"] in body
    assert "Job link" not in body


def test_mapped_job_fails_alert_names_the_map_index(
    daily_dag: Any, emulator: Any, smtp_sink: SmtpSink
) -> None:
    emulator.add_fault(kind="job_failure", package_id=102, message="enrich_orders: bad schema", count=3)

    dag_run = dag_test(daily_dag, logical_date=LOGICAL_DATE)

    states = task_states(dag_run)
    assert dag_run.state == "failed", states
    assert states["run_additional_jobs[0]"] == "success"
    assert states["run_additional_jobs[1]"] == "failed"
    assert [c["status"] for c in emulator.clusters()] == ["terminated"]
    assert len(smtp_sink.messages) == 1
    msg = smtp_sink.messages[0]
    body = SmtpSink.body(msg)
    last = _jobs(emulator, 102)[-1]
    assert f"run_additional_jobs (Xplenty job {last['id']})" in msg["Subject"]
    assert "[map index 1]" in body
    assert "enrich_orders: bad schema" in body


def test_manual_trigger_without_logical_date_uses_the_trigger_date(
    daily_dag: Any, emulator: Any, smtp_sink: SmtpSink
) -> None:
    run_after = datetime(2025, 3, 4, 5, 6, tzinfo=timezone.utc)

    dag_run = dag_test(daily_dag, logical_date=None, run_after=run_after)

    assert dag_run.logical_date is None or not AIRFLOW_V_3_0_PLUS  # 2.11: every run has one
    assert dag_run.state == "success", task_states(dag_run)
    (cluster,) = emulator.clusters()
    assert cluster["name"] == "DailyCluster_20250304"
    (main,) = _jobs(emulator, 103)
    assert main["variables"] == {"InputPath": "'/input20250304'", "OutputPath": "'/output20250304'"}


def test_teardown_runs_when_create_cluster_fails(
    daily_dag: Any, emulator: Any, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """create_cluster fails on every try (the API refuses the POST): the teardowns still run.

    Without a cluster id, terminate_cluster looks for this run's clusters by marker (none here) and
    verify_termination has nothing to verify.
    """
    import json
    import os

    conn = json.loads(os.environ["AIRFLOW_CONN_XPLENTY_DEFAULT"])
    conn["extra"] = {**conn.get("extra", {}), "retry_limit": 0}
    monkeypatch.setenv("AIRFLOW_CONN_XPLENTY_DEFAULT", json.dumps(conn))
    emulator.add_fault(kind="server_error", status=503, method="POST", path_contains="/clusters", count=100)

    dag_run = dag_test(daily_dag, logical_date=LOGICAL_DATE)

    states = task_states(dag_run)
    assert dag_run.state == "failed", states
    assert states["create_cluster"] == "failed"
    assert states["terminate_cluster"] == "success"
    assert xcom(dag_run, "terminate_cluster") == "not_found"
    assert states["verify_termination"] == "skipped"
    assert emulator.clusters() == []
    (msg,) = smtp_sink.messages
    assert "create_cluster" in msg["Subject"]
