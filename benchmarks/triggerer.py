"""Waits in a real ``airflow triggerer``: N task instances the scheduler deferred (``make bench-triggerer``).

Each configuration starts a fresh ``make ui`` stack (:class:`airflow_stack.AirflowStack`: the emulator
and Airflow's api-server, scheduler, dag-processor and triggerer) with the DAGs of
``benchmarks/dags/xplenty_triggerer_bench.py``: N one-task DAGs whose ``XplentyJobSensor`` task the
scheduler defers straight to an ``XplentyJobTrigger`` (``start_from_trigger``), so N triggers reach
the triggerer in a burst without N worker runs on this small machine. Before that, N jobs are
submitted to the emulator with its clock frozen, a quarter of a second apart, to run ``RUNNING`` s:
they progress (a ``progress`` step every tenth of the run) and complete spread over ``N / 4`` s.
Then the clock runs at real speed and the DAGs are unpaused (t0); once every task instance is
deferred, they are paused again, so the resumed tasks do not load the machine while the triggerer is
measured (detection is read at the trigger's event, not at the task's success).

Measured, by PID, for the triggerer processes and their children (``psutil``): CPU (core fraction:
CPU seconds / wall seconds) in three phases (start-up: t0 until every trigger started, then one
interval after the first status read since; steady: until the first job completes; finish: until
the last event), and RSS growth (peak in
the window minus the idle triggerer's RSS before t0). From the emulator: credits (its hourly counter,
read every second through the free ``rate_limit_status``; lists and direct ``GET``s from its request
log), per phase and extrapolated per hour. Detection latency: when the event reached the task
instance (its ``scheduled_dttm``, stored by the triggerer with the event) minus the job's completion
time on the emulator clock; also from the "Trigger fired event" lines of the task's trigger log, for
the triggers whose line landed there (Airflow 3.3 writes the last lines of some triggers to the
triggerer's own log instead). Event-loop block: Airflow's own watchdog
("Triggerer's async thread was blocked for X seconds", threshold lowered to 0.15 s: it sleeps 0.1 s,
so blocks over 50 ms are logged; the block is X - 0.1).

Configurations (``BENCH_TRIGGERER_CONFIGS=a,b,c,d``, ``BENCH_TRIGGERER_N``, default 200;
``BENCH_TRIGGERER_KEEP=1`` keeps each stack's home, logs and ``bench-samples.json`` included):
a) one triggerer, one connection, shared poller (the default); b) the same with ``[xplenty]
shared_watcher = False`` (one ``GET`` per trigger per poll) on an account with no credit limit, so
the raw cost shows (the budget guard would otherwise cap it); c) two connections to the same account,
every other task on each; d) two triggerers (``[triggerer] capacity`` N/2 each, so they split the
triggers). a, c and d run against the real 5,000 credits/h account limit.
"""

from __future__ import annotations

import contextlib
import glob
import json
import math
import os
import re
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from _support import ACCEPT, request_kind  # noqa: E402
from airflow_stack import AirflowStack, free_port  # noqa: E402

N = int(os.environ.get("BENCH_TRIGGERER_N", "200"))
CONFIG_KEYS = os.environ.get("BENCH_TRIGGERER_CONFIGS", "a,b,c,d").split(",")
POLL_INTERVAL = 5.0
RUNNING = float(os.environ.get("BENCH_TRIGGERER_RUNNING", "180"))  # emulated s a job runs
STEP = 0.25  # s between two job submissions (emulated), so completions spread over N * STEP
FIRST_JOB = 5001  # the emulator's first job id after a fresh start
ACCOUNT_LIMIT = 5000  # credits per hour of an Xplenty account
BUDGET = ACCOUNT_LIMIT * 0.5  # [xplenty] budget_share default: Airflow's share of it
BLOCK_THRESHOLD = 0.15  # Airflow's watchdog sleeps 0.1 s; it logs when a turn took longer than this
BLOCKED = re.compile(r"async thread was blocked for ([0-9.]+) seconds")
TS = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)(Z|[+-]\d\d:?\d\d)?")


@dataclass(frozen=True)
class Config:
    key: str
    title: str
    shared: bool = True
    conns: int = 1
    triggerers: int = 1
    unlimited: bool = False


CONFIGS = {
    "a": Config("a", "shared, 1 conn, 1 triggerer"),
    "b": Config("b", "per-trigger GET, 1 conn, 1 trig.", shared=False, unlimited=True),
    "c": Config("c", "shared, 2 conns, 1 triggerer", conns=2),
    "d": Config("d", "shared, 1 conn, 2 triggerers", triggerers=2),
}


@dataclass
class Sample:
    t: float
    cpu: dict[str, float]  # per triggerer process name: CPU seconds of it and its children
    rss: dict[str, float]  # MB
    credits: int  # spent since t0's reference
    trigger_logs: int


@dataclass
class Result:
    config: Config
    n: int
    load: tuple[float, float]
    phases: dict[str, tuple[float, float]]  # name -> (start, end)
    cpu: dict[str, float]  # phase -> core fraction (all triggerers)
    cpu_each: dict[str, float]  # triggerer -> core fraction over the window
    rss_growth: float
    rss_growth_each: dict[str, float]
    credits: dict[str, int]  # phase -> credits
    kinds: dict[str, Counter[str]]  # phase -> list / get / other
    per_hour_steady: float
    per_hour_window: float
    events: int  # task instances the trigger's event reached
    events_logged: int  # "Trigger fired event" lines found in the trigger logs (Airflow loses some)
    statuses: Counter[str]
    latency: list[float]  # event on the task instance - job completed
    latency_log: list[float]  # "Trigger fired event" - job completed, for the logged ones
    max_block: float
    blocks_over_100ms: int
    idle_block: float  # the same watchdog over the 10 idle seconds before t0: this machine's noise
    triggers_per_triggerer: Counter[str] = field(default_factory=Counter)


def _tree(proc: psutil.Process) -> list[psutil.Process]:
    with contextlib.suppress(psutil.Error):
        return [proc, *proc.children(recursive=True)]
    return []


class Sampler(threading.Thread):
    """Every second: CPU and RSS of each triggerer's process tree, credits spent, trigger logs started."""

    def __init__(self, stack: AirflowStack, api: requests.Session, api_url: str, log_glob: str) -> None:
        super().__init__(daemon=True)
        self.stack = stack
        self.api = api
        self.api_url = api_url
        self.log_glob = log_glob
        self.samples: list[Sample] = []
        self.stop_event = threading.Event()
        self._cpu_seen: dict[int, float] = {}  # pid -> last CPU seconds (kept after a child exits)
        self._remaining0: int | None = None
        names = ["triggerer"] + [f"triggerer-{i}" for i in range(2, stack.triggerers + 1)]
        self.procs = {name: psutil.Process(stack.procs[name].pid) for name in names}
        self._owner: dict[int, str] = {}

    def reset_credits(self) -> None:
        self._remaining0 = None

    def _remaining(self) -> int:
        body = self.api.get(f"{self.api_url}/rate_limit_status", timeout=10).json()
        return int(body["limits"]["remaining"])

    def sample(self) -> Sample:
        now = time.time()
        rss: dict[str, float] = {}
        for name, root in self.procs.items():
            total = 0.0
            for proc in _tree(root):
                with contextlib.suppress(psutil.Error):
                    times = proc.cpu_times()
                    self._cpu_seen[proc.pid] = times.user + times.system
                    self._owner[proc.pid] = name
                    total += proc.memory_info().rss / 2**20
            rss[name] = total
        cpu: dict[str, float] = dict.fromkeys(self.procs, 0.0)
        for pid, seconds in self._cpu_seen.items():
            cpu[self._owner[pid]] += seconds
        remaining = self._remaining()
        if self._remaining0 is None:
            self._remaining0 = remaining
        logs = len(glob.glob(self.log_glob))
        return Sample(now, cpu, rss, self._remaining0 - remaining, logs)

    def run(self) -> None:
        while not self.stop_event.is_set():
            started = time.monotonic()
            with contextlib.suppress(requests.RequestException):
                self.samples.append(self.sample())
            self.stop_event.wait(max(0.0, 1.0 - (time.monotonic() - started)))


def _epoch(text: str) -> float | None:
    match = TS.search(text)
    if not match:
        return None
    stamp = match.group(1) + (match.group(2) or "+00:00").replace("Z", "+00:00")
    return datetime.fromisoformat(stamp).timestamp()


def _db(stack: AirflowStack) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{stack.home / 'airflow.db'}?mode=ro", uri=True, timeout=10)
    return conn


def _query(stack: AirflowStack, sql: str) -> list[tuple[Any, ...]]:
    for _ in range(10):
        try:
            with contextlib.closing(_db(stack)) as conn:
                return list(conn.execute(sql))
        except sqlite3.OperationalError:
            time.sleep(0.2)
    return []


def _ti_states(stack: AirflowStack) -> Counter[str]:
    rows = _query(
        stack,
        "SELECT coalesce(state, 'none'), count(*) FROM task_instance "
        "WHERE dag_id LIKE 'xplenty_bench_%' AND dag_id != 'xplenty_bench_warmup' GROUP BY state",
    )
    return Counter({str(state): int(count) for state, count in rows})


def _set_paused(stack: AirflowStack, paused: bool) -> None:
    resp = requests.patch(
        f"{stack.url}/api/v2/dags",
        params={"dag_id_pattern": "xplenty_bench_%", "update_mask": "is_paused", "limit": str(N + 1)},
        json={"is_paused": paused},
        timeout=60,
    )
    resp.raise_for_status()
    changed = resp.json().get("total_entries")
    if changed != N + 1:  # with xplenty_bench_warmup
        raise RuntimeError(f"pausing {paused}: {changed} DAGs changed, expected {N + 1}")


def _warm_up(stack: AirflowStack) -> None:
    """Run the warm-up DAG (a start-from-trigger wait for cluster 1001) to its end."""
    requests.patch(
        f"{stack.url}/api/v2/dags/xplenty_bench_warmup", json={"is_paused": False}, timeout=60
    ).raise_for_status()
    deadline = time.monotonic() + 300
    state: list[tuple[Any, ...]] = []
    while time.monotonic() < deadline:
        stack._check_alive()
        state = _query(stack, "SELECT state FROM task_instance WHERE dag_id = 'xplenty_bench_warmup'")
        if state == [("success",)]:
            return
        time.sleep(2)
    raise TimeoutError(f"the warm-up task did not succeed within 300 s: {state}")


class Emulator:
    """Control routes and the API of the stack's emulator."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.api_url = f"{url}/demo/api"
        self.http = requests.Session()
        self.api = requests.Session()
        self.api.auth = ("demo-api-key", "")
        self.api.headers["Accept"] = ACCEPT

    def control(self, method: str, path: str, body: Any = None) -> Any:
        resp = self.http.request(method, f"{self.url}/_emulator/{path}", json=body, timeout=60)
        resp.raise_for_status()
        return resp.json() if resp.content else None

    def create_cluster(self) -> int:
        """Create cluster 1001 and let it become available."""
        resp = self.api.post(f"{self.api_url}/clusters", json={"nodes": 2}, timeout=30)
        resp.raise_for_status()
        self.control("POST", "advance", {"seconds": 70})
        return int(resp.json()["id"])

    def submit_jobs(self, cluster_id: int) -> tuple[list[float], float]:
        """Submit N jobs ``STEP`` emulated s apart; return their emulated submit times and run time."""
        info = self.control("POST", "clock", {"durations": {"job_running": RUNNING}})
        durations = info["durations"]
        run_time = float(durations["job_idle"] + durations["job_pending"] + durations["job_running"])
        epoch = float(self.control("POST", "clock", {"speed": 0})["epoch"])
        submitted = []
        for index in range(N):
            resp = self.api.post(
                f"{self.api_url}/jobs",
                json={"cluster_id": cluster_id, "package_id": 103},
                timeout=30,
            )
            resp.raise_for_status()
            if resp.json()["id"] != FIRST_JOB + index:
                raise RuntimeError(f"job {index} got id {resp.json()['id']}, expected {FIRST_JOB + index}")
            submitted.append(epoch)
            epoch = float(self.control("POST", "advance", {"seconds": STEP})["epoch"])
        return submitted, run_time


def _block_lines(stack: AirflowStack, since: float) -> list[tuple[float, float]]:
    """(time, seconds) of each event-loop block Airflow's watchdog logged since ``since``."""
    blocks = []
    for path in stack.log_dir.glob("triggerer*.log"):
        for line in path.read_text(errors="replace").splitlines():
            match = BLOCKED.search(line)
            if not match:
                continue
            at = _epoch(line)
            if at is not None and at >= since:
                blocks.append((at, float(match.group(1)) - 0.1))
    return blocks


def _resumed(stack: AirflowStack) -> dict[int, float]:
    """Job id -> when the trigger's event reached the task instance (``scheduled_dttm``, UTC)."""
    rows = _query(
        stack,
        "SELECT dag_id, scheduled_dttm FROM task_instance WHERE dag_id LIKE 'xplenty_bench_%' "
        "AND dag_id != 'xplenty_bench_warmup' AND state != 'deferred' AND scheduled_dttm IS NOT NULL",
    )
    resumed = {}
    for dag_id, stamp in rows:
        at = _epoch(str(stamp).replace(" ", "T"))
        if at is not None:
            resumed[FIRST_JOB + int(str(dag_id).rsplit("_", 1)[1])] = at
    return resumed


def _fired(log_glob: str) -> tuple[dict[int, float], Counter[str], Counter[str]]:
    """Job id -> time of "Trigger fired event"; event statuses; triggers started per triggerer job."""
    fired: dict[int, float] = {}
    statuses: Counter[str] = Counter()
    per_triggerer: Counter[str] = Counter()
    for path in glob.glob(log_glob):
        index = int(re.search(r"dag_id=xplenty_bench_(\d+)", path).group(1))  # type: ignore[union-attr]
        per_triggerer[path.rsplit(".trigger.", 1)[1].split(".")[0]] += 1
        for line in Path(path).read_text(errors="replace").splitlines():
            if "Trigger fired event" not in line:
                continue
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                at = _epoch(str(record.get("timestamp", "")))
                if at is not None:
                    fired[FIRST_JOB + index] = at
                status = re.search(r"'status': '(\w+)'", str(record.get("result", "")))
                statuses[status.group(1) if status else "?"] += 1
    return fired, statuses, per_triggerer


def _at(samples: list[Sample], when: float) -> Sample:
    """The last sample at or before ``when`` (the first one if none)."""
    best = samples[0]
    for sample in samples:
        if sample.t <= when:
            best = sample
    return best


def run_config(config: Config) -> Result:
    home = Path(tempfile.mkdtemp(prefix=f"xplenty-bench-triggerer-{config.key}-"))
    emulator_port = free_port()
    conns = ["xplenty_default"]
    extra_env = {
        "XPLENTY_BENCH_N": str(N),
        "XPLENTY_BENCH_FIRST_JOB": str(FIRST_JOB),
        "XPLENTY_BENCH_POLL_INTERVAL": str(POLL_INTERVAL),
        "AIRFLOW__XPLENTY__SHARED_WATCHER": str(config.shared),
        "AIRFLOW__TRIGGERER__BLOCKED_MAIN_THREAD_WARNING_THRESHOLD": str(BLOCK_THRESHOLD),
        "AIRFLOW__TRIGGERER__CAPACITY": str(math.ceil(N / config.triggerers)),
        "AIRFLOW__SCHEDULER__MAX_DAGRUNS_TO_CREATE_PER_LOOP": str(N),
        "AIRFLOW__SCHEDULER__MAX_DAGRUNS_PER_LOOP_TO_SCHEDULE": str(N),
        "AIRFLOW__API__MAXIMUM_PAGE_LIMIT": str(max(N, 100)),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "600",
    }
    if config.conns == 2:
        conns.append("xplenty_bench_b")
        extra_env["AIRFLOW_CONN_XPLENTY_BENCH_B"] = json.dumps(
            {
                "conn_type": "xplenty",
                "host": f"http://127.0.0.1:{emulator_port}",
                "password": "demo-api-key",
                "extra": {"account_id": "demo"},
            }
        )
    extra_env["XPLENTY_BENCH_CONNS"] = ",".join(conns)
    stack = AirflowStack(
        home,
        api_port=free_port(),
        emulator_port=emulator_port,
        emulator_speed=1.0,
        extra_env=extra_env,
        dags_folder=ROOT / "benchmarks" / "dags",
        triggerers=config.triggerers,
    )
    log_glob = str(home / "logs" / "dag_id=xplenty_bench_[0-9]*" / "*" / "*" / "*.log.trigger.*.log")
    try:
        print(f"[{config.key}] starting the stack in {home} ...", flush=True)
        stack.start(timeout=300)
        deadline = time.monotonic() + 300
        while _query(stack, "SELECT count(*) FROM serialized_dag WHERE dag_id LIKE 'xplenty_bench_%'") != [
            (N + 1,)
        ]:
            stack._check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"the dag-processor did not store {N} bench DAGs within 300 s")
            time.sleep(2)
        emulator = Emulator(stack.emulator_url)
        cluster_id = emulator.create_cluster()
        print(f"[{config.key}] warming the triggerer up ...", flush=True)
        _warm_up(stack)
        time.sleep(5)
        submitted, run_time = emulator.submit_jobs(cluster_id)
        limit = 10**9 if config.unlimited else ACCOUNT_LIMIT
        emulator.control("POST", "rate_limit", {"limit": limit, "remaining": limit})
        emulator.control("DELETE", "requests")
        sampler = Sampler(stack, emulator.api, emulator.api_url, log_glob)
        sampler.start()
        idle_from = time.time()
        time.sleep(10)  # the idle triggerer before t0: RSS and CPU reference, the machine's own loop noise
        load_start = os.getloadavg()[0]
        before = time.time()
        offset = float(emulator.control("POST", "clock", {"speed": 1})["epoch"]) - (before + time.time()) / 2
        completes = {FIRST_JOB + i: at + run_time - offset for i, at in enumerate(submitted)}
        t0 = time.time()
        print(
            f"[{config.key}] t0: unpausing {N} DAGs; jobs complete in "
            f"{min(completes.values()) - t0:.0f}-{max(completes.values()) - t0:.0f} s",
            flush=True,
        )
        _set_paused(stack, False)
        paused = False
        give_up = max(completes.values()) + 90
        while time.time() < give_up:
            stack._check_alive()
            states = _ti_states(stack)
            if not paused and (states.get("deferred", 0) == N or time.time() > min(completes.values()) - 10):
                _set_paused(stack, True)
                paused = True
                deferred = states.get("deferred", 0)
                at = time.time() - t0
                print(f"[{config.key}] {deferred} deferred at t0 + {at:.0f} s; paused", flush=True)
            if paused and sum(states.values()) == N and states.get("deferred", 0) == 0:
                break
            time.sleep(2)
        time.sleep(2)
        sampler.stop_event.set()
        sampler.join()
        load_end = os.getloadavg()[0]
        time.sleep(5)  # trigger log lines are written after the fact (Airflow loses some: see _fired)
        raw = {"t0": t0, "completes": completes, "samples": [vars(x) for x in sampler.samples]}
        (home / "bench-samples.json").write_text(json.dumps(raw))
        log = emulator.control("GET", "requests")["requests"]
        return _result(
            config,
            sampler,
            t0,
            completes,
            _resumed(stack),
            _fired(log_glob),
            log,
            _block_lines(stack, idle_from),
            (load_start, load_end),
        )
    finally:
        stack.stop()
        if os.environ.get("BENCH_TRIGGERER_KEEP"):
            print(f"[{config.key}] kept {home}", flush=True)
        else:
            shutil.rmtree(home, ignore_errors=True)


def _result(
    config: Config,
    sampler: Sampler,
    t0: float,
    completes: dict[int, float],
    resumed: dict[int, float],
    fired_log: tuple[dict[int, float], Counter[str], Counter[str]],
    log: list[dict[str, Any]],
    blocks: list[tuple[float, float]],
    load: tuple[float, float],
) -> Result:
    samples = sampler.samples
    started = next((s.t for s in samples if s.trigger_logs >= N), samples[-1].t)
    # per-trigger sources look their connection up one by one first: their first reads come later
    first_read = next(
        (s.t for s in samples if s.t >= started and s.credits > _at(samples, started).credits), started
    )
    startup_end = min(first_read + POLL_INTERVAL, min(completes.values()))
    first_done = min(completes.values())
    fired, statuses, per_triggerer = fired_log
    last_event = max(resumed.values(), default=samples[-1].t)
    phases = {
        "start-up": (t0, startup_end),
        "steady": (startup_end, first_done),
        "finish": (first_done, last_event),
    }
    window = (t0, last_event)
    base = _at(samples, t0)
    names = list(sampler.procs)

    def cpu_between(start: float, end: float, only: str | None = None) -> float:
        a, b = _at(samples, start), _at(samples, end)
        if b.t <= a.t:
            return 0.0
        keys = [only] if only else names
        return sum(b.cpu[k] - a.cpu[k] for k in keys) / (b.t - a.t)

    in_window = [s for s in samples if window[0] <= s.t <= window[1] + 1]
    peak_each = {k: max((s.rss[k] for s in in_window), default=base.rss[k]) for k in names}
    peak_total = max((sum(s.rss.values()) for s in in_window), default=sum(base.rss.values()))
    credits = {}
    kinds: dict[str, Counter[str]] = {}
    paid = [e for e in log if e.get("credit")]
    for name, (start, end) in phases.items():
        lo, hi = _at(samples, start).credits, _at(samples, end).credits
        credits[name] = hi - lo
        kinds[name] = Counter(request_kind(e) for e in paid[lo:hi])
    steady_s = phases["steady"][1] - phases["steady"][0]
    window_s = window[1] - window[0]
    latency = sorted(resumed[j] - completes[j] for j in resumed if j in completes)
    latency_log = sorted(fired[j] - completes[j] for j in fired if j in completes)
    return Result(
        config=config,
        n=N,
        load=load,
        phases=phases,
        cpu={name: cpu_between(*span) for name, span in phases.items()},
        cpu_each={k: cpu_between(*window, only=k) for k in names},
        rss_growth=peak_total - sum(base.rss.values()),
        rss_growth_each={k: peak_each[k] - base.rss[k] for k in names},
        credits=credits,
        kinds=kinds,
        per_hour_steady=credits["steady"] / steady_s * 3600 if steady_s > 0 else 0.0,
        per_hour_window=sum(credits.values()) / window_s * 3600 if window_s > 0 else 0.0,
        events=len(resumed),
        events_logged=len(fired),
        latency_log=latency_log,
        statuses=statuses,
        latency=latency,
        max_block=max((b for at, b in blocks if at >= t0), default=0.0),
        blocks_over_100ms=sum(1 for at, b in blocks if at >= t0 and b >= 0.1),
        idle_block=max((b for at, b in blocks if at < t0), default=0.0),
        triggers_per_triggerer=per_triggerer,
    )


def _row(label: str, goal: str, cells: list[str]) -> str:
    return f"{label:34} " + " ".join(f"{c:>22}" for c in cells) + f"   {goal}"


def _rss(result: Result) -> str:
    each = result.rss_growth_each
    split = f" ({' + '.join(f'{v:.0f}' for v in each.values())})" if len(each) > 1 else ""
    return f"{result.rss_growth:.0f}{split}"


def _spread(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.1f} ({values[int(len(values) * 0.9)]:.1f})"


def _events_logged(result: Result) -> str:
    statuses = ", ".join(f"{k} {v}" for k, v in result.statuses.items())
    return f"{result.events_logged} ({statuses})"


def _credits(result: Result, phase: str) -> str:
    kinds = result.kinds[phase]
    return f"{result.credits[phase]} ({kinds['list']}L {kinds['get']}G)"


def report(results: list[Result]) -> None:
    print()
    print(
        f"Real airflow triggerer, N = {N} task instances deferred by the scheduler, poll_interval "
        f"{POLL_INTERVAL:.0f} s, jobs progressing for {RUNNING:.0f} s (2 cores shared with other work)"
    )
    print(_row("", "goal", [f"{r.config.key}) {r.config.title}"[:22] for r in results]))
    lines: list[tuple[str, str, list[str]]] = [
        ("load average 1 min (start/end)", "", [f"{r.load[0]:.1f} / {r.load[1]:.1f}" for r in results]),
        (
            "phases s (start-up/steady/finish)",
            "",
            ["/".join(f"{e - s:.0f}" for s, e in r.phases.values()) for r in results],
        ),
        ("CPU core, start-up", "", [f"{r.cpu['start-up']:.3f}" for r in results]),
        ("CPU core, steady (jobs progressing)", "<= 0.10 core", [f"{r.cpu['steady']:.3f}" for r in results]),
        ("CPU core, finish", "", [f"{r.cpu['finish']:.3f}" for r in results]),
        (
            "CPU core per triggerer (window)",
            "",
            [" + ".join(f"{v:.3f}" for v in r.cpu_each.values()) for r in results],
        ),
        ("RSS growth MB (tree, all triggerers)", "<= 150 MB", [_rss(r) for r in results]),
        ("credits, start-up", "1 list + 1 page/100", [_credits(r, "start-up") for r in results]),
        ("credits, steady", "", [_credits(r, "steady") for r in results]),
        ("credits, finish", "", [_credits(r, "finish") for r in results]),
        ("credits/h, steady", f"<= {BUDGET:,.0f}", [f"{r.per_hour_steady:,.0f}" for r in results]),
        ("credits/h, whole window", f"<= {BUDGET:,.0f}", [f"{r.per_hour_window:,.0f}" for r in results]),
        ("events on task instances", f"{N}", [f"{r.events}" for r in results]),
        ("  'fired' lines logged (statuses)", "", [_events_logged(r) for r in results]),
        (
            "triggers per triggerer job",
            "",
            [" + ".join(str(v) for v in r.triggers_per_triggerer.values()) for r in results],
        ),
        (
            "detection median s (p90), on TI",
            f"<= {POLL_INTERVAL + 1:.0f} s",
            [_spread(r.latency) for r in results],
        ),
        ("  same at 'fired' log line", "", [_spread(r.latency_log) for r in results]),
        (
            "longest loop block s (count >= 0.1)",
            "< 0.1 s",
            [(f"{r.max_block:.2f} ({r.blocks_over_100ms})" if r.max_block else "< 0.05") for r in results],
        ),
        (
            "  same, idle triggerer before t0",
            "",
            [f"{r.idle_block:.2f}" if r.idle_block else "< 0.05" for r in results],
        ),
    ]
    for label, goal, cells in lines:
        print(_row(label, goal, cells))
    print("L = list calls (GET jobs), G = direct GET jobs/{id}. Per-hour figures extrapolate the phase.")


def run() -> list[Result]:
    results = []
    for key in CONFIG_KEYS:
        started = time.monotonic()
        results.append(run_config(CONFIGS[key.strip()]))
        print(f"[{key}] done in {time.monotonic() - started:.0f} s", flush=True)
        report(results)
    return results


def main() -> int:
    def _interrupt(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise KeyboardInterrupt

    # stop every stack process on SIGTERM, and on SIGINT also when started in the background
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
