"""Shared watching at scale: N job triggers waiting at once in one asyncio loop, shared watcher off vs. on.

For N = 1, 10, 100 and 1,000, N jobs are submitted to an available cluster of the emulator (a child
process) with its clock frozen, so they all start together; then the clock runs (real time) and N
``XplentyJobTrigger`` instances run concurrently in one event loop, as a triggerer's ``TriggerRunner``
runs them (each ``run()`` generator until its first event, then closed). Twice per N: ``[xplenty]
shared_watcher`` off (one ``GET jobs/{id}`` per trigger per poll) and on (the shared poller's list).

Each run has three phases: start-up (the first ``STARTUP_POLLS`` intervals: every trigger reads its
first status), steady (until the jobs complete, with one status change per job on the way) and finish.
Measured per phase: API credits (the emulator's request log), the longest event-loop block (a 5 ms
sampler), CPU (this process's time / wall time); per run: RSS growth and the median detection latency
(event received - job completed). The table puts the goals of docs/scale.md beside the figures.

Call :func:`run` after :func:`_support.configure_airflow`. ``BENCH_SIZES=1,10`` runs fewer sizes.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import logging
import math
import os
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from _support import EmulatorProcess

POLL_INTERVAL = 2.0  # seconds between two polls of a trigger
STARTUP_POLLS = 2  # the start-up phase: this many intervals after the triggers start
# Emulated seconds (the clock runs at real speed once the triggers start): idle -> pending -> running
# at 1 s and 2 s (a status change per job in the steady phase), completed at 14 s.
DURATIONS = {"job_idle": 1, "job_pending": 1, "job_running": 12}
COMPLETES_AFTER = float(sum(DURATIONS.values()))
CAP_SECONDS = COMPLETES_AFTER + 15.0
SIZES = tuple(int(n) for n in os.environ.get("BENCH_SIZES", "1,10,100,1000").split(","))

GOALS = {
    "steady": "<= 2 + changes/100",
    "startup": "1 list + 1 page/100",
    "block": "< 100 ms",
    "cpu": "<= 0.10 core",
    "rss": "<= 150 MB",
    "latency": f"<= {POLL_INTERVAL + 1:.0f} s",
}


@dataclass
class Phase:
    credits: int = 0
    lists: int = 0
    gets: int = 0
    seconds: float = 0.0
    cpu: float = 0.0
    block: float = 0.0

    @property
    def polls(self) -> float:
        return max(self.seconds / POLL_INTERVAL, 1e-9)


@dataclass
class Result:
    n: int
    shared: bool
    phases: dict[str, Phase]
    events: Counter[str]
    rss_growth_mb: float
    latency_median: float
    gc_pause: float
    bad_statuses: Counter[str] = field(default_factory=Counter)


def _kind(entry: dict[str, Any]) -> str:
    path = entry["path"].split("?")[0].rstrip("/")
    if entry["method"] == "GET" and path.endswith("/jobs"):
        return "list"
    if entry["method"] == "GET" and "/jobs/" in path:
        return "get"
    return "other"


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Sampler:
    """Longest event-loop block per phase, the highest RSS and the longest garbage collection."""

    def __init__(self) -> None:
        self.block = 0.0
        self.rss = _rss_mb()
        self.gc_pause = 0.0
        self._gc_start = 0.0

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        else:
            self.gc_pause = max(self.gc_pause, time.perf_counter() - self._gc_start)

    async def run(self) -> None:
        ticks = 0
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            self.block = max(self.block, time.perf_counter() - before - 0.005)
            ticks += 1
            if ticks % 50 == 0:
                self.rss = max(self.rss, _rss_mb())


async def _first_event(trigger: Any, received: dict[int, float], job_id: int) -> dict[str, Any]:
    gen = trigger.run()
    try:
        event = await gen.__anext__()
        received[job_id] = time.monotonic()
        return dict(event.payload)
    finally:
        await gen.aclose()


async def _wait_all(emu: EmulatorProcess, job_ids: list[int], shared: bool) -> tuple[Any, ...]:
    """Run one trigger per job; return per-phase marks, events, receive times, RSS growth."""
    from airflow_provider_xplenty._waiting.shared import SharedStatusPoller
    from airflow_provider_xplenty.triggers.xplenty import XplentyJobTrigger

    rss_before = _rss_mb()
    sampler = Sampler()
    gc.callbacks.append(sampler.on_gc)
    sampling = asyncio.ensure_future(sampler.run())
    received: dict[int, float] = {}
    marks: list[tuple[str, float, float, int, float]] = []  # phase end: name, wall, cpu, log length, block

    async def mark(name: str) -> None:
        log_length = len((await asyncio.to_thread(emu.requests_log))["requests"])
        marks.append((name, time.monotonic(), time.process_time(), log_length, sampler.block))
        sampler.block = 0.0

    await asyncio.to_thread(emu.control, "POST", "clock", {"speed": 1.0, "durations": DURATIONS})
    started = time.monotonic()
    marks.append(("start", started, time.process_time(), 0, 0.0))
    end_time = time.time() + CAP_SECONDS
    triggers = [XplentyJobTrigger(j, poll_interval=POLL_INTERVAL, end_time=end_time) for j in job_ids]
    tasks = [
        asyncio.ensure_future(_first_event(t, received, j)) for t, j in zip(triggers, job_ids, strict=True)
    ]
    await asyncio.sleep(STARTUP_POLLS * POLL_INTERVAL)
    await mark("startup")
    await asyncio.sleep(max(0.0, started + COMPLETES_AFTER - time.monotonic()))
    await mark("steady")
    _, pending = await asyncio.wait(tasks, timeout=CAP_SECONDS)
    await mark("finish")
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    sampling.cancel()
    gc.callbacks.remove(sampler.on_gc)
    await asyncio.sleep(0.05)
    events = Counter(
        "cancelled" if t.cancelled() else str(t.result().get("status")) if t.exception() is None else "raised"
        for t in tasks
    )
    leaked = any(key[0] == id(asyncio.get_running_loop()) for key in SharedStatusPoller._registry)
    if leaked:
        events["leaked poller"] += 1
    completed_at = started + COMPLETES_AFTER
    latency = statistics.median(received[j] - completed_at for j in received) if received else math.nan
    return marks, events, sampler.rss - rss_before, latency, sampler.gc_pause


def _one_run(emu: EmulatorProcess, api: Any, cluster_id: int, n: int, shared: bool) -> Result:
    os.environ["AIRFLOW__XPLENTY__SHARED_WATCHER"] = "True" if shared else "False"
    emu.control("POST", "clock", {"speed": 0.0, "durations": DURATIONS})  # all jobs start together
    job_ids = []
    for _ in range(n):
        resp = api.post(f"{emu.api_url}/jobs", json={"cluster_id": cluster_id, "package_id": 101})
        resp.raise_for_status()
        job_ids.append(int(resp.json()["id"]))
    emu.clear_requests_log()
    marks, events, rss_growth, latency, gc_pause = asyncio.run(_wait_all(emu, job_ids, shared))
    log = emu.requests_log()["requests"]
    phases: dict[str, Phase] = {}
    for (_, wall0, cpu0, len0, _), (name, wall1, cpu1, len1, block) in itertools.pairwise(marks):
        entries = log[len0:len1]
        kinds = Counter(_kind(e) for e in entries)
        phases[name] = Phase(
            credits=sum(int(e.get("credit", 0)) for e in entries),
            lists=kinds["list"],
            gets=kinds["get"],
            seconds=wall1 - wall0,
            cpu=cpu1 - cpu0,
            block=block,
        )
    return Result(
        n=n,
        shared=shared,
        phases=phases,
        events=events,
        rss_growth_mb=rss_growth,
        latency_median=latency,
        gc_pause=gc_pause,
        bad_statuses=Counter(str(e["status"]) for e in log if e["status"] != 200),
    )


def _row(r: Result) -> str:
    start, steady = r.phases["startup"], r.phases["steady"]
    worst_block = max(p.block for p in r.phases.values())
    cpu, start_cpu = steady.cpu / steady.seconds, start.cpu / start.seconds
    events = ",".join(f"{k}={v}" for k, v in sorted(r.events.items()))
    return (
        f"{r.n:>5} {'on' if r.shared else 'off':>6} {start.credits:>7} {start.lists:>5} {start.gets:>5} "
        f"{steady.credits / steady.polls:>12.1f} {worst_block * 1000:>9.0f} {r.gc_pause * 1000:>6.0f} "
        f"{start_cpu:>9.2f} {cpu:>10.2f} {r.rss_growth_mb:>7.0f} {r.latency_median:>9.2f}  {events}"
    )


def run() -> list[Result]:
    """Measure and print the shared-watching table; return the results."""
    import airflow_provider_xplenty.triggers.xplenty  # noqa: F401  (not in the first run's figures)

    logging.getLogger("airflow").setLevel(logging.WARNING)
    logging.getLogger("airflow_provider_xplenty").setLevel(logging.WARNING)
    started = time.monotonic()
    results: list[Result] = []
    with EmulatorProcess(speed=1.0) as emu:
        emu.control("POST", "clock", {"speed": 1.0, "durations": DURATIONS, "max_running_jobs": 100000})
        api = emu.session()
        cluster = api.post(f"{emu.api_url}/clusters", json={"nodes": 2}).json()
        emu.advance(65)
        for n in SIZES:
            for shared in (False, True):
                results.append(_one_run(emu, api, int(cluster["id"]), n, shared))
        os.environ.pop("AIRFLOW__XPLENTY__SHARED_WATCHER", None)

    print()
    print(
        f"Shared watching at scale: N job triggers in one asyncio loop, poll_interval={POLL_INTERVAL:g} s; "
        f"jobs change status at 1 and 2 s and complete at {COMPLETES_AFTER:g} s; start-up = the first "
        f"{STARTUP_POLLS} intervals; credits = the emulator's request log"
    )
    print(
        f"{'N':>5} {'shared':>6} {'start-up credits':>13} {'list':>5} {'GET':>5} {'credits/poll':>12} "
        f"{'block ms':>9} {'GC ms':>6} {'CPU start':>9} {'CPU steady':>10} {'RSS MB':>7} "
        f"{'latency s':>9}  events"
    )
    print(
        f"{'goal':>12} {'1 + N/100':>13} {'':>11} {GOALS['steady']:>12} {GOALS['block']:>9} {'':>6} {'':>9} "
        f"{GOALS['cpu']:>10} {GOALS['rss']:>7} {GOALS['latency']:>9}"
    )
    for r in results:
        print(_row(r))
        if r.bad_statuses:
            print(f"    !! non-200 answers: {dict(r.bad_statuses)}")
    print(
        "   start-up credits include the first list of the steady polls; steady credits/poll include "
        "the status changes: a running job's updated_at moves with its progress, so every job changes "
        "between two polls (goal 2 + N/100)"
    )
    print(
        "   GC ms = the longest garbage collection in the run: a full collection walks the whole "
        "process (Airflow included) and blocks the loop as long"
    )
    print(f"   (section time {time.monotonic() - started:.1f} s)")
    return results
