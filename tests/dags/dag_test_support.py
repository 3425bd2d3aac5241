"""Helpers for end-to-end DAG tests: the example DAGs loaded fast, and run results read back.

The example DAGs read their poll interval and retry delay from the environment at parse time;
these helpers load them with test values (sub-second polls, immediate retries) under a private
module name, so the DAG files themselves keep realistic production defaults. The SMTP sink lives
in ``airflow_provider_xplenty.testing``.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import sys
import uuid
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE_DAGS = ROOT / "example_dags"
ALERT_TO = "oncall@example.com, data-team@example.com"

#: Environment the example DAGs are parsed with in these tests.
DAG_TEST_ENV = {
    "XPLENTY_POLL_INTERVAL": "0.2",
    "XPLENTY_RETRY_DELAY": "0",
    "XPLENTY_RETRY_BACKOFF": "0",
}


def load_example_dag(filename: str, dag_id: str) -> Any:
    """Import an example DAG file with the test environment and return its DAG object."""
    saved = {k: os.environ.get(k) for k in DAG_TEST_ENV}
    os.environ.update(DAG_TEST_ENV)
    try:
        name = f"_xplenty_example_{pathlib.Path(filename).stem}_{uuid.uuid4().hex[:8]}"
        spec = importlib.util.spec_from_file_location(name, EXAMPLE_DAGS / filename)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    dag = getattr(module, "dag", None)
    assert dag is not None and dag.dag_id == dag_id
    return dag


def task_states(dag_run: Any) -> dict[str, str]:
    """Return ``{task_id[map_index]: state}`` of a finished DAG run."""
    out: dict[str, str] = {}
    for ti in dag_run.get_task_instances():
        key = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
        out[key] = str(ti.state.value if hasattr(ti.state, "value") else ti.state)
    return out


def xcom(dag_run: Any, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
    """Read one XCom of a finished DAG run from the metadata DB."""
    from airflow_provider_xplenty._compat import xcom_from_metadata_db

    return xcom_from_metadata_db(dag_run.dag_id, dag_run.run_id, task_id, key, map_index)
