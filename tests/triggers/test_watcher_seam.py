"""Triggers read statuses only through the watcher seam: a different StatusSource drops in unchanged."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from airflow_provider_xplenty._waiting.events import StatusSnapshot
from airflow_provider_xplenty.triggers import xplenty as trigger_module
from airflow_provider_xplenty.triggers.xplenty import XplentyClusterTrigger, XplentyJobTrigger


class ScriptedSource:
    """A StatusSource that plays back statuses (what a shared poller would hand each trigger)."""

    def __init__(self, statuses, errors=None):
        self.statuses = list(statuses)
        self.errors = errors
        self.stopped: list[int] = []
        self.closed = False

    async def watch(self, kind, resource_id):
        for i, status in enumerate(self.statuses):
            yield StatusSnapshot(
                kind=kind,
                resource_id=resource_id,
                status=status,
                observed_at=time.time(),
                progress=i / max(1, len(self.statuses) - 1) if kind == "job" else None,
                html_url=f"https://x/{kind}s/{resource_id}",
                errors=self.errors if status == "failed" else None,
            )
            await asyncio.sleep(0)
        await asyncio.sleep(3600)

    async def stop_job(self, job_id):
        self.stopped.append(job_id)
        return "pending_stoppage"

    async def terminate_cluster(self, cluster_id):
        return "pending_terminate"

    async def close(self):
        self.closed = True


@pytest.fixture()
def use_source(monkeypatch):
    def install(source):
        monkeypatch.setattr(trigger_module, "get_status_source", lambda *a, **k: source)
        return source

    return install


def run_once(trigger):
    async def go():
        gen = trigger.run()
        try:
            return (await gen.__anext__()).payload
        finally:
            await gen.aclose()

    return asyncio.run(go())


def test_job_trigger_history_and_progress_from_any_source(use_source, capsys, caplog):
    caplog.set_level(logging.INFO)
    source = use_source(ScriptedSource(["idle", "pending", "running", "running", "completed"]))
    event = run_once(XplentyJobTrigger(7, history=[{"status": "idle", "at": "t0"}]))
    assert event["status"] == "success"
    assert [h["status"] for h in event["history"]] == ["idle", "pending", "running", "completed"]
    assert event["history"][0]["at"] == "t0"
    assert event["progress"] == 1.0
    assert source.closed
    captured = capsys.readouterr()
    text = captured.out + captured.err + caplog.text  # Airflow 2.11 logs through logging, 3.x prints
    assert "pending -> running" in text
    assert "75% done" in text


def test_failed_status_event_carries_errors(use_source):
    use_source(ScriptedSource(["running", "failed"], errors="Package failed to execute."))
    event = run_once(XplentyJobTrigger(7))
    assert event["status"] == "failed"
    assert event["errors"] == "Package failed to execute."


def test_deadline_fires_while_the_source_is_silent(use_source):
    source = use_source(ScriptedSource(["running"]))
    start = time.monotonic()
    event = run_once(XplentyJobTrigger(7, end_time=time.time() + 0.3))
    assert time.monotonic() - start < 2
    assert event["status"] == "timeout" and event["reason"] == "timeout"
    assert event["stopped"] is True and source.stopped == [7]


def test_sensor_style_trigger_does_not_stop_on_deadline(use_source):
    source = use_source(ScriptedSource(["running"]))
    event = run_once(XplentyJobTrigger(7, end_time=time.time() + 0.2, stop_on_timeout=False))
    assert event["status"] == "timeout" and source.stopped == []


@pytest.mark.parametrize("stop_on_kill", [True, False])
def test_execution_deadline_stops_the_job_only_with_stop_on_kill(use_source, stop_on_kill):
    """execution_timeout is a kill: like a worker's on_kill, it stops the job only with stop_on_kill."""
    source = use_source(ScriptedSource(["running"]))
    trigger = XplentyJobTrigger(
        7, execution_deadline=time.time() + 0.2, stop_on_timeout=True, stop_on_kill=stop_on_kill
    )
    event = run_once(trigger)
    assert event["status"] == "timeout" and event["reason"] == "execution_timeout"
    assert event["stopped"] is stop_on_kill
    assert source.stopped == ([7] if stop_on_kill else [])


def test_cluster_trigger_custom_targets(use_source):
    use_source(ScriptedSource(["available", "pending_terminate", "terminating", "terminated"]))
    event = run_once(XplentyClusterTrigger(3, target_statuses=["terminated"], failed_statuses=[]))
    assert event["status"] == "success"
    assert event["xplenty_status"] == "terminated"
