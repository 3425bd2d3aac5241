"""What the chaos suite measures after a scenario: DAG runs (SQLite), jobs and clusters (emulator state).

Pure functions of what was read, so they are unit-tested without Airflow (``tests/chaos``).
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

#: Job statuses after which a job does no more work (stopping ones are on their way out).
ENDED_JOB = frozenset({"completed", "failed", "stopped", "pending_stoppage", "stopping"})
#: Cluster statuses that no longer cost anything (or are about to stop costing).
GONE_CLUSTER = frozenset({"terminated", "terminating", "pending_terminate"})


@dataclass
class DagRunRow:
    """One DAG run as the Airflow database holds it."""

    dag_id: str
    run_id: str
    state: str
    tasks: dict[str, tuple[str, int]] = field(default_factory=dict)  # task[map] -> (state, try_number)


def read_runs(db: Path, dag_id: str) -> list[DagRunRow]:
    """Return every run of ``dag_id`` in an Airflow SQLite database, oldest first, with task states."""
    if not db.exists():
        return []
    con = sqlite3.connect(db)
    try:
        runs = [
            DagRunRow(dag_id, str(run_id), str(state))
            for run_id, state in con.execute(
                "SELECT run_id, state FROM dag_run WHERE dag_id = ? ORDER BY id", (dag_id,)
            )
        ]
        for run in runs:
            for task_id, map_index, state, tries in con.execute(
                "SELECT task_id, map_index, state, try_number FROM task_instance "
                "WHERE dag_id = ? AND run_id = ?",
                (dag_id, run.run_id),
            ):
                key = task_id if map_index < 0 else f"{task_id}[{map_index}]"
                run.tasks[key] = (str(state), int(tries or 0))
        return runs
    finally:
        con.close()


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def ended_at(job: dict[str, Any]) -> datetime | None:
    """When the job stopped doing work (first ended or stopping status), on the emulator's clock."""
    for entry in job.get("history") or []:
        if entry.get("status") in ENDED_JOB:
            return _when(entry.get("at"))
    return None


def created_at(job: dict[str, Any]) -> datetime | None:
    """When the job was created, on the emulator's clock."""
    history = job.get("history") or []
    return _when(job.get("created_at")) or (_when(history[0].get("at")) if history else None)


def jobs_per_package(jobs: Iterable[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """Jobs grouped by package, each group in creation (id) order."""
    grouped: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for job in sorted(jobs, key=lambda j: int(j["id"])):
        grouped[int(job["package_id"])].append(job)
    return dict(grouped)


def orphan_jobs(jobs: Iterable[dict[str, Any]], runs: int = 1) -> list[int]:
    """Ids of jobs still active, or started while ``runs`` jobs of the same package were busy or done.

    Each DAG run runs each package once, so per package at most ``runs`` jobs may be working (or have
    completed) at a time: a retry after a failed or stopped job is fine, a second job beside a running
    or completed one is a duplicate.
    """
    orphans: list[int] = []
    for group in jobs_per_package(jobs).values():
        for index, job in enumerate(group):
            if job.get("status") not in ENDED_JOB:
                orphans.append(int(job["id"]))
                continue
            started = created_at(job)
            busy = 0
            for earlier in group[:index]:
                end = ended_at(earlier)
                if earlier.get("status") == "completed" or end is None or (started and end > started):
                    busy += 1
            if busy >= runs:
                orphans.append(int(job["id"]))
    return sorted(orphans)


def live_clusters(clusters: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Clusters not terminated, terminating or pending termination (``error`` counts as live)."""
    return [c for c in clusters if c.get("status") not in GONE_CLUSTER]


def jobs_started_text(jobs: Iterable[dict[str, Any]], packages: Iterable[int]) -> str:
    """``103:1 101:1 102:1``: jobs created per package, the DAG's packages first, then any other."""
    grouped = jobs_per_package(jobs)
    order = list(packages) + sorted(p for p in grouped if p not in packages)
    return " ".join(f"{p}:{len(grouped.get(p, []))}" for p in order)


def unquote_literal(value: str) -> str | None:
    """The text of a single-quoted expression literal (``\\'`` and ``\\\\`` unescaped), else ``None``.

    ``None`` when ``value`` is not exactly one literal: e.g. ``'a' + ReadFile('/x') + ''`` is an
    expression made of three literals and a function call.
    """
    if len(value) < 2 or value[0] != "'" or value[-1] != "'":
        return None
    out: list[str] = []
    body = value[1:-1]
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\" and i + 1 < len(body):
            out.append(body[i + 1])
            i += 2
            continue
        if char == "'":
            return None
        out.append(char)
        i += 1
    if body.endswith("\\") and (len(body) - len(body.rstrip("\\"))) % 2:
        return None  # the closing quote is escaped: the literal never ends
    return "".join(out)
