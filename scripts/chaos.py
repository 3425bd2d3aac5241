"""``make chaos``: adversarial scenarios against real Airflow and the Xplenty emulator, as a table.

Each scenario starts its own emulator (with faults set through its control routes) and SMTP sink,
runs the daily example DAG (or the manual-run DAG) with ``dag.test()`` in fresh processes on
SQLite, then reads back the DAG run state, the jobs and clusters the emulator saw, and the alert
e-mails. Prints one row per scenario and exits non-zero when any scenario ended otherwise than
expected. docs/chaos.md explains the scenarios and the columns.

    python scripts/chaos.py               # every scenario, two at a time
    python scripts/chaos.py --quick       # the short subset
    python scripts/chaos.py --only happy,failing-job --jobs 1 --keep
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _chaos_harness import Outcome, Scenario, airflow_env, run_scenario
from _chaos_scenarios import SCENARIOS

#: Scenarios that take longest start first, so that two workers finish close together.
SLOW_FIRST = ("lost-create-then-429", "429-no-retry-after", "same-name-concurrent", "worker-killed")
COLUMNS = (
    "scenario",
    "expected",
    "outcome",
    "jobs started",
    "orphan jobs",
    "live clusters",
    "alert e-mails",
    "verdict",
)


def migrate(home: Path) -> Path:
    """Create a migrated Airflow SQLite database in ``home``; every scenario starts from a copy."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(airflow_env(home))
    airflow = Path(sys.executable).parent / "airflow"
    log = home / "db-migrate.log"
    with log.open("wb") as out:
        code = subprocess.run(
            [str(airflow), "db", "migrate"], env=env, stdout=out, stderr=subprocess.STDOUT, timeout=180
        ).returncode
    if code != 0:
        raise SystemExit(f"airflow db migrate failed (exit {code}); see {log}")
    return home / "airflow.db"


def row(outcome: Outcome) -> list[str]:
    """The table cells of one outcome."""
    scenario = outcome.scenario
    title = scenario.title + (" *" if scenario.known_issue else "")
    if outcome.skipped is not None:
        return [title, scenario.expect.describe(), outcome.skipped, "-", "-", "-", "-", outcome.verdict]
    orphans = str(len(outcome.orphans)) + (f" {outcome.orphans}" if outcome.orphans else "")
    return [
        title,
        scenario.expect.describe(),
        outcome.state,
        outcome.jobs,
        orphans,
        f"{outcome.live} of {outcome.clusters}",
        str(outcome.emails),
        outcome.verdict,
    ]


def table(outcomes: list[Outcome]) -> str:
    """A pipe table (Markdown-compatible) of the outcomes, then their notes and problems."""
    rows = [list(COLUMNS)] + [row(o) for o in outcomes]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    out = [line(rows[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in rows[1:]]
    if any(o.scenario.known_issue for o in outcomes):
        out.append("* the issue reports this scenario as failing before its fixes")
    for outcome in outcomes:
        details = outcome.notes + [f"WRONG: {p}" for p in outcome.problems]
        if details:
            out.append(f"{outcome.scenario.name} ({outcome.seconds:.0f} s):")
            out += [f"    {d}" for d in details]
            if outcome.problems:
                out += [f"    log: {log}" for log in outcome.logs]
    return "\n".join(out)


def select(names: str | None, quick: bool) -> list[Scenario]:
    """The scenarios to run, in table order."""
    chosen = [s for s in SCENARIOS if s.quick] if quick else list(SCENARIOS)
    if names:
        wanted = [n.strip() for n in names.split(",") if n.strip()]
        known = {s.name for s in SCENARIOS}
        unknown = [n for n in wanted if n not in known]
        if unknown:
            raise SystemExit(f"unknown scenario(s) {unknown}; known: {sorted(known)}")
        chosen = [s for s in SCENARIOS if s.name in wanted]
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="only the short subset")
    parser.add_argument("--only", help="comma-separated scenario names")
    parser.add_argument("--jobs", type=int, default=2, help="scenarios run at once (default 2)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, databases)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = parser.parse_args(argv)

    scenarios = select(args.only, args.quick)
    if args.list:
        for s in scenarios:
            flags = " [quick]" if s.quick else ""
            print(f"{s.name:24} {s.title}{flags}")
        return 0

    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="xplenty-chaos-"))
    keep = args.keep
    lock = threading.Lock()
    try:
        template = workdir / "template"
        template.mkdir()
        db = migrate(template)
        print(f"Airflow database migrated in {time.monotonic() - started:.0f} s; work dir {workdir}")

        def one(scenario: Scenario) -> Outcome:
            try:
                outcome = run_scenario(scenario, workdir / scenario.name, db)
            except Exception as error:  # a broken harness still gives a row
                problem = f"{type(error).__name__}: {error}"
                outcome = Outcome(scenario, state="harness error", problems=[problem])
            with lock:
                print(
                    f"[{time.monotonic() - started:5.0f} s] {scenario.name}: {outcome.verdict}"
                    f" ({outcome.seconds:.0f} s)",
                    flush=True,
                )
            return outcome

        order = sorted(scenarios, key=lambda s: s.name not in SLOW_FIRST)
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            done = dict(zip([s.name for s in order], pool.map(one, order), strict=True))
        outcomes = [done[s.name] for s in scenarios]
        print()
        print(table(outcomes))
        wrong = [o.scenario.name for o in outcomes if not o.ok]
        total = time.monotonic() - started
        if wrong:
            keep = True
            print(f"\n{len(wrong)} of {len(outcomes)} scenario(s) ended otherwise than expected: {wrong}")
        print(f"Chaos suite: {len(outcomes)} scenario(s) in {total:.0f} s; work dir {workdir}")
        return 1 if wrong else 0
    finally:
        if keep:
            print(f"(kept {workdir})")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
