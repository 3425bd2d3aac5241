"""What the chaos suite counts: orphan jobs, live clusters, expression literals, DAG runs in SQLite."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from _chaos_measure import (
    jobs_started_text,
    live_clusters,
    orphan_jobs,
    read_runs,
    unquote_literal,
)


def job(
    job_id: int, status: str, created: int, ended: int | None = None, package: int = 103
) -> dict[str, Any]:
    """A job as ``GET /_emulator/state`` shows it, times in seconds after midnight."""

    def at(second: int) -> str:
        return f"2025-01-01T00:00:{second:02d}Z"

    history = [{"status": "idle", "at": at(created)}]
    if ended is not None:
        history.append({"status": status, "at": at(ended)})
    return {
        "id": job_id,
        "package_id": package,
        "status": status,
        "created_at": at(created),
        "history": history,
    }


def test_one_job_per_task_is_no_orphan() -> None:
    jobs = [job(1, "completed", 0, 5), job(2, "completed", 1, 6, package=101)]
    assert orphan_jobs(jobs) == []


def test_retries_after_failed_or_stopped_jobs_are_no_orphans() -> None:
    jobs = [job(1, "failed", 0, 5), job(2, "stopped", 6, 9), job(3, "completed", 10, 15)]
    assert orphan_jobs(jobs) == []


def test_a_job_still_active_at_the_end_is_an_orphan() -> None:
    assert orphan_jobs([job(1, "running", 0)]) == [1]


def test_a_second_job_beside_a_running_one_is_an_orphan() -> None:
    jobs = [job(1, "completed", 0, 10), job(2, "completed", 3, 12)]
    assert orphan_jobs(jobs) == [2]


def test_a_second_job_after_a_completed_one_is_an_orphan() -> None:
    jobs = [job(1, "completed", 0, 5), job(2, "completed", 6, 12)]
    assert orphan_jobs(jobs) == [2]


def test_a_job_being_stopped_no_longer_counts_as_busy() -> None:
    first = job(1, "stopped", 0, 8)
    first["history"].insert(1, {"status": "stopping", "at": "2025-01-01T00:00:05Z"})
    assert orphan_jobs([first, job(2, "failed", 6, 9)]) == []


def test_two_runs_may_each_run_the_package() -> None:
    jobs = [job(1, "completed", 0, 10), job(2, "completed", 1, 11), job(3, "completed", 2, 12)]
    assert orphan_jobs(jobs, runs=2) == [3]


def test_live_clusters() -> None:
    clusters = [
        {"id": i, "status": s}
        for i, s in enumerate(["terminated", "pending_terminate", "error", "available"])
    ]
    assert [c["id"] for c in live_clusters(clusters)] == [2, 3]


def test_jobs_started_lists_the_dag_packages_first() -> None:
    jobs = [job(1, "failed", 0, 1), job(2, "completed", 2, 3), job(3, "completed", 0, 1, package=999)]
    assert jobs_started_text(jobs, (103, 101)) == "103:2 101:0 999:1"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("'/input'", "/input"),
        ("'x\\' + ReadFile(\\'/etc/passwd\\') + \\''", "x' + ReadFile('/etc/passwd') + '"),
        ("'a\\\\'", "a\\"),
        ("x' + ReadFile('/etc/passwd') + '", None),
        ("'a' + ReadFile('/x') + ''", None),
        ("'unterminated\\'", None),
        ("CurrentTime()", None),
        ("'", None),
    ],
)
def test_unquote_literal(value: str, text: str | None) -> None:
    assert unquote_literal(value) == text


def test_read_runs(tmp_path: Path) -> None:
    db = tmp_path / "airflow.db"
    con = sqlite3.connect(db)
    con.executescript(
        """
        CREATE TABLE dag_run (id INTEGER PRIMARY KEY, dag_id TEXT, run_id TEXT, state TEXT);
        CREATE TABLE task_instance (dag_id TEXT, run_id TEXT, task_id TEXT, map_index INT, state TEXT,
                                    try_number INT);
        INSERT INTO dag_run (dag_id, run_id, state) VALUES ('d', 'r1', 'failed'), ('d', 'r2', 'success'),
                                                           ('other', 'r3', 'failed');
        INSERT INTO task_instance VALUES ('d', 'r2', 'run_job', -1, 'success', 2),
                                         ('d', 'r2', 'more', 1, 'failed', 3);
        """
    )
    con.commit()
    con.close()

    runs = read_runs(db, "d")

    assert [(r.run_id, r.state) for r in runs] == [("r1", "failed"), ("r2", "success")]
    assert runs[1].tasks == {"run_job": ("success", 2), "more[1]": ("failed", 3)}
    assert read_runs(tmp_path / "missing.db", "d") == []
