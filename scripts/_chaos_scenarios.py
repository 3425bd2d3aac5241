"""The chaos suite's scenarios, in table order (see docs/chaos.md for what each one does)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from _chaos_harness import (
    DAILY_DATE,
    DURATIONS,
    SPEED,
    Check,
    Child,
    Context,
    Expect,
    Scenario,
    run_then_sweep,
)
from _chaos_measure import jobs_per_package, unquote_literal

MAIN_PACKAGE = 103
#: The manual-run form's variable value of the injection scenario.
INJECTED = "x' + ReadFile('/etc/passwd') + '"
#: A run date whose daily cluster name equals the one of DAILY_DATE (``DailyCluster_20250101``).
SAME_DAY_LATER = "2025-01-01T06:00:00+00:00"
#: The connection's read timeout in the slow-server scenarios, and how late the server answers (s).
READ_TIMEOUT = 3
SLOW = 6
#: How long the main job of the kill scenario would run (emulated seconds; 100 s real).
KILLED_JOB_RUN = 1000
#: How long the concurrent scenario holds run A's look-up of its lost create (seconds).
LOOKUP_HOLD = 12.0


# -- checks ---------------------------------------------------------------------------------------
def one_completed_job_per_package(ctx: Context, state: dict[str, Any], run_state: str) -> list[str]:
    """Each package of the DAG ran once per DAG run, and completed."""
    grouped = jobs_per_package(state["jobs"])
    wrong = {
        p: [j["status"] for j in grouped.get(p, [])]
        for p in ctx.dag.packages
        if [j["status"] for j in grouped.get(p, [])] != ["completed"] * ctx.scenario.runs
    }
    return [f"jobs per package {wrong}, expected {ctx.scenario.runs} completed each"] if wrong else []


def one_completed_job_per_package_twins_stopped(
    ctx: Context, state: dict[str, Any], run_state: str
) -> list[str]:
    """Each package completed once; any other job of it (a late twin) ended ``stopped``."""
    grouped = jobs_per_package(state["jobs"])
    wrong = {}
    for package in ctx.dag.packages:
        statuses = sorted(j["status"] for j in grouped.get(package, []))
        if statuses.count("completed") != 1 or any(s not in ("completed", "stopped") for s in statuses):
            wrong[package] = statuses
    return [f"jobs per package {wrong}, expected 1 completed each, twins stopped"] if wrong else []


def no_job(ctx: Context, state: dict[str, Any], run_state: str) -> list[str]:
    """No job was started."""
    return [f"{len(state['jobs'])} job(s) started, expected none"] if state["jobs"] else []


def main_job_every_try(status: str) -> Check:
    """Check that the main job ran once per try (3 tries) and each ended ``status``."""

    def check(ctx: Context, state: dict[str, Any], run_state: str) -> list[str]:
        main = [j["status"] for j in jobs_per_package(state["jobs"]).get(MAIN_PACKAGE, [])]
        return [] if main == [status] * 3 else [f"main jobs {main}, expected 3 {status} (one per try)"]

    return check


def variable_is_not_an_expression(ctx: Context, state: dict[str, Any], run_state: str) -> list[str]:
    """The form's text reached the job only as one escaped string literal, or no job ran."""
    jobs = state["jobs"]
    if not jobs:
        ctx.notes.append("no job was started")
        return [] if run_state == "failed" else [f"no job started, yet the run is {run_state}"]
    problems = []
    for job in jobs:
        received = (job.get("variables") or {}).get("InputPath")
        ctx.notes.append(f"job {job['id']} received InputPath = {received}")
        if not isinstance(received, str) or unquote_literal(received) != INJECTED:
            problems.append(f"job {job['id']} got InputPath {received}: an expression, not the literal text")
    return problems


# -- during the run -------------------------------------------------------------------------------
def rate_limit_windows(retry_after: int | None) -> Callable[[Context], None]:
    """A 1 s window of 429 on every request, every 4 s, for the whole run."""

    def during(ctx: Context) -> None:
        fault: dict[str, Any] = {"kind": "rate_limit", "seconds": 1.0}
        if retry_after is not None:
            fault["retry_after"] = retry_after
        windows = 0
        while not ctx.stopped.is_set():
            ctx.add_fault(fault)
            windows += 1
            ctx.stopped.wait(4.0)
        ctx.notes.append(f"{windows} windows of 429")

    return during


def rate_limited_after_lost_create(ctx: Context) -> None:
    """Once the create's response is lost, answer 429 to every request until the run has ended."""
    if not ctx.until(lambda: ctx.dropped("POST", "/clusters") is not None, timeout=120):
        ctx.problems.append("not reproduced: the create call was never made")
        return
    ctx.add_fault({"kind": "rate_limit", "seconds": 900, "retry_after": 1})
    if ctx.answered_after(ctx.dropped("POST", "/clusters") or 0, "GET", "/clusters"):
        ctx.problems.append("not reproduced: the create's look-up was answered before the 429s began")
    ctx.notes.append("create's response lost, then 429 (Retry-After: 1) on every request until the run ended")
    ctx.stopped.wait()
    ctx.emulator.clear_faults()


# -- drives ---------------------------------------------------------------------------------------
def kill_during_job_wait(ctx: Context) -> list[Child]:
    """SIGKILL the run while the main job runs, then give the lost tasks their next try.

    The main job would run for :data:`KILLED_JOB_RUN` emulated seconds, and the emulator's clock
    stands still from just before the kill until the retry reads the job again: the kill always
    lands during the job and the retry always finds it running, however long a new process takes
    to start. Then the clock jumps to the job's end and later jobs are short again.
    """
    first = ctx.start("run")

    def main_job() -> dict[str, Any] | None:
        return next((j for j in ctx.emulator.jobs() if j["package_id"] == MAIN_PACKAGE), None)

    def main_job_running() -> bool:
        job = main_job()
        return job is not None and job["status"] == "running"

    if not ctx.until(main_job_running, timeout=120) or first.proc.poll() is not None:
        ctx.problems.append("not reproduced: the main job never ran while the run was alive")
        ctx.wait(first)
        return [first]
    ctx.emulator.set_speed(0)
    time.sleep(0.5)  # the task is in its wait now (deferred, the trigger polling)
    ctx.kill(first)
    job = main_job() or {}
    ctx.notes.append(f"killed the run (SIGKILL) while job {job.get('id')} was {job.get('status')}")
    seen = len(ctx.requests_log())
    retry = ctx.start("run", home=first.home, resume=True)
    path = f"/jobs/{job.get('id')}"
    looked = ctx.until(lambda: any(r["path"].endswith(path) for r in ctx.requests_log()[seen:]), timeout=120)
    ctx.emulator.set_speed(SPEED, durations={"job_running": DURATIONS["job_running"]})
    ctx.emulator.advance(KILLED_JOB_RUN)
    if looked:
        ctx.notes.append(f"the retry read job {job.get('id')} again while it was still running")
    else:
        ctx.problems.append(f"not reproduced: the retry never read job {job.get('id')}")
    ctx.wait(retry)
    return [retry]


def same_name_creates(ctx: Context) -> list[Child]:
    """Run A's create is lost; run B creates the same name while A waits to look its cluster up."""
    b = ctx.start("b", logical_date=None, run_after=SAME_DAY_LATER, gated=True)
    if not ctx.until(lambda: ctx.ready(b), timeout=120):
        ctx.problems.append("race not reproduced: run B never got ready")
    a = ctx.start("a", logical_date=DAILY_DATE)
    if ctx.until(lambda: ctx.dropped("POST", "/clusters") is not None, timeout=120):
        # A backs off >= 0.5 s before looking its cluster up: hold that look-up while B creates.
        ctx.add_fault(
            {"kind": "latency", "method": "GET", "path_contains": "/clusters", "seconds": LOOKUP_HOLD}
        )
        early = ctx.answered_after(ctx.dropped("POST", "/clusters") or 0, "GET", "/clusters")
        held = not early and ctx.until(lambda: not ctx.emulator.control("GET", "faults")["faults"], 10)
        ctx.go(b)
        created = ctx.until(lambda: len(ctx.emulator.clusters()) >= 2, timeout=LOOKUP_HOLD)
        if held and created:
            ctx.notes.append("run A's create lost, A's look-up held, run B created the same name meanwhile")
        else:
            ctx.problems.append(
                "race not reproduced: B did not create its cluster while A's look-up was held"
            )
    else:
        ctx.problems.append("race not reproduced: run A never sent its create")
        ctx.go(b)
    ctx.wait(a)
    ctx.wait(b)
    return [a, b]


# -- the list -------------------------------------------------------------------------------------
FAILED_WITH_MAIL = Expect("failed", emails=1)
LOST_CREATE_CLUSTER = {"kind": "lost_response", "method": "POST", "path_contains": "/clusters", "count": 1}


def lost_post(name: str, path: str, quick: bool = False) -> Scenario:
    """The server carries out the first ``POST path`` and closes the connection without answering."""
    fault = {"kind": "lost_response", "method": "POST", "path_contains": path, "count": 1}
    return Scenario(
        name,
        f"lost response on POST {path}",
        Expect("success"),
        faults=(fault,),
        check=one_completed_job_per_package,
        quick=quick,
    )


def timed_out(name: str, attribute: str) -> Scenario:
    """``run_job``'s ``attribute`` (3 s) runs out while its job runs (jobs never end on their own)."""
    return Scenario(
        name,
        f"run_job {attribute} (3 s) while the job runs",
        FAILED_WITH_MAIL,
        durations={"job_running": 100_000},
        overrides=(f"run_job.{attribute}=3",),
        check=main_job_every_try("stopped"),
    )


def answered_late(name: str, path: str, quick: bool = False) -> Scenario:
    """The server carries out the first ``POST path`` but answers after the client's read timeout."""
    return Scenario(
        name,
        f"POST {path} answered after the read timeout",
        Expect("success"),
        faults=({"kind": "slow_response", "method": "POST", "path": path, "delay": SLOW, "count": 1},),
        conn_extra={"timeout": READ_TIMEOUT},
        check=one_completed_job_per_package,
        quick=quick,
        known_issue=True,
    )


def acted_late(name: str, path: str, quick: bool = False) -> Scenario:
    """The server carries out the first ``POST path`` only after the client gave up and re-sent it.

    The late twin: the client's look-up finds nothing, it sends again, and then the original
    request creates a second object. It must be found and stopped or terminated.
    """
    twin_cluster = path == "/clusters"
    return Scenario(
        name,
        f"POST {path} carried out late (twin)",
        # The late original really creates a second cluster; it must end terminated.
        Expect("success", clusters=2 if twin_cluster else 1, text="success, 0 mail, twin stopped"),
        faults=({"kind": "slow_response", "method": "POST", "path": path, "act_after": SLOW, "count": 1},),
        conn_extra={"timeout": READ_TIMEOUT},
        # Jobs run 12 s (real) here, not half a second: a twin that has already completed cannot be
        # stopped, and real jobs run for minutes.
        durations={} if twin_cluster else {"job_running": 120},
        check=one_completed_job_per_package_twins_stopped,
        quick=quick,
        known_issue=True,
        twins=True,
    )


SCENARIOS: list[Scenario] = [
    Scenario("happy", "happy path", Expect("success"), check=one_completed_job_per_package, quick=True),
    Scenario(
        "429-retry-after",
        "429 windows with Retry-After",
        Expect("success"),
        during=rate_limit_windows(retry_after=1),
        check=one_completed_job_per_package,
    ),
    Scenario(
        "429-no-retry-after",
        "429 windows without Retry-After",
        Expect("success"),
        during=rate_limit_windows(retry_after=None),
        check=one_completed_job_per_package,
    ),
    Scenario(
        "random-5xx",
        "30% random 502",
        Expect("success"),
        faults=({"kind": "server_error", "status": 502, "probability": 0.3},),
        check=one_completed_job_per_package,
    ),
    lost_post("lost-create-cluster", "/clusters"),
    lost_post("lost-run-job", "/jobs", quick=True),
    Scenario(
        "provisioning-error",
        "cluster provisioning error",
        FAILED_WITH_MAIL,
        faults=({"kind": "cluster_failure", "message": "Not enough capacity in us-east-1"},),
        check=no_job,
    ),
    Scenario(
        "failing-job",
        "failing job (every try)",
        FAILED_WITH_MAIL,
        faults=({"kind": "job_failure", "package_id": MAIN_PACKAGE, "message": "Input missing", "count": 3},),
        check=main_job_every_try("failed"),
        quick=True,
    ),
    timed_out("task-timeout", "timeout"),
    timed_out("execution-timeout", "execution_timeout"),
    Scenario(
        "worker-killed",
        "worker killed during the job wait, retried",
        Expect("success"),
        durations={"job_running": KILLED_JOB_RUN},
        drive=kill_during_job_wait,
        check=one_completed_job_per_package,
    ),
    Scenario(
        "lost-create-then-429",
        "lost POST /clusters, then 429 past all retries",
        FAILED_WITH_MAIL,
        faults=(LOST_CREATE_CLUSTER,),
        during=rate_limited_after_lost_create,
        drive=run_then_sweep,
        check=no_job,
        quick=True,
        known_issue=True,
    ),
    answered_late("slow-run-job", "/jobs", quick=True),
    answered_late("slow-create-cluster", "/clusters"),
    acted_late("late-twin-job", "/jobs"),
    acted_late("late-twin-cluster", "/clusters"),
    Scenario(
        "same-name-concurrent",
        "2 runs, same date, concurrent creates, 1st lost",
        Expect("success/success", clusters=2),
        faults=(LOST_CREATE_CLUSTER,),
        drive=same_name_creates,
        check=one_completed_job_per_package,
        runs=2,
        known_issue=True,
    ),
    Scenario(
        "form-injection",
        "manual-run form: variables value injection",
        Expect(None, clusters=None, text="failed w/o job, or literal"),
        dag="manual",
        conf={
            "package": MAIN_PACKAGE,
            "variables": {"InputPath": INJECTED, "OutputPath": "'/output'"},
            "nodes": 1,
            "cluster_type": "sandbox",
            "terminate_cluster": True,
        },
        check=variable_is_not_an_expression,
        quick=True,
        known_issue=True,
    ),
]
