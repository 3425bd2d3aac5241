"""``make demo``: the daily Xplenty workflow end to end, against the embedded emulator.

Starts the Xplenty API emulator (fast clock) and an SMTP sink (aiosmtpd) on 127.0.0.1, both in this
process (``airflow_provider_xplenty.testing``), migrates a throwaway Airflow home, then runs
``airflow dags test xplenty_daily_workflow`` twice: once clean, once with every try of the main job
failing (a fault injected through the emulator's control route). Prints a short summary of both
runs and the alert e-mail, stops everything it started and exits 0 only if both runs behaved as
expected.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from airflow_provider_xplenty.testing import EmulatorServer, SmtpSink

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
DAG_ID = "xplenty_daily_workflow"
ALERT_TO = "oncall@example.com"
SPEED = 60.0  # emulated seconds per real second
MAIN_PACKAGE = 103
ADDITIONAL_PACKAGES = (101, 102)
FAILURE_TEXT = "Demo fault: input file /input20250102 is missing"


# -- one run -------------------------------------------------------------------------------------
@dataclass
class RunResult:
    title: str
    logical_date: str
    exit_code: int
    seconds: float
    log_path: Path
    dag_run: dict[str, Any]
    tasks: list[dict[str, Any]]
    state: dict[str, Any]
    previews: dict[str, list[str]]
    emails: list[tuple[list[str], EmailMessage]]
    problems: list[str] = field(default_factory=list)


#: Airflow's CLI; on 3.0-3.2 with the fix 3.3 made to ``dags test`` (wait for the in-process
#: Execution API's lifespan, else "KeyError: 'svcs_registry'" under load), shared with the tests.
_AIRFLOW_CLI = (
    "import sys; sys.path.insert(0, 'tests'); sys.argv[0] = 'airflow'\n"
    "from _airflow_compat import backport_dag_test_fixes_of_airflow_3_3\n"
    "backport_dag_test_fixes_of_airflow_3_3()\n"
    "from airflow.__main__ import main\n"
    "sys.exit(main())\n"
)


def airflow(args: list[str], env: dict[str, str], log_path: Path, timeout: float) -> tuple[int, float]:
    started = time.monotonic()
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", _AIRFLOW_CLI, *args],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
            code = -9
    return code, time.monotonic() - started


def read_run(db: Path) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, list[str]]]:
    """Return the newest run of the DAG, its task instances and the preview XCom, from SQLite."""
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        row = con.execute(
            "SELECT * FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (DAG_ID,)
        ).fetchone()
        if row is None:
            return {}, [], {}
        full = dict(row)  # Airflow 2.11 calls the logical date execution_date
        run = {
            "run_id": full["run_id"],
            "state": full["state"],
            "logical_date": full.get("logical_date", full.get("execution_date")),
        }
        tasks = [
            dict(r)
            for r in con.execute(
                "SELECT task_id, map_index, state, try_number, start_date, end_date FROM task_instance "
                "WHERE dag_id = ? AND run_id = ? ORDER BY start_date IS NULL, start_date, map_index",
                (DAG_ID, run["run_id"]),
            )
        ]
        xrow = con.execute(
            "SELECT value FROM xcom WHERE dag_id = ? AND run_id = ? AND task_id = 'preview_output' "
            "AND key = 'return_value'",
            (DAG_ID, run["run_id"]),
        ).fetchone()
        previews: dict[str, list[str]] = {}
        if xrow is not None and xrow[0] is not None:
            value = xrow[0]
            while isinstance(value, (str, bytes)):
                value = json.loads(value)
            if isinstance(value, dict):
                previews = {str(k): [str(x) for x in v] for k, v in value.items()}
        return run, tasks, previews
    finally:
        con.close()


def run_dag(
    title: str, logical_date: str, env: dict[str, str], home: Path, emulator: EmulatorServer, sink: SmtpSink
) -> RunResult:
    sink.clear()
    log_path = home / f"dags-test-{logical_date}.log"
    code, seconds = airflow(["dags", "test", DAG_ID, logical_date], env, log_path, timeout=75)
    # The sink stores a message before it acknowledges it, so everything sent is here already.
    run, tasks, previews = read_run(home / "airflow.db")
    emails = [(list(e["to"]), msg) for e, msg in zip(sink.envelopes, sink.messages, strict=True)]
    return RunResult(
        title, logical_date, code, seconds, log_path, run, tasks, emulator.state(), previews, emails
    )


# -- checks --------------------------------------------------------------------------------------
def cluster_of(result: RunResult) -> dict[str, Any] | None:
    date = result.logical_date.replace("-", "")
    for cluster in result.state.get("clusters", []):
        if cluster.get("name") == f"DailyCluster_{date}":
            return dict(cluster)
    return None


def jobs_of(result: RunResult, package_id: int) -> list[dict[str, Any]]:
    return sorted(
        (j for j in result.state.get("jobs", []) if j.get("package_id") == package_id), key=lambda j: j["id"]
    )


def check_common(result: RunResult) -> None:
    p = result.problems
    cluster = cluster_of(result)
    if cluster is None:
        p.append("no DailyCluster_<date> cluster was created")
    elif cluster.get("status") != "terminated":
        p.append(f"cluster {cluster['id']} is {cluster.get('status')}, not terminated")
    states = {t["task_id"]: t["state"] for t in result.tasks if t["map_index"] < 0}
    for teardown in ("terminate_cluster", "verify_termination"):
        if states.get(teardown) != "success":
            p.append(f"teardown {teardown} is {states.get(teardown)}")


def check_clean(result: RunResult) -> None:
    p = result.problems
    date = result.logical_date.replace("-", "")
    if result.exit_code != 0:
        p.append(f"airflow dags test exited {result.exit_code}")
    if result.dag_run.get("state") != "success":
        p.append(f"DAG run is {result.dag_run.get('state')}")
    bad = [f"{t['task_id']}={t['state']}" for t in result.tasks if t["state"] != "success"]
    if bad:
        p.append("tasks not successful: " + ", ".join(bad))
    main = jobs_of(result, MAIN_PACKAGE)
    if len(main) != 1 or main[0].get("status") != "completed":
        p.append(
            f"expected one completed job of package {MAIN_PACKAGE}, got {[j.get('status') for j in main]}"
        )
    elif main[0].get("variables", {}).get("InputPath") != f"'/input{date}'":
        p.append(f"job variables are {main[0].get('variables')}")
    for pkg in ADDITIONAL_PACKAGES:
        if [j.get("status") for j in jobs_of(result, pkg)] != ["completed"]:
            p.append(f"package {pkg}: expected one completed job")
    if not result.previews:
        p.append("no output preview")
    if result.emails:
        p.append(f"{len(result.emails)} e-mail(s) sent for a successful run")
    check_common(result)


def check_failure(result: RunResult) -> None:
    p = result.problems
    if result.exit_code == 0:
        p.append("airflow dags test exited 0 for a failing run")
    if result.dag_run.get("state") != "failed":
        p.append(f"DAG run is {result.dag_run.get('state')}, expected failed")
    states = {t["task_id"]: t for t in result.tasks if t["map_index"] < 0}
    run_job = states.get("run_job", {})
    if run_job.get("state") != "failed" or run_job.get("try_number") != 3:
        p.append(
            f"run_job is {run_job.get('state')} after try {run_job.get('try_number')}, expected failed/3"
        )
    main = jobs_of(result, MAIN_PACKAGE)
    if [j.get("status") for j in main] != ["failed"] * 3:
        p.append(f"expected 3 failed jobs of package {MAIN_PACKAGE} (one per try), got {len(main)}")
    if len(result.emails) != 1:
        p.append(f"expected exactly one alert e-mail, got {len(result.emails)}")
    else:
        body = email_text(result.emails[0][1])
        wanted = [DAG_ID, "run_job", FAILURE_TEXT]
        if main:
            wanted += [str(main[-1]["id"]), str(main[-1].get("html_url"))]
        missing = [w for w in wanted if w not in body and w not in str(result.emails[0][1]["Subject"])]
        if missing:
            p.append(f"alert e-mail lacks {missing}")
    check_common(result)


# -- printing ------------------------------------------------------------------------------------
def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def transitions(obj: dict[str, Any], origin: datetime) -> str:
    parts = []
    for h in obj.get("history", []):
        offset = (_ts(h["at"]) - origin).total_seconds()
        parts.append(f"{h['status']} +{offset:.0f}s")
    return " -> ".join(parts)


def email_text(msg: EmailMessage) -> str:
    raw = SmtpSink.body(msg)
    text = re.sub(r"</t[hd]>\s*<td>", ": ", raw)
    text = re.sub(r"<br\s*/?>|</tr>|</p>|</h\d>", "\n", text)
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def print_run(result: RunResult) -> None:
    verdict = "OK" if not result.problems else "UNEXPECTED"
    print(f"\n== {result.title}: `airflow dags test {DAG_ID} {result.logical_date}`")
    print(
        f"   DAG run {result.dag_run.get('state')} (exit {result.exit_code}) in {result.seconds:.1f}s"
        f"  -> {verdict}"
    )
    cells = []
    for t in result.tasks:
        name = t["task_id"] if t["map_index"] < 0 else f"{t['task_id']}[{t['map_index']}]"
        tries = f" x{t['try_number']}" if (t["try_number"] or 0) > 1 else ""
        cells.append(f"{name}={t['state']}{tries}")
    print("   tasks:    " + ", ".join(cells))
    cluster = cluster_of(result)
    if cluster and cluster.get("history"):
        origin = _ts(cluster["history"][0]["at"])
        print(
            f"   cluster {cluster['id']} {cluster['name']} ({cluster.get('nodes')} nodes), "
            f"emulated time (x{SPEED:.0f}) from creation:"
        )
        print(f"             {transitions(cluster, origin)}")
        jobs = [j for j in result.state.get("jobs", []) if j.get("cluster_id") == cluster["id"]]
        for job in sorted(jobs, key=lambda j: j["id"]):
            err = f"  errors: {job['errors']}" if job.get("errors") else ""
            print(f"   job {job['id']} package {job['package_id']}: {transitions(job, origin)}{err}")
        main = jobs_of(result, MAIN_PACKAGE)
        if main:
            print(f"   job {main[-1]['id']} variables: {json.dumps(main[-1].get('variables'))}")
        gone = "yes" if cluster.get("status") == "terminated" else f"NO, it is {cluster.get('status')}"
        print(f"   cluster {cluster['id']} terminated at the end: {gone}")
    for name, lines in result.previews.items():
        print(f"   preview of output {name!r}:")
        for line in lines[:4]:
            print(f"      {line}")
    if not result.emails:
        print("   alert e-mails: none")
    for rcpts, msg in result.emails:
        print(f"   alert e-mail received by the SMTP sink: to {', '.join(rcpts)}")
        print(f"      Subject: {msg['Subject']}")
        for line in email_text(msg).splitlines():
            if line.startswith("Task log"):
                continue
            print(f"      {line}")
    for problem in result.problems:
        print(f"   !! {problem}")


# -- main ----------------------------------------------------------------------------------------
def main() -> int:
    started = time.monotonic()
    home = Path(tempfile.mkdtemp(prefix="xplenty-demo-"))
    ok = False
    try:
        with SmtpSink() as sink, EmulatorServer(speed=SPEED) as emulator:
            ok = demo(home, sink, emulator, started)
        return 0 if ok else 1
    finally:
        if ok and not os.environ.get("XPLENTY_DEMO_KEEP"):
            shutil.rmtree(home, ignore_errors=True)
        else:
            print(f"(kept {home} for inspection)")


def demo(home: Path, sink: SmtpSink, emulator: EmulatorServer, started: float) -> bool:
    """Run both DAG runs, print what happened; return whether both behaved as expected."""
    print(f"Xplenty emulator on {emulator.url} (clock x{SPEED:.0f}), SMTP sink on 127.0.0.1:{sink.port}")
    print(f"Airflow home {home}")

    # Inherit nothing Airflow-specific from the caller's shell: the demo's home is self-contained.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__CORE__DEFAULT_DEFERRABLE": "True",
            "AIRFLOW_CONN_XPLENTY_DEFAULT": emulator.connection_json(),
            "AIRFLOW_CONN_SMTP_DEFAULT": sink.connection_json(),
            "AIRFLOW_VAR_XPLENTY_ALERT_EMAILS": ALERT_TO,
            "XPLENTY_POLL_INTERVAL": "0.5",
            "XPLENTY_RETRY_DELAY": "1",
            "XPLENTY_RETRY_BACKOFF": "2",
        }
    )
    code, seconds = airflow(["db", "migrate"], env, home / "db-migrate.log", timeout=60)
    if code != 0:
        print(f"airflow db migrate failed (exit {code}); see {home / 'db-migrate.log'}")
        return False
    print(f"Migrated the Airflow database in {seconds:.1f}s")

    emulator.reset(speed=SPEED)
    clean = run_dag("Run 1, clean", "2025-01-01", env, home, emulator, sink)
    check_clean(clean)

    emulator.reset(speed=SPEED)
    emulator.add_fault(kind="job_failure", package_id=MAIN_PACKAGE, message=FAILURE_TEXT, count=3)
    failing = run_dag(
        "Run 2, every try of the main job fails (fault injected)", "2025-01-02", env, home, emulator, sink
    )
    check_failure(failing)

    print_run(clean)
    print_run(failing)
    ok = not clean.problems and not failing.problems
    total = time.monotonic() - started
    if ok:
        print(
            f"\nDEMO OK in {total:.0f}s: the clean run succeeded, the failing run failed after 3 tries "
            "and sent one alert, and the cluster was terminated in both runs."
        )
    else:
        print(f"\nDEMO FAILED after {total:.0f}s. Logs: {clean.log_path}, {failing.log_path}")
    return ok


if __name__ == "__main__":
    threading.current_thread().name = "demo"
    sys.exit(main())
