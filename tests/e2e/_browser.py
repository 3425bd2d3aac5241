"""What the browser tests of every Airflow version share: the stack, the browser, REST calls, waits.

The stack is scripts/airflow_stack.py's, for the Airflow of the venv pytest runs in; its REST API is
``/api/v2`` on 3.x and ``/api/v1`` on 2.11, both behind :func:`api` (no login on either).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "e2e"
DOC_IMG = ROOT / "docs" / "img"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
DAG_IDS = ("xplenty_manual_run", "xplenty_daily_workflow", "xplenty_sweep")


def _load_stack_module() -> Any:
    spec = importlib.util.spec_from_file_location("airflow_stack", ROOT / "scripts" / "airflow_stack.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["airflow_stack"] = module
    spec.loader.exec_module(module)
    return module


airflow_stack = _load_stack_module()
AIRFLOW_2: bool = airflow_stack.AIRFLOW_2
AIRFLOW_VERSION: str = airflow_stack.AIRFLOW_VERSION


@contextmanager
def running_stack(home: Path, extra_env: dict[str, str] | None = None) -> Iterator[Any]:
    """Start the stack in ``home`` on free ports and wait until the example DAGs are parsed."""
    stack = airflow_stack.AirflowStack(
        home,
        api_port=airflow_stack.free_port(),
        emulator_port=airflow_stack.free_port(),
        # The example cluster terminates itself after 1800 emulated seconds idle: 30 s at x60, within
        # reach of 2.11's SequentialExecutor, which starts every task in a new process (seconds each on a
        # busy machine); x15 leaves it 2 minutes.
        emulator_speed=15.0 if AIRFLOW_2 else 60.0,
        extra_env={"XPLENTY_POLL_INTERVAL": "2", "XPLENTY_RETRY_DELAY": "2", **(extra_env or {})},
    )

    def parsed() -> bool:
        errors = api(stack, "GET", "/importErrors").json()["import_errors"]
        assert not errors, f"example DAGs fail to import: {errors}"
        return all(api(stack, "GET", f"/dags/{dag_id}").ok for dag_id in DAG_IDS)

    with stack:
        # The DAG processor needs a few seconds to parse and serialise the example DAGs.
        wait(parsed, 90, f"{', '.join(DAG_IDS)} parsed")
        yield stack


@contextmanager
def browser_page(viewport: dict[str, int]) -> Iterator[Any]:
    """A chromium page (Debian's chromium; Playwright's own browsers cannot be downloaded here)."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=viewport, permissions=["clipboard-read", "clipboard-write"])
        page = context.new_page()
        page.set_default_timeout(30_000)
        try:
            yield page
        finally:
            browser.close()


def api(stack: Any, method: str, path: str, **kwargs: Any) -> requests.Response:
    """Call the stack's REST API (``path`` after ``/api/v1`` or ``/api/v2``)."""
    return requests.request(method, f"{stack.api_url}{path}", timeout=30, **kwargs)


def wait(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 1.0) -> None:
    """Poll ``predicate`` until it is true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for: {what}")


def shot(page: Any, name: str) -> None:
    """Save a full-page screenshot to artifacts/e2e/ (git-ignored)."""
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def connection_form_shot(page: Any, part: str = "") -> None:
    """Screenshot the filled connection form (viewport size) as ``connection-form-airflow-<minor><part>.png``.

    Saved to artifacts/e2e/; with ``XPLENTY_E2E_DOC_IMG=1`` also to docs/img/, the pictures
    docs/connection.md shows.
    """
    minor = ".".join(AIRFLOW_VERSION.split(".")[:2])
    name = f"connection-form-airflow-{minor}{part}.png"
    page.screenshot(path=str(ARTIFACTS / name))
    if os.environ.get("XPLENTY_E2E_DOC_IMG") == "1":
        DOC_IMG.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOC_IMG / name))


def dag_runs(stack: Any, dag_id: str) -> list[dict[str, Any]]:
    """The DAG's runs, as the REST API lists them."""
    runs: list[dict[str, Any]] = api(stack, "GET", f"/dags/{dag_id}/dagRuns").json()["dag_runs"]
    return runs


def new_run(stack: Any, dag_id: str, before: set[str], timeout: float = 30) -> dict[str, Any]:
    """Wait for a run of ``dag_id`` whose id is not in ``before`` and return it."""
    runs: list[dict[str, Any]] = []

    def created() -> bool:
        runs[:] = [r for r in dag_runs(stack, dag_id) if r["dag_run_id"] not in before]
        return bool(runs)

    wait(created, timeout, f"a new run of {dag_id} to appear")
    return runs[0]


def wait_run(stack: Any, dag_id: str, run_id: str, timeout: float = 240) -> dict[str, Any]:
    """Wait until the run has finished and return it."""
    state: dict[str, Any] = {}

    def finished() -> bool:
        state.update(api(stack, "GET", f"/dags/{dag_id}/dagRuns/{run_id}").json())
        return state.get("state") in ("success", "failed")

    wait(finished, timeout, f"{dag_id} run {run_id} to finish", interval=2)
    return state


def task_states(stack: Any, dag_id: str, run_id: str) -> dict[str, str | None]:
    """``task_id[map_index]`` (no index when unmapped) to state, for every task instance of the run."""
    tis = api(stack, "GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances").json()["task_instances"]
    return {f"{ti['task_id']}[{ti['map_index']}]".replace("[-1]", ""): ti["state"] for ti in tis}


def xcom(stack: Any, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
    """The XCom value (on 2.11 the API returns its ``str()``)."""
    resp = api(stack, "GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}")
    resp.raise_for_status()
    return resp.json()["value"]


def emulator_state(stack: Any) -> dict[str, Any]:
    """The emulator's whole state (accounts' clusters, jobs, ...)."""
    state: dict[str, Any] = requests.get(f"{stack.emulator_url}/_emulator/state", timeout=10).json()
    return state


def emulator_requests(stack: Any) -> list[dict[str, Any]]:
    """Every request the emulator has served."""
    log: list[dict[str, Any]] = requests.get(f"{stack.emulator_url}/_emulator/requests", timeout=10).json()[
        "requests"
    ]
    return log


def read_trigger_log(stack: Any, dag_id: str, run_id: str, task_id: str) -> str:
    """The triggerer's log of the task's deferral (fails when the task never deferred)."""
    log_dir = stack.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
    logs = list(log_dir.glob("attempt=*.log.trigger.*.log"))
    assert logs, f"no trigger log under {log_dir}: the task never deferred to the triggerer"
    return logs[0].read_text(errors="replace")


only_on_airflow_2 = pytest.mark.skipif(not AIRFLOW_2, reason="Airflow 2.11's UI (Flask AppBuilder)")
only_on_airflow_3 = pytest.mark.skipif(AIRFLOW_2, reason="Airflow 3's UI (React)")
