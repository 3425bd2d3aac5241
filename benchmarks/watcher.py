"""Shared watching: API credits spent while N job triggers wait at once, shared watcher off vs. on.

For N = 1, 10 and 50, N jobs are submitted to an available cluster of the emulator (a child
process, fast clock), then N ``XplentyJobTrigger`` instances run concurrently in one asyncio loop,
as a triggerer runs them, until each has yielded its event (hard cap ``CAP_SECONDS``). The request
log is cleared after the submissions, so it holds exactly the requests the triggers made. Measured
twice per N: ``[xplenty] shared_watcher`` off (baseline: one ``GET jobs/{id}`` per trigger per
poll) and on (one shared ``GET jobs?sort=updated&since=...`` per poll, plus one direct ``GET`` per
trigger to start and as a safety net). Also shown: the longest time the event loop was blocked.

Call :func:`run` after :func:`_support.configure_airflow`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from _support import EmulatorProcess

POLL_INTERVAL = 0.2  # real seconds between two polls of a trigger
SPEED = 10.0  # emulated seconds per real second
# Emulated seconds: a job is idle 2 s, pending 3 s, running 20 s, i.e. about 2.5 real seconds (12 polls).
DURATIONS = {"job_idle": 2, "job_pending": 3, "job_running": 20}
# The "busy account" run: jobs run ~4.5 s (22 polls, more than the shared poller's REFRESH_EVERY = 10)
# while an unwatched job is submitted every BUSY_EVERY s, as other DAGs and schedules would.
BUSY_DURATIONS = {"job_idle": 2, "job_pending": 3, "job_running": 40}
BUSY_EVERY = 0.5
BUSY_N = 50
CAP_SECONDS = 10.0  # hard cap (real seconds) for one run; the triggers also get it as end_time
SIZES = (1, 10, 50)


@dataclass
class Result:
    n: int
    shared: bool
    seconds: float
    events: Counter[str]
    requests: int
    credits: int
    by_kind: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    timed_out: bool = False
    leaked_poller: bool = False
    max_loop_lag: float = 0.0
    busy: bool = False

    @property
    def intervals(self) -> float:
        return self.seconds / POLL_INTERVAL

    @property
    def credits_per_interval(self) -> float:
        return self.credits / self.intervals


def _kind(entry: dict[str, Any]) -> str:
    path = entry["path"].split("?")[0].rstrip("/")
    if entry["method"] == "GET" and path.endswith("/jobs"):
        return "list"
    if entry["method"] == "GET" and "/jobs/" in path:
        return "get"
    return f"{entry['method']} {path}"


async def _first_event(trigger: Any) -> dict[str, Any]:
    """The trigger's first event; then close its generator, as the triggerer does."""
    gen = trigger.run()
    try:
        event = await gen.__anext__()
        return dict(event.payload)
    finally:
        await gen.aclose()


async def _loop_lag(worst: list[float]) -> None:
    """Record in ``worst[0]`` the longest time the event loop was blocked (a triggerer's health signal)."""
    while True:
        before = time.perf_counter()
        await asyncio.sleep(0.005)
        worst[0] = max(worst[0], time.perf_counter() - before - 0.005)


async def _wait_all(job_ids: list[int]) -> tuple[list[dict[str, Any]], bool, bool, float]:
    """Run one trigger per job concurrently; return the events, whether the cap was hit, poller leak, lag."""
    from airflow_provider_xplenty.triggers.watcher import SharedStatusPoller
    from airflow_provider_xplenty.triggers.xplenty import XplentyJobTrigger

    end_time = time.time() + CAP_SECONDS
    triggers = [
        XplentyJobTrigger(job_id, poll_interval=POLL_INTERVAL, end_time=end_time) for job_id in job_ids
    ]
    worst = [0.0]
    lag = asyncio.ensure_future(_loop_lag(worst))
    tasks = [asyncio.ensure_future(_first_event(t)) for t in triggers]
    _, pending = await asyncio.wait(tasks, timeout=CAP_SECONDS + 2)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    lag.cancel()
    await asyncio.sleep(0.05)  # let async generators finalised by GC close their streams
    events = []
    for task in tasks:
        if task.cancelled():
            events.append({"status": "cancelled"})
        elif task.exception() is not None:
            events.append({"status": f"raised {type(task.exception()).__name__}"})
        else:
            events.append(task.result())
    # The shared poller of this loop must be gone once nobody watches (docs/operators.md, shared watching).
    leaked = any(key[0] == id(asyncio.get_running_loop()) for key in SharedStatusPoller._registry)
    return events, bool(pending), leaked, worst[0]


def _submit_unwatched(emu: EmulatorProcess, cluster_id: int, stop: threading.Event) -> None:
    """Submit a job nobody watches every ``BUSY_EVERY`` seconds until ``stop`` is set."""
    session = emu.session()
    while not stop.wait(BUSY_EVERY):
        session.post(f"{emu.api_url}/jobs", json={"cluster_id": cluster_id, "package_id": 102})
    session.close()


def _one_run(
    emu: EmulatorProcess, api: Any, cluster_id: int, n: int, shared: bool, busy: bool = False
) -> Result:
    os.environ["AIRFLOW__XPLENTY__SHARED_WATCHER"] = "True" if shared else "False"
    job_ids = []
    for _ in range(n):
        resp = api.post(f"{emu.api_url}/jobs", json={"cluster_id": cluster_id, "package_id": 101})
        resp.raise_for_status()
        job_ids.append(int(resp.json()["id"]))
    emu.clear_requests_log()
    stop = threading.Event()
    background = threading.Thread(target=_submit_unwatched, args=(emu, cluster_id, stop), daemon=True)
    if busy:
        background.start()
    started = time.monotonic()
    try:
        events, timed_out, leaked, lag = asyncio.run(_wait_all(job_ids))
    finally:
        stop.set()
    seconds = time.monotonic() - started
    if busy:
        background.join()
    # Only the triggers' reads count (the background submissions are not the triggers' doing).
    entries = [e for e in emu.requests_log()["requests"] if e["method"] == "GET"]
    return Result(
        n=n,
        shared=shared,
        seconds=seconds,
        events=Counter(str(e.get("status")) for e in events),
        requests=len(entries),
        credits=sum(int(e.get("credit", 0)) for e in entries),
        busy=busy,
        by_kind=Counter(_kind(e) for e in entries),
        statuses=Counter(str(e["status"]) for e in entries),
        timed_out=timed_out,
        leaked_poller=leaked,
        max_loop_lag=lag,
    )


def run() -> list[Result]:
    """Measure and print the shared-watching table; return the results."""
    # Import now, so that the first measured run does not pay for it.
    import airflow_provider_xplenty.triggers.xplenty  # noqa: F401

    logging.getLogger("airflow").setLevel(logging.WARNING)
    started = time.monotonic()
    results: list[Result] = []
    with EmulatorProcess(speed=SPEED) as emu:
        emu.control("POST", "clock", {"speed": SPEED, "durations": DURATIONS})
        api = emu.session()
        cluster = api.post(f"{emu.api_url}/clusters", json={"nodes": 2}).json()
        emu.advance(65)
        for n in SIZES:
            for shared in (False, True):
                results.append(_one_run(emu, api, int(cluster["id"]), n, shared))
        emu.control("POST", "clock", {"speed": SPEED, "durations": BUSY_DURATIONS})
        for shared in (False, True):
            results.append(_one_run(emu, api, int(cluster["id"]), BUSY_N, shared, busy=True))
        os.environ.pop("AIRFLOW__XPLENTY__SHARED_WATCHER", None)

    print()
    print(
        f"Shared watching: N job triggers in one asyncio loop, poll_interval={POLL_INTERVAL} s, jobs run "
        f"~{sum(DURATIONS.values()) / SPEED:.1f} s (emulator x{SPEED:g}), cap {CAP_SECONDS:.0f} s; credits "
        "= the triggers' GETs in the emulator's request log"
    )
    print(
        f"{'N':>5} {'shared_watcher':>14} {'events':>11} {'wall s':>6} {'GET id':>6} {'(/job)':>6} "
        f"{'list':>4} {'credits':>7} {'credits/interval':>16} {'vs off':>6} {'loop lag':>8}"
    )
    baseline: dict[tuple[int, bool], Result] = {}
    for r in results:
        if r.busy and not baseline.get((r.n, True)):
            print(
                f"busy account: jobs run ~{sum(BUSY_DURATIONS.values()) / SPEED:.1f} s while an unwatched "
                f"job is submitted every {BUSY_EVERY} s"
            )
        if not r.shared:
            baseline[(r.n, r.busy)] = r
        base = baseline[(r.n, r.busy)]
        ratio = r.credits / base.credits if base.credits else 0.0
        events = ",".join(f"{k}={v}" for k, v in sorted(r.events.items()))
        print(
            f"{r.n:>4}{'b' if r.busy else ' '} {'on' if r.shared else 'off (baseline)':>14} {events:>11} "
            f"{r.seconds:6.2f} {r.by_kind['get']:6d} {r.by_kind['get'] / r.n:6.1f} {r.by_kind['list']:4d} "
            f"{r.credits:7d} {r.credits_per_interval:16.1f} {ratio:6.0%} {r.max_loop_lag * 1000:6.0f}ms"
        )
        other = {k: v for k, v in r.by_kind.items() if k not in ("get", "list")}
        bad = {k: v for k, v in r.statuses.items() if k != "200"}
        if other or bad or r.timed_out or r.leaked_poller:
            print(
                f"    !! other requests {other}, non-200 statuses {bad}, hit the cap: {r.timed_out}, "
                f"shared poller left running: {r.leaked_poller}"
            )
    print(
        "-> off: each trigger GETs its job once per poll (a poll about every "
        + ", ".join(
            f"N={r.n}{'b' if r.busy else ''}: {r.seconds / max(r.by_kind['get'] / r.n - 1, 1):.2f} s"
            for r in results
            if not r.shared
        )
        + ": poll_interval + answer time), so credits/interval grow with N"
    )
    print(
        "   loop lag = longest event-loop block; off, each trigger's hook builds its own httpx.AsyncClient "
        "(they share one TLS context, which alone would cost ~20 ms of blocking CPU per client)"
    )
    print(
        "-> on: one direct GET per job to start, then per interval: "
        + ", ".join(
            f"N={r.n}{'b' if r.busy else ''}: {r.by_kind['list'] / r.intervals:.2f} list "
            f"+ {(r.by_kind['get'] - r.n) / r.intervals:.2f} safety-net GET"
            for r in results
            if r.shared
        )
    )
    print(f"   (section time {time.monotonic() - started:.1f} s)")
    return results
