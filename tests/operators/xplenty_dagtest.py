"""Helpers for running small DAGs with ``dag.test()`` against the Xplenty emulator."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

#: Default task arguments for test DAGs: immediate retries, no retries unless asked.
FAST = {"retries": 0, "retry_delay": timedelta(seconds=0)}
#: Poll interval for operators, triggers and sensors in tests (seconds).
POLL = 0.1
#: Hook settings for tests: few, fast retries.
HOOK = {"retry_limit": 1, "retry_backoff": 0.05, "retry_max_seconds": 2}


def new_dag(prefix: str, **default_args: Any) -> Any:
    """Return a fresh DAG (unique id) with the fast defaults."""
    from _airflow_compat import DAG

    return DAG(
        dag_id=f"{prefix}_{uuid.uuid4().hex[:8]}",
        schedule=None,
        start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
        catchup=False,
        default_args={**FAST, **default_args},
    )


def run_dag(dag: Any, register_dag: Callable[[Any], Any]) -> Any:
    """Register and run the DAG in-process; return the DagRun."""
    from _airflow_compat import dag_test

    register_dag(dag)
    return dag_test(dag)


def states(dag_run: Any) -> dict[str, str]:
    """Return ``{task_id: state}`` for a DagRun."""
    return {
        ti.task_id: str(ti.state.value if hasattr(ti.state, "value") else ti.state)
        for ti in dag_run.get_task_instances()
    }


def try_numbers(dag_run: Any) -> dict[str, int]:
    """Return ``{task_id: try_number}`` for a DagRun."""
    return {ti.task_id: int(ti.try_number) for ti in dag_run.get_task_instances()}


def xcom(dag_run: Any, task_id: str, key: str = "return_value") -> Any:
    """Read one XCom value of a finished DagRun from the metadata DB."""
    from airflow_provider_xplenty._compat import xcom_from_metadata_db

    return xcom_from_metadata_db(dag_run.dag_id, dag_run.run_id, task_id, key, -1)


class When(threading.Thread):
    """Runs ``action`` in the background once ``condition`` holds; :meth:`check` reports how it went."""

    def __init__(self, condition: Callable[[], bool], action: Callable[[], Any], timeout: float) -> None:
        super().__init__(daemon=True)
        self.condition, self.action, self.timeout = condition, action, timeout
        self.fired = False
        self.error: BaseException | None = None

    def run(self) -> None:
        deadline = time.monotonic() + self.timeout
        try:
            while time.monotonic() < deadline:
                if self.condition():
                    self.action()
                    self.fired = True
                    return
                time.sleep(0.02)
        except BaseException as error:  # handed to the test thread by check()
            self.error = error

    def check(self) -> None:
        """Wait for the thread; re-raise what the condition or action raised; fail if it never fired."""
        self.join(self.timeout + 5)
        if self.error is not None:
            raise self.error
        assert self.fired, f"the condition did not hold within {self.timeout}s: the action never ran"


def when(condition: Callable[[], bool], action: Callable[[], Any], *, timeout: float = 30.0) -> When:
    """Run ``action`` once ``condition`` holds (polled from a background thread); call ``.check()`` after."""
    thread = When(condition, action, timeout)
    thread.start()
    return thread


def failure_recorder() -> tuple[list[str], Callable[[Any], None]]:
    """An ``on_failure_callback`` that records each failure's exception text, and the list it fills."""
    seen: list[str] = []

    def on_failure(context: Any) -> None:
        seen.append(str(context.get("exception")))

    return seen, on_failure


def fail_status_reads(emu: Any, kind: str, count: int = 2) -> None:
    """Make the next ``count`` status reads of ``kind`` ("jobs"/"clusters") answer 503.

    Matches ``GET {kind}/{id}`` and the ``GET {kind}?...`` list calls alike, so the fault reaches a
    wait whichever status source serves it (one GET per resource, or the shared watcher's list).
    """
    emu.add_fault(kind="server_error", status=503, path_contains=f"/{kind}", method="GET", count=count)


def fault_taken(emu: Any, kind: str) -> Callable[[], bool]:
    """A :func:`when` condition: no fault of ``kind`` is left (the request it waited for has arrived).

    With a ``latency`` fault this fires while that request is held, before the server acts on it.
    """
    return lambda: not any(f.get("kind") == kind for f in emu.control("GET", "faults")["faults"])
