"""Triggers run against the emulator (no Airflow machinery): events, history, retries, deadlines, on_kill."""

from __future__ import annotations

import asyncio
import time

import pytest
from _airflow_compat import AIRFLOW_V_3_0_PLUS

from airflow_provider_xplenty.hooks.xplenty import XplentyHook
from airflow_provider_xplenty.triggers.xplenty import XplentyClusterTrigger, XplentyJobTrigger, validate_event

FAST = {
    "cluster_pending": 0,
    "cluster_creating": 0,
    "cluster_terminating": 0.2,
    "job_idle": 0.1,
    "job_pending": 0.1,
    "job_running": 0.6,
    "job_stopping": 0.1,
}
NO_RETRY = {"retry_limit": 0}


@pytest.fixture(params=["shared", "polling"])
def emu(request, monkeypatch, xplenty_emulator):
    """The emulator, with the triggers reading statuses through each status source in turn."""
    monkeypatch.setenv("AIRFLOW__XPLENTY__SHARED_WATCHER", str(request.param == "shared"))
    xplenty_emulator.set_speed(1.0, durations=FAST)
    return xplenty_emulator


def first_event(trigger):
    async def go():
        return await trigger.run().__anext__()

    return asyncio.run(go()).payload


def started_job(emu, package_id=101):
    hook = XplentyHook()
    cluster = hook.create_cluster(nodes=2)
    emu.advance(1)
    return hook.run_job(cluster.id, package_id)


def test_job_trigger_success_keeps_history_and_survives_transient_errors(emu):
    job = started_job(emu)
    emu.add_fault(kind="server_error", status=503, path_contains=f"/jobs/{job.id}", method="GET", count=3)
    emu.add_fault(kind="rate_limit", count=1)
    trigger = XplentyJobTrigger(job_id=job.id, poll_interval=0.05, hook_params=NO_RETRY)
    event = validate_event(first_event(trigger), kind="job", resource_id=job.id)
    assert event["status"] == "success"
    assert event["xplenty_status"] == "completed"
    assert event["html_url"] == job.html_url
    statuses = [h["status"] for h in event["history"]]
    assert statuses[-1] == "completed"
    assert "running" in statuses
    assert all(h["at"].endswith("+00:00") for h in event["history"])


def _gets(emu, path):
    return [r for r in emu.requests()["requests"] if r["method"] == "GET" and r["path"].endswith(path)]


def test_first_poll_waits_until_first_poll_at(emu):
    job = started_job(emu)
    before = len(_gets(emu, f"/jobs/{job.id}"))
    start = time.time()
    trigger = XplentyJobTrigger(job.id, poll_interval=0.05, first_poll_at=start + 0.5)

    async def go():
        task = asyncio.ensure_future(trigger.run().__anext__())
        await asyncio.sleep(0.4)
        polled_early = len(_gets(emu, f"/jobs/{job.id}")) - before
        return polled_early, (await task).payload

    polled_early, event = asyncio.run(go())
    assert polled_early == 0, "the trigger polled before first_poll_at"
    assert validate_event(event, kind="job")["status"] == "success"
    assert time.time() - start >= 0.5


def test_deadline_before_first_poll_at_times_out_with_the_known_status(emu):
    emu.set_speed(1.0, durations={**FAST, "job_running": 60})
    job = started_job(emu)
    trigger = XplentyJobTrigger(
        job.id,
        poll_interval=0.05,
        end_time=time.time() + 0.2,
        first_poll_at=time.time() + 30,
        history=[{"status": "running", "at": "2026-01-01T00:00:00+00:00"}],
    )
    start = time.monotonic()
    event = validate_event(first_event(trigger), kind="job")
    assert time.monotonic() - start < 10  # the deadline, not first_poll_at, ends the sleep
    assert event["status"] == "timeout"
    assert "(last status: running)" in event["message"]
    assert event["stopped"] is True


def test_job_trigger_failed_event_carries_errors(emu):
    emu.add_fault(kind="job_failure", package_id=101, message="Division by zero in select_3")
    job = started_job(emu)
    event = validate_event(first_event(XplentyJobTrigger(job.id, poll_interval=0.05)), kind="job")
    assert event["status"] == "failed"
    assert event["xplenty_status"] == "failed"
    assert "Division by zero in select_3" in event["errors"]
    assert "Division by zero in select_3" in event["message"]


def test_job_trigger_deadline_stops_the_job(emu):
    emu.set_speed(1.0, durations={**FAST, "job_running": 60})
    job = started_job(emu)
    trigger = XplentyJobTrigger(job.id, poll_interval=0.05, execution_deadline=time.time() + 0.4)
    event = validate_event(first_event(trigger), kind="job")
    assert event["status"] == "timeout"
    assert event["reason"] == "execution_timeout"
    assert event["stopped"] is True
    assert XplentyHook().get_job(job.id).status in ("pending_stoppage", "stopping", "stopped")


def test_job_trigger_on_kill_stops_the_job(emu):
    emu.set_speed(1.0, durations={**FAST, "job_running": 60})
    job = started_job(emu)
    trigger = XplentyJobTrigger(job.id, poll_interval=0.05)

    async def go():
        task = asyncio.ensure_future(trigger.run().__anext__())
        await asyncio.sleep(0.3)
        task.cancel()
        await trigger.on_kill()

    asyncio.run(go())
    assert XplentyHook().get_job(job.id).status in ("pending_stoppage", "stopping", "stopped")


def test_job_trigger_unknown_job_gives_error_event(emu):
    event = validate_event(first_event(XplentyJobTrigger(424242, poll_interval=0.05)), kind="job")
    assert event["status"] == "error"
    assert "424242" in event["message"]


def test_cluster_trigger_failed_and_on_kill(emu):
    emu.set_speed(1.0, durations={**FAST, "cluster_pending": 0.1, "cluster_creating": 0.2})
    emu.add_fault(kind="cluster_failure", message="no capacity")
    hook = XplentyHook()
    bad = hook.create_cluster(nodes=2)
    event = validate_event(first_event(XplentyClusterTrigger(bad.id, poll_interval=0.05)), kind="cluster")
    assert event["status"] == "failed"
    assert event["xplenty_status"] == "error"

    good = hook.create_cluster(nodes=2)
    event = validate_event(first_event(XplentyClusterTrigger(good.id, poll_interval=0.05)), kind="cluster")
    assert event["status"] == "success"
    asyncio.run(XplentyClusterTrigger(good.id, terminate_on_kill=True).on_kill())
    assert hook.get_cluster(good.id).status in ("pending_terminate", "terminating", "terminated")


def test_cluster_trigger_on_kill_while_creating_sets_idle_termination(emu):
    emu.set_speed(1.0, durations={**FAST, "cluster_creating": 60})
    hook = XplentyHook()
    cluster = hook.create_cluster(nodes=2, terminate_on_idle=False)
    asyncio.run(XplentyClusterTrigger(cluster.id, terminate_on_kill=True).on_kill())
    after = hook.get_cluster(cluster.id)
    assert after.terminate_on_idle is True
    assert after.time_to_idle == 60


@pytest.mark.parametrize("by_user", [True, False], ids=["user-kill", "triggerer-restart"])
def test_airflow_3_2_cancellation_fallback(emu, monkeypatch, by_user):
    """Without BaseTrigger.on_kill (3.2), a cancelled trigger stops the job only after a user action."""
    from airflow_provider_xplenty.triggers import xplenty as module

    emu.set_speed(1.0, durations={**FAST, "job_running": 60})
    job = started_job(emu)
    trigger = XplentyJobTrigger(job.id, poll_interval=0.05)
    monkeypatch.setattr(module, "TRIGGER_HAS_ON_KILL", False)

    async def cancelled_by_user():
        return by_user

    monkeypatch.setattr(trigger, "_cancelled_by_user", cancelled_by_user)

    async def go():
        task = asyncio.ensure_future(trigger.run().__anext__())
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())
    status = XplentyHook().get_job(job.id).status
    if by_user:
        assert status in ("pending_stoppage", "stopping", "stopped")
    else:
        assert status in ("idle", "pending", "queued", "running")


def test_on_kill_detection_matches_the_airflow_version():
    """3.3+ calls the trigger's on_kill itself; on 3.2 the cancellation fallback must be the one in use."""
    from airflow import __version__
    from packaging.version import Version

    from airflow_provider_xplenty.triggers import xplenty as module

    assert module.TRIGGER_HAS_ON_KILL is (Version(__version__) >= Version("3.3"))


@pytest.mark.parametrize(
    ("states", "map_index", "expected"),
    [
        ({"run": {"wait": "deferred"}}, -1, False),  # triggerer restart / trigger moved: keep the job
        ({"run": {"wait": "failed"}}, -1, True),  # marked failed
        ({"run": {"wait": "success"}}, -1, True),  # marked success
        ({"run": {"wait": None}}, -1, True),  # cleared (no state until scheduled again)
        ({"run": {"wait": "scheduled"}}, -1, True),  # cleared, already scheduled again
        ({"run": {"wait_3": "failed", "wait_4": "deferred"}}, 3, True),  # mapped: its own index
        ({"run": {"wait_3": "failed", "wait_4": "deferred"}}, 4, False),
        ({"run": {}}, -1, False),  # unknown task instance: do not stop
        (RuntimeError("API down"), -1, False),  # state unreadable: do not stop
    ],
)
@pytest.mark.skipif(not AIRFLOW_V_3_0_PLUS, reason="2.11 triggerers read the metadata DB instead")
def test_airflow_3_2_cancelled_by_user_reads_the_task_state(monkeypatch, states, map_index, expected):
    """The 3.2 fallback asks the Execution API for the deferred task's state (the triggerer answers)."""
    from types import SimpleNamespace

    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    asked = []

    def get_task_states(**kwargs):
        asked.append(kwargs)
        if isinstance(states, Exception):
            raise states
        return states

    monkeypatch.setattr(RuntimeTaskInstance, "get_task_states", staticmethod(get_task_states))
    trigger = XplentyJobTrigger(5001, poll_interval=0.05)
    trigger.task_instance = SimpleNamespace(dag_id="d", task_id="wait", run_id="run", map_index=map_index)
    assert asyncio.run(trigger._cancelled_by_user()) is expected
    assert asked == [{"dag_id": "d", "task_ids": ["wait"], "run_ids": ["run"], "map_index": map_index}]


@pytest.mark.parametrize(
    ("state", "expected"),
    [("deferred", False), ("failed", True), ("success", True), (None, True), ("scheduled", True)],
)
@pytest.mark.skipif(AIRFLOW_V_3_0_PLUS, reason="Airflow 2.11's triggerer reads the metadata DB")
def test_airflow_2_cancelled_by_user_reads_the_task_state_from_the_db(airflow_db, state, expected):
    """The 2.11 fallback reads the deferred task's state from the metadata DB (its triggerer has it)."""
    import uuid
    from datetime import datetime, timezone
    from types import SimpleNamespace

    from _airflow_compat import DAG
    from airflow.models.baseoperator import BaseOperator
    from airflow.utils.session import create_session
    from airflow.utils.types import DagRunType

    with DAG(f"cancel_{uuid.uuid4().hex[:8]}", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        BaseOperator(task_id="wait")
    run = dag.create_dagrun(
        run_id="run",
        run_type=DagRunType.MANUAL,
        execution_date=datetime(2026, 1, 2, tzinfo=timezone.utc),
        state="running",
    )
    with create_session() as session:
        ti = run.get_task_instance("wait", session=session)
        ti.state = state
        session.merge(ti)
    trigger = XplentyJobTrigger(5001, poll_interval=0.05)
    trigger.task_instance = SimpleNamespace(dag_id=dag.dag_id, task_id="wait", run_id="run", map_index=-1)
    assert asyncio.run(trigger._cancelled_by_user()) is expected
    trigger.task_instance = SimpleNamespace(dag_id=dag.dag_id, task_id="other", run_id="run", map_index=-1)
    assert asyncio.run(trigger._cancelled_by_user()) is False  # unknown task instance: do not stop
