"""One DAG run of the chaos suite, in its own process: ``dag.test()`` on real Airflow and SQLite.

Started by ``scripts/chaos.py`` with the environment already set (``AIRFLOW_HOME`` holding a migrated
SQLite database, the Xplenty and SMTP connections, fast polls and immediate retries), so that every
run gets a fresh Airflow process, the way a worker would. Exits 0 when the DAG run succeeded, 1
when it failed (the parent reads the run back from the database either way).

``--resume`` continues the DAG run of ``--logical-date`` that a killed process left behind instead of
starting a new one: its unfinished task instances become ``up_for_retry`` (what the scheduler does
to a task whose worker stopped heartbeating) and their next try runs. A plain second ``dag.test()``
of the same date would delete that run and start afresh under a new run id, which no deployment does.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any


def _parse_time(value: str | None) -> datetime | None:
    if value in (None, "", "none"):
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def load_dag(path: Path, dag_id: str) -> Any:
    """Import a DAG file under a private module name and return its DAG object."""
    name = f"_chaos_dag_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    dag = getattr(module, "dag", None)
    if dag is None or dag.dag_id != dag_id:
        raise SystemExit(f"{path} has no DAG {dag_id!r}")
    return dag


def apply_overrides(dag: Any, overrides: list[str]) -> None:
    """Apply ``task_id.attribute=seconds`` settings to the DAG's own task objects.

    ``dag.test()`` runs every task on these objects, so this is how a scenario shortens a task's
    ``timeout`` or ``execution_timeout`` without editing the example DAG.
    """
    for item in overrides:
        target, _, value = item.partition("=")
        task_id, _, attribute = target.partition(".")
        task = dag.get_task(task_id)
        seconds = float(value)
        setattr(task, attribute, timedelta(seconds=seconds) if attribute == "execution_timeout" else seconds)
        print(f"[chaos] {task_id}.{attribute} = {getattr(task, attribute)!r}", flush=True)


def warm_up() -> None:
    """Start the in-process Execution API and serve one request through it now.

    ``dag.test()`` builds that API on the first task of a process (seconds of CPU); done here, a gated
    run reaches its first API call within a second or two of its go signal.
    """
    import httpx
    from airflow.sdk.execution_time import supervisor

    api = supervisor.in_process_api_server()
    with httpx.Client(transport=api.transport, base_url="http://in-process.invalid/") as client:
        client.get("health/ping")


def wait_for(go_file: Path, timeout: float) -> None:
    """Block until the parent creates ``go_file``."""
    deadline = time.monotonic() + timeout
    while not go_file.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"no go signal ({go_file}) within {timeout:.0f} s")
        time.sleep(0.02)


def prepare_resume(dag_id: str, logical_date: datetime | None) -> None:
    """Make ``dag.test()`` continue the run of ``logical_date``, with the next try of each lost task."""
    import airflow.models.dagrun as dagrun_module
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.serialization.definitions.dag import SerializedDAG
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import select

    finished = {"success", "failed", "skipped", "upstream_failed", "removed"}
    with create_session() as session:
        run = session.scalar(
            select(DagRun).where(DagRun.dag_id == dag_id, DagRun.logical_date == logical_date)
        )
        if run is None:
            raise SystemExit(f"no run of {dag_id} at {logical_date} to resume")
        for ti in session.scalars(select(TaskInstance).where(TaskInstance.run_id == run.run_id)):
            if ti.state is None or str(ti.state) in finished:
                continue
            print(f"[chaos] {ti.task_id}[{ti.map_index}] try {ti.try_number} was {ti.state}", flush=True)
            ti.state = (
                TaskInstanceState.UP_FOR_RETRY if ti.try_number <= ti.max_tries else TaskInstanceState.FAILED
            )
            ti.end_date = run.start_date if ti.start_date is None else ti.start_date
            ti.next_method = None
            ti.next_kwargs = None
            ti.trigger_id = None
        run_id = run.run_id

    def existing_run(*, dag: Any, session: Any, **_: Any) -> Any:
        found = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
        found.dag = dag
        return found

    # dag.test() imports both at call time: patching the attributes is enough.
    dagrun_module.get_or_create_dagrun = existing_run  # type: ignore[assignment]
    SerializedDAG.clear_dags = classmethod(lambda cls, *a, **k: 0)  # type: ignore[assignment,method-assign]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dag-file", type=Path, required=True)
    parser.add_argument("--dag-id", required=True)
    parser.add_argument("--logical-date", default=None, help="ISO date-time, or 'none' for a manual run")
    parser.add_argument("--run-after", default=None, help="ISO date-time (manual runs)")
    parser.add_argument("--conf", default=None, help="run conf as JSON")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="task.attr=seconds")
    parser.add_argument("--go-file", type=Path, default=None, help="wait for this file before running")
    parser.add_argument("--ready-file", type=Path, default=None, help="created once ready to go")
    parser.add_argument("--resume", action="store_true", help="continue the killed run of this date")
    args = parser.parse_args(argv)

    logical_date = _parse_time(args.logical_date)
    dag = load_dag(args.dag_file, args.dag_id)
    apply_overrides(dag, args.overrides)
    if args.go_file is not None:
        warm_up()
        if args.ready_file is not None:
            args.ready_file.touch()
        wait_for(args.go_file, timeout=120)
    if args.resume:
        prepare_resume(args.dag_id, logical_date)
    dag_run = dag.test(
        logical_date=logical_date,
        run_after=_parse_time(args.run_after),
        run_conf=json.loads(args.conf) if args.conf else None,
    )
    print(f"[chaos] DAG run {dag_run.run_id} ended {dag_run.state}", flush=True)
    return 0 if dag_run.state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
