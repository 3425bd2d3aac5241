"""The chaos suite's machinery: a scenario, its expectations, and the context it runs in.

Each scenario gets its own emulator and SMTP sink (threads of the parent process, on free ports),
its own Airflow home (a copy of one migrated SQLite database) and one or more child processes
(``_chaos_child.py``) that run the DAG with ``dag.test()``. Afterwards the emulator state and the
Airflow database are read back into an :class:`Outcome`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from _chaos_measure import jobs_started_text, live_clusters, orphan_jobs, read_runs

from airflow_provider_xplenty.testing import EmulatorServer, SmtpSink

ROOT = Path(__file__).resolve().parents[1]
CHILD = Path(__file__).resolve().parent / "_chaos_child.py"
ALERT_TO = "oncall@example.com"
#: Emulated seconds per real second. With the short durations below a cluster is up in ~0.6 s and a
#: job runs ~0.5 s, while the daily DAG's one-hour idle timeout (``time_to_idle=3600``) takes 6 real
#: minutes: longer than any scenario, so a leaked cluster is still live when the suite looks.
SPEED = 10.0
DURATIONS = {
    "cluster_pending": 1,
    "cluster_creating": 5,
    "cluster_terminating": 2,
    "job_idle": 1,
    "job_pending": 1,
    "job_running": 5,
    "job_stopping": 2,
}
#: Environment the example DAGs are parsed with: sub-second polls, immediate retries.
DAG_ENV = {"XPLENTY_POLL_INTERVAL": "0.2", "XPLENTY_RETRY_DELAY": "0", "XPLENTY_RETRY_BACKOFF": "0"}
CHILD_TIMEOUT = 180.0
DAILY_DATE = "2025-01-01T00:00:00+00:00"


@dataclass(frozen=True)
class DagSpec:
    """An example DAG the suite runs: its file, id, and the packages it runs (table order)."""

    file: str
    dag_id: str
    packages: tuple[int, ...]


DAGS = {
    "daily": DagSpec("xplenty_daily_workflow.py", "xplenty_daily_workflow", (103, 101, 102)),
    "manual": DagSpec("xplenty_manual_run.py", "xplenty_manual_run", (103,)),
    "sweep": DagSpec("xplenty_sweep.py", "xplenty_sweep", ()),
}


@dataclass(frozen=True)
class Expect:
    """What a scenario should end in; 0 orphan jobs and 0 live clusters are always expected.

    :param state: the DAG run state(s), ``/``-joined for several runs; ``None``: any (``check`` decides).
    :param emails: alert e-mails the SMTP sink should receive.
    :param clusters: clusters that should have been created (``None``: not checked).
    :param text: the table's "expected" cell (default: built from the above).
    """

    state: str | None
    emails: int = 0
    clusters: int | None = 1
    text: str | None = None

    def describe(self) -> str:
        if self.text:
            return self.text
        return f"{self.state}, {self.emails} mail"


@dataclass
class Child:
    """One ``dag.test()`` process."""

    label: str
    home: Path
    proc: subprocess.Popen[bytes]
    log: Path


@dataclass
class Context:
    """What a scenario's ``drive``, ``during`` and ``check`` functions work with."""

    scenario: Scenario
    workdir: Path
    template_db: Path
    emulator: EmulatorServer
    sink: SmtpSink
    stopped: threading.Event = field(default_factory=threading.Event)
    notes: list[str] = field(default_factory=list)
    #: the scenario could not be set up as designed (reported as WRONG: nothing was shown)
    problems: list[str] = field(default_factory=list)
    children: list[Child] = field(default_factory=list)

    @property
    def dag(self) -> DagSpec:
        return DAGS[self.scenario.dag]

    # -- emulator ---------------------------------------------------------------------------------
    def add_fault(self, fault: dict[str, Any]) -> bool:
        """Register a fault; ``False`` (and a note) when the emulator refuses it (4xx)."""
        resp = requests.post(f"{self.emulator.url}/_emulator/faults", json=fault, timeout=10)
        if 400 <= resp.status_code < 500:
            self.notes.append(f"fault not supported by this emulator: {json.dumps(fault)} -> {resp.text}")
            return False
        resp.raise_for_status()
        return True

    def requests_log(self) -> list[dict[str, Any]]:
        return list(self.emulator.requests()["requests"])

    def dropped(self, method: str, path_contains: str) -> int | None:
        """Position in the request log of the first request whose connection was closed unanswered."""
        for index, r in enumerate(self.requests_log()):
            if r["status"] == 0 and r["method"] == method and path_contains in r["path"]:
                return index
        return None

    def answered_after(self, index: int, method: str, path_contains: str) -> bool:
        """Whether a matching request after position ``index`` of the request log succeeded (2xx)."""
        return any(
            200 <= r["status"] < 300 and r["method"] == method and path_contains in r["path"]
            for r in self.requests_log()[index + 1 :]
        )

    def until(self, predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
        """Poll ``predicate`` until it holds (``True``) or ``timeout`` seconds pass (``False``)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline or self.stopped.is_set():
                return predicate()
            time.sleep(interval)
        return True

    # -- Airflow processes --------------------------------------------------------------------------
    def new_home(self, label: str) -> Path:
        """A fresh Airflow home holding a copy of the migrated database."""
        home = self.workdir / label
        home.mkdir(parents=True)
        shutil.copy2(self.template_db, home / "airflow.db")
        return home

    def env(self, home: Path) -> dict[str, str]:
        conn = self.emulator.connection()
        conn["extra"] = {**conn["extra"], **self.scenario.conn_extra}
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update(airflow_env(home))
        env.update(DAG_ENV)
        env.update(
            {
                "AIRFLOW_CONN_XPLENTY_DEFAULT": json.dumps(conn),
                "AIRFLOW_CONN_SMTP_DEFAULT": self.sink.connection_json(timeout=10),
                "AIRFLOW_VAR_XPLENTY_ALERT_EMAILS": ALERT_TO,
            }
        )
        return env

    def start(
        self,
        label: str,
        *,
        logical_date: str | None = DAILY_DATE,
        run_after: str | None = None,
        home: Path | None = None,
        gated: bool = False,
        resume: bool = False,
        dag: DagSpec | None = None,
    ) -> Child:
        """Start a ``dag.test()`` process; ``gated``: it loads everything, then waits for :meth:`go`.

        ``dag``: another example DAG than the scenario's (e.g. the sweep, in the same ``home``).
        """
        home = home or self.new_home(label)
        scenario = self.scenario
        spec = dag or self.dag
        args = [
            sys.executable,
            str(CHILD),
            "--dag-file",
            str(ROOT / "example_dags" / spec.file),
            "--dag-id",
            spec.dag_id,
            "--logical-date",
            logical_date or "none",
        ]
        if run_after:
            args += ["--run-after", run_after]
        if scenario.conf is not None and dag is None:
            args += ["--conf", json.dumps(scenario.conf)]
        for item in scenario.overrides:
            args += ["--set", item]
        if gated:
            args += ["--go-file", str(home / "go"), "--ready-file", str(home / "ready")]
        if resume:
            args.append("--resume")
        log = self.workdir / f"{label}{'-resumed' if resume else ''}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                args,
                env=self.env(home),
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        child = Child(label, home, proc, log)
        self.children.append(child)
        return child

    @staticmethod
    def go(child: Child) -> None:
        """Let a gated child run."""
        (child.home / "go").touch()

    @staticmethod
    def ready(child: Child) -> bool:
        return (child.home / "ready").exists()

    def wait(self, child: Child, timeout: float = CHILD_TIMEOUT) -> int | None:
        """Wait for a child to exit; kill it (and note it) after ``timeout`` seconds."""
        try:
            return child.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.notes.append(f"{child.label}: still running after {timeout:.0f} s, killed")
            self.kill(child)
            return None

    @staticmethod
    def kill(child: Child) -> None:
        """SIGKILL the child's process group (no clean-up code runs, like a lost worker)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.proc.pid, signal.SIGKILL)
        child.proc.wait(10)


def airflow_env(home: Path) -> dict[str, str]:
    """Airflow settings of one throwaway home on SQLite, loading only the example DAGs."""
    return {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
    }


#: A scenario's extra expectations: given the emulator state and the DAG run state(s), the problems.
Check = Callable[["Context", dict[str, Any], str], list[str]]


def single_run(ctx: Context) -> list[Child]:
    """The default drive: one DAG run (the daily DAG at its logical date, the manual DAG without one)."""
    manual = ctx.scenario.dag == "manual"
    child = ctx.start("run", logical_date=None if manual else DAILY_DATE)
    ctx.wait(child)
    return [child]


def run_then_sweep(ctx: Context) -> list[Child]:
    """One DAG run; then the API recovers (faults cleared) and the hourly sweep DAG runs once.

    The sweep runs in the same Airflow home, so it sees that the DAG run has ended, as it would in a
    deployment an hour later. The row is the DAG run's; the clusters are counted after the sweep.
    """
    children = single_run(ctx)
    ctx.stopped.set()  # the fault thread clears its 429s: the API answers again
    ctx.emulator.clear_faults()
    sweep = ctx.start("sweep", logical_date=None, home=children[0].home, dag=DAGS["sweep"])
    ctx.wait(sweep)
    ctx.notes.append("then the API answered again and the sweep DAG ran once")
    return children


@dataclass
class Scenario:
    """One adversarial situation and what the DAG should make of it.

    :param name: short id (``--only``).
    :param title: the table's first cell.
    :param expect: the expected outcome.
    :param faults: emulator faults registered before the first run starts.
    :param dag: ``daily`` or ``manual``.
    :param durations: emulator durations overriding :data:`DURATIONS`.
    :param conn_extra: extras merged into the Xplenty connection (e.g. a short read ``timeout``).
    :param overrides: ``task_id.attribute=seconds`` applied to the DAG's tasks in the child.
    :param conf: the run conf (manual DAG form).
    :param drive: starts and waits for the child process(es); default :func:`single_run`.
    :param during: runs in a thread while ``drive`` runs (until ``Context.stopped`` is set).
    :param check: extra expectations, given the emulator state and the DAG run state(s); returns
        problems (empty when fine) and may add notes.
    :param runs: DAG runs the scenario makes (jobs per package allowed at once).
    :param quick: part of ``--quick``.
    :param known_issue: the issue reports this scenario as failing before its fixes.
    :param twins: the server itself makes a second object (a late original after a re-send); the
        provider must stop or terminate it, so a job that ended ``stopped`` beside the completed one
        is the expected outcome, not an orphan.
    """

    name: str
    title: str
    expect: Expect
    faults: tuple[dict[str, Any], ...] = ()
    dag: str = "daily"
    durations: dict[str, float] = field(default_factory=dict)
    conn_extra: dict[str, Any] = field(default_factory=dict)
    overrides: tuple[str, ...] = ()
    conf: dict[str, Any] | None = None
    drive: Callable[[Context], list[Child]] = single_run
    during: Callable[[Context], None] | None = None
    check: Check | None = None
    runs: int = 1
    quick: bool = False
    known_issue: bool = False
    twins: bool = False


@dataclass
class Outcome:
    """One row of the table."""

    scenario: Scenario
    state: str = "-"
    jobs: str = "-"
    orphans: list[int] = field(default_factory=list)
    live: int = 0
    clusters: int = 0
    emails: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    skipped: str | None = None
    logs: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the scenario ended as expected (a skipped one is not a failure)."""
        return self.skipped is not None or not self.problems

    @property
    def verdict(self) -> str:
        if self.skipped is not None:
            return "SKIPPED"
        return "ok" if not self.problems else "WRONG"


def run_scenario(scenario: Scenario, workdir: Path, template_db: Path) -> Outcome:
    """Run one scenario from a fresh emulator, SMTP sink and Airflow home; return its row."""
    started = time.monotonic()
    outcome = Outcome(scenario)
    with EmulatorServer(speed=SPEED) as emulator, SmtpSink() as sink:
        emulator.set_speed(SPEED, durations={**DURATIONS, **scenario.durations})
        ctx = Context(scenario, workdir, template_db, emulator, sink)
        if not all(ctx.add_fault(fault) for fault in scenario.faults):
            outcome.skipped = "fault not supported by this emulator"
            outcome.notes = ctx.notes
            return outcome
        helper = None
        if scenario.during is not None:
            helper = threading.Thread(target=scenario.during, args=(ctx,), name=f"chaos-{scenario.name}")
            helper.start()
        try:
            children = scenario.drive(ctx)
        finally:
            ctx.stopped.set()
            if helper is not None:
                helper.join(30)
            for child in ctx.children:
                if child.proc.poll() is None:
                    ctx.kill(child)
        state = emulator.state()
        measure(outcome, ctx, children, state)
    outcome.seconds = time.monotonic() - started
    return outcome


def measure(outcome: Outcome, ctx: Context, children: list[Child], state: dict[str, Any]) -> None:
    """Fill the row from the Airflow databases, the emulator state and the SMTP sink."""
    scenario, expect = ctx.scenario, ctx.scenario.expect
    states = []
    for home in dict.fromkeys(c.home for c in children):
        runs = read_runs(home / "airflow.db", ctx.dag.dag_id)
        states.append(runs[-1].state if runs else "no run")
    outcome.state = "/".join(states) or "no run"
    outcome.jobs = jobs_started_text(state["jobs"], ctx.dag.packages)
    outcome.orphans = orphan_jobs(state["jobs"], scenario.runs)
    if scenario.twins:
        stopped = {int(j["id"]) for j in state["jobs"] if j.get("status") == "stopped"}
        if stopped:
            ctx.notes.append(f"late twin job(s) stopped by the provider: {sorted(stopped)}")
        outcome.orphans = [j for j in outcome.orphans if j not in stopped]
    outcome.clusters = len(state["clusters"])
    live = live_clusters(state["clusters"])
    outcome.live = len(live)
    outcome.emails = len(ctx.sink.messages)
    outcome.logs = [c.log for c in ctx.children]

    problems = outcome.problems
    problems.extend(ctx.problems)
    if expect.state is not None and outcome.state != expect.state:
        problems.append(f"DAG run {outcome.state}, expected {expect.state}")
    if outcome.emails != expect.emails:
        problems.append(f"{outcome.emails} alert e-mail(s), expected {expect.emails}")
    if outcome.orphans:
        problems.append(f"orphan jobs {outcome.orphans}")
    if live:
        problems.append("live clusters " + ", ".join(f"{c['id']} {c['name']} ({c['status']})" for c in live))
    if expect.clusters is not None and outcome.clusters != expect.clusters:
        problems.append(f"{outcome.clusters} cluster(s) created, expected {expect.clusters}")
    if scenario.check is not None:
        problems.extend(scenario.check(ctx, state, outcome.state))
    outcome.notes = ctx.notes
