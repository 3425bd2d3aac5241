"""Every XplentyHook method against the emulator over HTTP."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_xplenty.exceptions import XplentyApiError, XplentyConfigError
from airflow_provider_xplenty.hooks.xplenty import XplentyHook
from airflow_provider_xplenty.models import Cluster, Job, JobOutput, Package, RateLimitStatus, Schedule


def _ready_cluster(hook: XplentyHook, emu, **kw) -> Cluster:  # type: ignore[no-untyped-def]
    cluster = hook.create_cluster(nodes=2, **kw)
    emu.advance(120)
    return hook.get_cluster(cluster.id)


def test_test_connection_and_rate_limit(hook: XplentyHook, xplenty_emulator) -> None:  # type: ignore[no-untyped-def]
    ok, message = hook.test_connection()
    assert ok, message
    assert "account `demo`" in message and "credits left" in message
    status = hook.get_rate_limit_status()
    assert isinstance(status, RateLimitStatus) and status.limit >= status.remaining > 0
    log = xplenty_emulator.requests()
    assert log["totals"]["credits"] == 0, log["requests"]  # free endpoint


def test_test_connection_bad_key(xplenty_emulator, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    conn = xplenty_emulator.connection()
    conn["password"] = "wrong-key-123"
    monkeypatch.setenv("AIRFLOW_CONN_XP_BAD", json.dumps(conn))
    ok, message = XplentyHook("xp_bad").test_connection()
    assert not ok
    assert "check the API key of connection `xp_bad`" in message
    assert "wrong-key-123" not in message
    with pytest.raises(XplentyApiError) as exc:
        XplentyHook("xp_bad").get_cluster(1001)
    assert exc.value.status_code == 401


def test_wrong_account_is_named(xplenty_emulator, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    conn = xplenty_emulator.connection()
    conn["extra"] = {"account_id": "nope"}
    monkeypatch.setenv("AIRFLOW_CONN_XP_ACCT", json.dumps(conn))
    with pytest.raises(XplentyApiError, match="check the account id `nope`") as exc:
        list(XplentyHook("xp_acct").list_jobs())
    assert exc.value.status_code == 404


def test_packages(hook: XplentyHook) -> None:
    pkg = hook.get_package(101)
    assert isinstance(pkg, Package) and pkg.name == "load_customers" and pkg.variables
    active = list(hook.list_packages())
    assert {p.id for p in active} >= {101, 102, 103} and 104 not in {p.id for p in active}
    archived = list(hook.list_packages(status="archived"))
    assert [p.id for p in archived] == [104]
    assert [p.name for p in hook.list_packages(sort="name", direction="asc")][:3] == sorted(
        p.name for p in active if p.name
    )[:3]
    assert 102 in {p.id for p in hook.search_packages("enrich")}
    assert hook.find_package("daily_rollup").id == 103
    with pytest.raises(
        XplentyConfigError, match=r"No active package is named 'daily'.*'daily_rollup' \(id 103\)"
    ):
        hook.find_package("daily")
    with pytest.raises(XplentyConfigError, match="No active package is named 'legacy_export'"):
        hook.find_package("legacy_export")
    with pytest.raises(XplentyApiError, match="Package 999 was not found in account `demo`") as exc:
        hook.get_package(999)
    assert exc.value.status_code == 404


def test_find_package_ambiguous(hook: XplentyHook, xplenty_emulator) -> None:  # type: ignore[no-untyped-def]
    xplenty_emulator.seed(packages=[{"account_id": "demo", "name": "load_customers", "variables": {}}])
    with pytest.raises(
        XplentyConfigError, match=r"2 active packages are named 'load_customers': ids .*101 \(dataflow\)"
    ):
        hook.find_package("load_customers")


def test_cluster_lifecycle(hook: XplentyHook, xplenty_emulator) -> None:  # type: ignore[no-untyped-def]
    cluster = hook.create_cluster(nodes=2, description="from test", terminate_on_idle=True, time_to_idle=600)
    assert isinstance(cluster, Cluster) and cluster.status == "pending"
    assert cluster.name and cluster.name.startswith("airflow-")
    named = hook.create_cluster(type="sandbox", nodes=1, name="my-sandbox")
    assert named.name == "my-sandbox" and named.type == "sandbox"
    assert hook.get_cluster(cluster.id).description == "from test"
    assert {c.id for c in hook.list_clusters()} == {cluster.id, named.id}
    assert {c.id for c in hook.list_clusters(status="pending", sort="created", direction="asc")} == {
        cluster.id,
        named.id,
    }
    assert list(hook.list_clusters(status="available")) == []
    assert [c.id for c in hook.search_clusters("my-sandbox")] == [named.id]
    # 422 carries the API's message: a pending cluster cannot be terminated
    with pytest.raises(XplentyApiError) as exc:
        hook.terminate_cluster(cluster.id)
    assert exc.value.status_code == 422 and exc.value.method == "DELETE"
    assert "pending" in exc.value.message
    xplenty_emulator.advance(120)
    assert hook.get_cluster(cluster.id).is_ready
    updated = hook.update_cluster(cluster.id, description="changed", time_to_idle=900)
    assert updated.description == "changed" and updated.time_to_idle == 900
    since = datetime.now(timezone.utc) - timedelta(days=1)
    assert cluster.id in {c.id for c in hook.list_clusters(since=since)}
    gone = hook.terminate_cluster(cluster.id)
    assert gone.status == "pending_terminate"
    with pytest.raises(XplentyApiError, match="Cluster 987654 was not found in account `demo`"):
        hook.get_cluster(987654)


def test_create_cluster_422(hook: XplentyHook) -> None:
    with pytest.raises(XplentyApiError, match="sandbox cluster must have exactly 1 node") as exc:
        hook.create_cluster(type="sandbox", nodes=3)
    assert exc.value.status_code == 422


def test_job_lifecycle(hook: XplentyHook, xplenty_emulator) -> None:  # type: ignore[no-untyped-def]
    cluster = _ready_cluster(hook, xplenty_emulator)
    job = hook.run_job(
        cluster.id, 101, variables={"InputPath": "'/x'"}, dynamic_variables={"NOW": "CurrentTime()"}
    )
    assert isinstance(job, Job) and job.status == "idle" and job.cluster_id == cluster.id
    assert job.variables == {"InputPath": "'/x'"}
    other = hook.run_job(cluster.id, 102)
    with_cluster = hook.get_job(job.id, include=["cluster", "package"])
    assert with_cluster.cluster is not None and with_cluster.cluster.id == cluster.id
    assert with_cluster.package is not None and with_cluster.package.id == 101
    assert [j.id for j in hook.list_jobs(package_id=101)] == [job.id]
    assert {j.id for j in hook.list_jobs()} == {job.id, other.id}
    assert [j.id for j in hook.list_jobs(sort="created", direction="asc")] == [job.id, other.id]
    assert [j.id for j in hook.search_jobs(str(job.id))] == [job.id]
    xplenty_emulator.advance(60)
    done = hook.get_job(job.id)
    assert done.is_successful and done.progress == 1.0 and done.outputs
    assert [j.id for j in hook.list_jobs(status="completed", package_id=102)] == [other.id]
    variables = hook.get_job_variables(job.id)
    assert variables["InputPath"] == "'/x'"
    assert isinstance(hook.get_job_log(job.id), str)
    output = hook.get_job_output(job.id, done.outputs[0].id)
    assert isinstance(output, JobOutput) and output.id == done.outputs[0].id
    assert hook.preview_output(job.id, output.id)
    assert list(hook.list_job_children(job.id, status="all", sort="created", direction="asc")) == []
    with pytest.raises(XplentyApiError, match=f"Output 1 of job {job.id} was not found in account `demo`"):
        hook.preview_output(job.id, 1)
    # stop: an active job stops, a completed one is a 422 with the API's message
    running = hook.run_job(cluster.id, 103)
    assert hook.stop_job(running.id).status == "pending_stoppage"
    with pytest.raises(XplentyApiError) as exc:
        hook.stop_job(job.id)
    assert exc.value.status_code == 422 and "completed" in exc.value.message
    with pytest.raises(XplentyApiError, match="Job 424242 was not found in account `demo`"):
        hook.get_job(424242)
    with pytest.raises(XplentyApiError, match="Cluster 999 not found") as exc422:
        hook.run_job(999, 101)
    assert exc422.value.status_code == 422


def test_schedules(hook: XplentyHook) -> None:
    start = datetime.now(timezone.utc) + timedelta(hours=1)
    task = {
        "nodes": 2,
        "terminate_on_idle": True,
        "time_to_idle": 300,
        "packages": [{"package_id": 101, "variables": {}}],
    }
    sched = hook.create_schedule(
        name="nightly", start_at=start, interval_amount=1, interval_unit="days", task=task
    )
    assert isinstance(sched, Schedule) and sched.name == "nightly" and sched.status == "disabled"
    assert hook.get_schedule(sched.id).interval_unit == "days"
    assert [s.id for s in hook.list_schedules()] == [sched.id]
    assert [s.id for s in hook.list_schedules(status="enabled")] == []
    enabled = hook.update_schedule(sched.id, status="enabled", description="x")
    assert enabled.status == "enabled"
    clone = hook.clone_schedule(sched.id)
    assert clone.id != sched.id and clone.name == "Copy of nightly"
    ran = hook.run_schedule(sched.id)
    assert ran.id == sched.id and (ran.execution_count or 0) >= 1
    assert hook.delete_schedule(clone.id).id == clone.id
    with pytest.raises(XplentyApiError, match=f"Schedule {clone.id} was not found in account `demo`"):
        hook.get_schedule(clone.id)
    with pytest.raises(XplentyConfigError, match="variables"):
        hook.create_schedule(name="bad", task={"packages": [{"package_id": 101, "variables": "x"}]})


def test_pagination(hook: XplentyHook, xplenty_emulator) -> None:  # type: ignore[no-untyped-def]
    cluster = hook.create_cluster(nodes=2)
    created = {hook.run_job(cluster.id, 101, variables={"I": f"'{i}'"}).id for i in range(101)}
    before = xplenty_emulator.requests()["totals"]["count"]
    listed = [j.id for j in hook.list_jobs(package_id=101)]
    assert len(listed) == 101 and set(listed) == created
    assert xplenty_emulator.requests()["totals"]["count"] - before == 2  # two pages of 100
    assert list(hook.list_jobs(package_id=102)) == []
