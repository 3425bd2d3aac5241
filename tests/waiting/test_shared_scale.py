"""Shared watching at scale (docs/scale.md): start-up from the list, bounded GETs, one poller each."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from airflow_provider_xplenty._waiting.events import snapshot_of
from airflow_provider_xplenty._waiting.shared import SharedStatusPoller
from airflow_provider_xplenty.hooks.xplenty import XplentyHook
from airflow_provider_xplenty.models import Job

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch):
    monkeypatch.setattr(SharedStatusPoller, "_registry", {})


class ListingHook:
    """An async hook whose ``list_jobs`` serves ``self.jobs`` (newest first, ``since`` honoured)."""

    def __init__(self, jobs, *, page_pause=0.0):
        self.jobs = list(jobs)
        self.page_pause = page_pause
        self.gets: list[int] = []
        self.gets_after_list: list[tuple[int, int]] = []  # (list calls so far, job id)
        self.lists = 0
        self.items_read = 0
        self.on_list = None

    async def get_job(self, job_id):
        self.gets.append(job_id)
        self.gets_after_list.append((self.lists, job_id))
        return next(j for j in self.jobs if j.id == job_id)

    async def list_jobs(self, *, sort=None, direction=None, since=None):
        self.lists += 1
        if self.on_list is not None:
            self.on_list(self)
        jobs = sorted(self.jobs, key=lambda j: j.updated_at, reverse=True)
        for index, job in enumerate(j for j in jobs if since is None or j.updated_at >= since):
            if index and index % 100 == 0:
                await asyncio.sleep(self.page_pause)  # the next page
            self.items_read += 1
            yield job

    async def get_config(self):
        """Its own account, so that each fake hook gets its own poller."""
        return SimpleNamespace(base_url="http://fake.example", account_id=f"fake-{id(self)}")

    async def close(self):
        pass


def job(job_id, status="running", age=timedelta(0)):
    return Job(id=job_id, status=status, updated_at=NOW - age)


async def first_snapshots(poller, ids, interval=0.05):
    """Each watcher's first snapshot, then stop watching."""

    async def one(rid):
        stream = poller.watch("job", rid, poll_interval=interval, transient_error_timeout=600.0)
        try:
            return await stream.__anext__()
        finally:
            await stream.aclose()

    return await asyncio.wait_for(asyncio.gather(*(one(i) for i in ids)), timeout=10)


def test_start_up_reads_the_list_not_one_get_per_watcher(xplenty_emulator):
    """150 waits starting together: their first statuses come from one list (2 pages), no GET each."""
    xplenty_emulator.set_speed(0.0)
    hook = XplentyHook()
    cluster = hook.create_cluster(nodes=2)
    xplenty_emulator.advance(600)
    jobs = [hook.run_job(cluster.id, 101) for _ in range(150)]
    before = len(xplenty_emulator.requests()["requests"])

    async def go():
        poller = SharedStatusPoller.for_connection("xplenty_default", {}, None)
        return await first_snapshots(poller, [j.id for j in jobs])

    snaps = asyncio.run(go())
    assert [s.resource_id for s in snaps] == [j.id for j in jobs]
    sent = [r for r in xplenty_emulator.requests()["requests"][before:] if r["method"] == "GET"]
    singles = [r for r in sent if "/jobs/" in r["path"]]
    lists = [r for r in sent if r["path"].rstrip("/").endswith("/jobs")]
    assert not singles, singles  # before: one GET per watcher (150 credits at once)
    assert len(lists) <= 2 + 1, lists  # one call + one page per 100 (maybe one more list)


def test_direct_gets_at_start_are_bounded_per_poll():
    """Jobs the list does not show (unchanged for long): at most MAX_FIRST_GETS_PER_POLL GETs per list."""
    recent = [job(i, age=timedelta(seconds=i)) for i in range(100, 200)]  # other DAGs' jobs
    hook = ListingHook([*recent, *(job(i, age=timedelta(hours=5)) for i in range(1, 31))])

    async def go():
        poller = SharedStatusPoller.for_connection("fake", {}, None)
        poller.direct._hook = hook
        return await first_snapshots(poller, range(1, 31))

    assert len(asyncio.run(go())) == 30
    assert len(hook.gets) == 30
    assert hook.lists >= 30 // SharedStatusPoller.MAX_FIRST_GETS_PER_POLL


def test_first_list_reads_back_a_bounded_time():
    """A watcher of a job unchanged for 10 hours: the first list stops after FIRST_LOOKBACK, not 600 jobs."""
    old = job(1, age=timedelta(hours=10))
    history = [job(i, status="completed", age=timedelta(minutes=i)) for i in range(2, 600)]
    hook = ListingHook([old, *history])

    async def go():
        poller = SharedStatusPoller.for_connection("fake", {}, None)
        poller.direct._hook = hook
        stream = poller.watch("job", 1, poll_interval=0.05, transient_error_timeout=600.0)
        first = await asyncio.wait_for(stream.__anext__(), timeout=5)
        consume = asyncio.ensure_future(stream.__anext__())
        await asyncio.sleep(0.3)  # a few polls
        consume.cancel()
        await asyncio.gather(consume, return_exceptions=True)
        await stream.aclose()
        return first

    assert asyncio.run(go()).status == "running"
    assert hook.items_read < 100, hook.items_read  # before: every job since the watcher's updated_at


def test_a_watcher_that_fired_during_a_long_list_is_not_fetched_again(monkeypatch):
    """Job 1 completes; its watcher stops while the list pages on: the safety net must not GET it."""
    monkeypatch.setattr(SharedStatusPoller, "REFRESH_EVERY", 0)  # every watched job is due for a GET
    monkeypatch.setattr(SharedStatusPoller, "MAX_REFRESH_PER_POLL", 1)
    others = [job(i, age=timedelta(seconds=1)) for i in range(2, 250)]
    hook = ListingHook([job(1), *others], page_pause=0.05)

    def finish_job_1(h):
        if h.lists == 2:
            h.jobs[0] = Job(id=1, status="completed", updated_at=NOW + timedelta(seconds=30))

    hook.on_list = finish_job_1

    async def go():
        poller = SharedStatusPoller.for_connection("fake", {}, None)
        poller.direct._hook = hook

        async def until_completed():
            async for snap in poller.watch("job", 1, poll_interval=0.2, transient_error_timeout=600):
                if snap.status == "completed":
                    return

        async def keep_watching(rid):
            async for _ in poller.watch("job", rid, poll_interval=0.2, transient_error_timeout=600):
                pass

        others_watch = [asyncio.ensure_future(keep_watching(j.id)) for j in others]
        await asyncio.wait_for(until_completed(), timeout=5)
        await asyncio.sleep(0.3)  # the safety net after the list that published job 1
        for task in others_watch:
            task.cancel()
        await asyncio.gather(*others_watch, return_exceptions=True)

    asyncio.run(go())
    assert not [g for g in hook.gets_after_list if g[1] == 1 and g[0] >= 2], hook.gets_after_list


def test_one_poller_per_connection_whatever_the_hook_params():
    """Different retry settings do not multiply pollers: one per connection, the most patient settings."""

    async def go():
        a = SharedStatusPoller.for_connection("c", {"retry_limit": 1, "timeout": 30}, None)
        b = SharedStatusPoller.for_connection("c", {"retry_limit": 5}, None)
        c = SharedStatusPoller.for_connection("other", {}, None)
        return a, b, c

    a, b, c = asyncio.run(go())
    assert a is b and a is not c
    assert a.direct.hook_params == {"retry_limit": 5, "timeout": 30}


def test_one_impatient_watcher_does_not_drive_the_list_for_all():
    """Ten watchers at 0.5 s and one at 0.02 s: the list runs at the median (0.5 s), not every 0.02 s."""
    hook = ListingHook([job(i) for i in range(1, 12)])

    async def go():
        poller = SharedStatusPoller.for_connection("fake", {}, None)
        poller.direct._hook = hook

        async def watch(rid, interval):
            async for _ in poller.watch("job", rid, poll_interval=interval, transient_error_timeout=600):
                pass

        tasks = [asyncio.ensure_future(watch(i, 0.5)) for i in range(1, 11)]
        tasks.append(asyncio.ensure_future(watch(11, 0.02)))
        await asyncio.sleep(1.6)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(go())
    assert hook.lists <= 6, hook.lists  # before: a list every 0.02 s (~80)


def test_a_snapshot_keeps_only_what_waits_use():
    """A shared poller holds a snapshot per watched job: a few slots, not a dict copy of the API object."""
    api_job = Job(id=1, status="running", progress=0.5, variables={"a": "b"}, html_url="https://x/jobs/1")
    snap = snapshot_of("job", api_job)
    assert not hasattr(snap, "__dict__")  # before: a dict per snapshot, and a model_dump per listed job
    assert {f.name for f in dataclasses.fields(snap)} == {
        "kind",
        "resource_id",
        "status",
        "observed_at",
        "progress",
        "html_url",
        "errors",
    }
    assert (snap.status, snap.progress, snap.html_url, snap.errors) == (
        "running",
        0.5,
        "https://x/jobs/1",
        None,
    )


def test_publishing_is_incremental_an_unchanged_job_wakes_nobody():
    """A job listed again unchanged (the list's since margin) is not handed to its watcher again."""
    hook = ListingHook([job(1)])

    async def go():
        poller = SharedStatusPoller.for_connection("fake", {}, None)
        poller.direct._hook = hook
        seen = []

        async def watch():
            async for snap in poller.watch("job", 1, poll_interval=0.05, transient_error_timeout=600):
                seen.append(snap)

        task = asyncio.ensure_future(watch())
        await asyncio.sleep(0.5)
        lists_while_unchanged = hook.lists
        hook.jobs[0] = Job(id=1, status="running", progress=0.5, updated_at=NOW + timedelta(seconds=1))
        await asyncio.sleep(0.3)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return seen, lists_while_unchanged

    seen, lists = asyncio.run(go())
    assert lists >= 4  # listed again and again ...
    assert [s.progress for s in seen] == [0.0, 0.5]  # ... handed over once, then once more when it changed


def test_watchers_arriving_one_per_loop_turn_share_one_start_up_list(monkeypatch):
    """A triggerer creates its triggers one per loop turn: the batch's first statuses cost one list.

    Before, the first list ran as soon as the first watcher arrived, and the rest of the batch needed
    another one.
    """
    monkeypatch.setattr(SharedStatusPoller, "START_DELAY", 0.5)  # generous on a loaded machine
    hook = ListingHook([job(i, age=timedelta(seconds=i % 50)) for i in range(1, 301)])

    async def go():
        poller = SharedStatusPoller.for_connection("fake", {}, None)
        poller.direct._hook = hook
        firsts = []

        async def wait(rid):  # keeps watching, so the poller stays up until all have their first status
            stream = poller.watch("job", rid, poll_interval=2.0, transient_error_timeout=600.0)
            await stream.__anext__()
            return stream

        for rid in range(1, 301):
            await asyncio.sleep(0)  # as TriggerRunner.create_triggers
            firsts.append(asyncio.ensure_future(wait(rid)))
        streams = await asyncio.wait_for(asyncio.gather(*firsts), timeout=10)
        lists = hook.lists
        for stream in streams:
            await stream.aclose()
        return lists

    assert asyncio.run(go()) == 1
