"""Shared watching (``[xplenty] shared_watcher``, on by default): many triggers, one list call per poll."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from airflow_provider_xplenty._waiting.events import validate_event
from airflow_provider_xplenty._waiting.seam import get_status_source
from airflow_provider_xplenty._waiting.shared import SharedStatusPoller, SharedStatusSource
from airflow_provider_xplenty._waiting.sources import PollingStatusSource
from airflow_provider_xplenty.exceptions import XplentyApiError
from airflow_provider_xplenty.hooks.xplenty import XplentyHook
from airflow_provider_xplenty.triggers.xplenty import XplentyClusterTrigger, XplentyJobTrigger

FAST = {
    "cluster_pending": 0.3,
    "cluster_creating": 0.3,
    "job_idle": 0.1,
    "job_pending": 0.1,
    "job_running": 1.2,
    "job_stopping": 0.1,
}


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch):
    """Each test starts with its own empty registry of pollers."""
    monkeypatch.setattr(SharedStatusPoller, "_registry", {})


@pytest.fixture()
def shared(monkeypatch, xplenty_emulator):
    monkeypatch.setenv("AIRFLOW__XPLENTY__SHARED_WATCHER", "True")
    xplenty_emulator.set_speed(1.0, durations=FAST)
    return xplenty_emulator


def test_switch_selects_the_source(monkeypatch):
    monkeypatch.delenv("AIRFLOW__XPLENTY__SHARED_WATCHER", raising=False)
    assert isinstance(get_status_source("c", poll_interval=1), SharedStatusSource)  # the default
    monkeypatch.setenv("AIRFLOW__XPLENTY__SHARED_WATCHER", "False")
    assert isinstance(get_status_source("c", poll_interval=1), PollingStatusSource)
    monkeypatch.setenv("AIRFLOW__XPLENTY__SHARED_WATCHER", "True")
    assert isinstance(get_status_source("c", poll_interval=1), SharedStatusSource)


async def first(trigger):
    """The trigger's event; then close the generator, as the triggerer does."""
    gen = trigger.run()
    try:
        return await gen.__anext__()
    finally:
        await gen.aclose()


def test_a_first_read_that_fails_leaves_no_poller_behind(shared):
    """An unknown job (404 on the first GET): the error event comes and the poller is released."""

    async def go():
        event = await first(XplentyJobTrigger(987654, poll_interval=0.1))
        assert not SharedStatusPoller._registry  # registered before the GET; removed when it failed
        return event.payload

    assert asyncio.run(go())["status"] == "error"


def test_many_triggers_share_one_poll_loop(shared):
    hook = XplentyHook()
    cluster = hook.create_cluster(nodes=2)
    shared.advance(5)
    emu_failure = shared.add_fault(kind="job_failure", package_id=102, message="bad rows")
    assert emu_failure
    good = [hook.run_job(cluster.id, 101) for _ in range(5)]
    bad = hook.run_job(cluster.id, 102)
    before = len(shared.requests()["requests"])
    pending = hook.create_cluster(nodes=2)

    async def go():
        triggers = [XplentyJobTrigger(j.id, poll_interval=0.1) for j in [*good, bad]]
        triggers.append(XplentyClusterTrigger(pending.id, poll_interval=0.1))
        events = await asyncio.gather(*(first(t) for t in triggers))
        assert not SharedStatusPoller._registry  # the loop stops when nobody watches
        return [e.payload for e in events]

    events = asyncio.run(go())
    for event, job in zip(events[:5], good, strict=True):
        event = validate_event(event, kind="job", resource_id=job.id)
        assert event["status"] == "success"
        assert [h["status"] for h in event["history"]][-1] == "completed"
    failed = validate_event(events[5], kind="job", resource_id=bad.id)
    assert failed["status"] == "failed" and "bad rows" in failed["errors"]
    assert validate_event(events[6], kind="cluster")["xplenty_status"] in ("available", "idle")

    requests = shared.requests()["requests"][before:]
    lists = [
        r for r in requests if r["method"] == "GET" and r["path"].rstrip("/").endswith(("/jobs", "/clusters"))
    ]
    singles = [
        r for r in requests if r["method"] == "GET" and ("/jobs/" in r["path"] or "/clusters/" in r["path"])
    ]
    # one direct GET per watcher to start, then only list calls (one per kind per poll), whatever
    # the number of watchers; per-resource polling would have cost 7 GETs per poll.
    assert len(singles) <= 7 + 2, singles
    # besides, only the free rate_limit_status call that reads the API's clock for the list's cursor
    gets = [r for r in requests if r["method"] == "GET" and not r["path"].endswith("/rate_limit_status")]
    assert len(gets) == len(singles) + len(lists), gets
    assert all(r["credit"] == 0 for r in requests if r["path"].endswith("/rate_limit_status"))
    job_lists = [r for r in lists if r["path"].rstrip("/").endswith("/jobs")]
    assert len(job_lists) < 40, len(job_lists)


def test_shared_watch_reports_transient_errors_then_recovers(shared):
    hook = XplentyHook()
    cluster = hook.create_cluster(nodes=2)
    shared.advance(5)
    job = hook.run_job(cluster.id, 101)
    shared.add_fault(kind="server_error", status=503, path_contains="/jobs", method="GET", count=3)
    event = asyncio.run(
        first(XplentyJobTrigger(job.id, poll_interval=0.1, hook_params={"retry_limit": 0}))
    ).payload
    assert validate_event(event, kind="job")["status"] == "success"


class FakeAsyncHook:
    """An async hook over jobs that never change (so they never show up in a ``since`` list)."""

    def __init__(self, latency=0.0, failing=None):
        self.latency = latency
        self.failing = dict(failing or {})  # job id -> transient failures left
        self.gets: list[int] = []
        self.lists = 0
        self.in_flight = 0
        self.most_in_flight = 0

    async def get_job(self, job_id):
        from airflow_provider_xplenty.models import Job

        self.gets.append(job_id)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.latency)
            if self.failing.get(job_id, 0) > 0:
                self.failing[job_id] -= 1
                raise XplentyApiError(503, "busy")
            return Job(id=job_id, status="running", updated_at="2026-01-01T00:00:00Z")
        finally:
            self.in_flight -= 1

    async def list_jobs(self, **kwargs):
        self.lists += 1
        for _ in ():
            yield _

    async def get_config(self):
        """Its own account, so that each fake hook gets its own poller."""
        return SimpleNamespace(base_url="http://fake.example", account_id=f"fake-{id(self)}")

    async def close(self):
        pass


def watch_jobs(hook, job_ids, *, poll_interval, seconds, transient_error_timeouts=None):
    """Watch jobs through one SharedStatusPoller (its API replaced by ``hook``) for a while."""
    timeouts = transient_error_timeouts or {}

    async def go():
        poller = SharedStatusPoller.for_connection("fake", {}, None)
        poller.direct._hook = hook

        async def one(job_id):
            seen = []
            stream = poller.watch(
                "job",
                job_id,
                poll_interval=poll_interval,
                transient_error_timeout=timeouts.get(job_id, 600.0),
            )
            try:
                async for snap in stream:
                    seen.append(snap.status)
            except XplentyApiError as error:
                seen.append(error)
            return seen

        tasks = [asyncio.ensure_future(one(j)) for j in job_ids]
        await asyncio.sleep(seconds)
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        return [r if not isinstance(r, asyncio.CancelledError) else None for r in results]

    return asyncio.run(go())


def test_safety_net_is_capped_round_robin_and_concurrent(monkeypatch):
    """50 unchanged jobs: at most 2 safety-net GETs per poll, in flight together, each job in turn."""
    monkeypatch.setattr(SharedStatusPoller, "REFRESH_EVERY", 1)
    hook = FakeAsyncHook(latency=0.05)
    jobs = list(range(1, 51))
    watch_jobs(hook, jobs, poll_interval=0.05, seconds=1.5)
    net = hook.gets[len(jobs) :]  # after the one direct GET per watcher at start
    assert hook.lists >= 5
    assert 0 < len(net) <= SharedStatusPoller.MAX_REFRESH_PER_POLL * hook.lists, (len(net), hook.lists)
    assert hook.most_in_flight >= 2  # the net's GETs run concurrently (gather)
    first_round = net[: len(set(net))]
    assert len(first_round) == len(set(first_round))  # round robin: no job twice before the others


def test_each_watcher_keeps_its_own_first_get_settings():
    """A later watcher with transient_error_timeout=0 must not make an earlier one give up."""
    hook = FakeAsyncHook(failing={1: 4})

    results = watch_jobs(
        hook, [1, 2], poll_interval=0.05, seconds=1.0, transient_error_timeouts={1: 600.0, 2: 0.0}
    )
    assert results == [None, None], results  # both still watching (cancelled at the end), no error
    assert hook.gets.count(1) >= 5


def test_two_connections_to_one_account_share_one_list(shared, monkeypatch):
    """Pollers are keyed by account: a second connection to the same account lists nothing itself."""
    import json
    import os

    conn = json.loads(os.environ["AIRFLOW_CONN_XPLENTY_DEFAULT"])
    monkeypatch.setenv("AIRFLOW_CONN_XP_TWIN", json.dumps({**conn, "description": "same account"}))
    monkeypatch.setenv("AIRFLOW_CONN_XP_OTHER", json.dumps({**conn, "extra": {"account_id": "another"}}))
    hook = XplentyHook()
    cluster = hook.create_cluster(nodes=2)
    shared.advance(5)
    first_job, second_job = (hook.run_job(cluster.id, 101) for _ in range(2))
    listers: list[int] = []
    original = SharedStatusPoller._list_pages

    async def list_pages(self, kind):
        listers.append(id(self))
        return await original(self, kind)

    monkeypatch.setattr(SharedStatusPoller, "_list_pages", list_pages)

    async def go():
        events = await asyncio.gather(
            first(XplentyJobTrigger(first_job.id, poll_interval=0.1)),
            first(XplentyJobTrigger(second_job.id, poll_interval=0.1, xplenty_conn_id="xp_twin")),
        )
        return [e.payload for e in events]

    events = asyncio.run(go())
    assert [validate_event(e, kind="job")["status"] for e in events] == ["success", "success"]
    assert len(set(listers)) == 1, "each connection listed the account for itself"

    async def other_account():
        source = SharedStatusPoller.for_connection("xp_other", {}, None)
        twin = SharedStatusPoller.for_connection("xp_twin", {}, None)
        return await source._account_poller() is source, await twin._account_poller() is twin

    assert asyncio.run(other_account()) == (True, True)  # another account: its own poller
