"""The README's quickstart DAG, exactly as printed, runs against the emulator."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from _airflow_compat import AIRFLOW_V_3_0_PLUS, dag_test
from dag_test_support import ROOT, task_states


def _quickstart_source() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quickstart", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "no python block in the README's Quickstart section"
    return match.group(1)


def test_readme_quickstart_runs(register_dag: Any, xplenty_emulator: Any) -> None:
    source = _quickstart_source()
    assert len(source.strip().splitlines()) <= 21
    if not AIRFLOW_V_3_0_PLUS:  # the README's "Airflow versions" section: 2.11 has no airflow.sdk
        source = source.replace("from airflow.sdk import DAG", "from airflow.models.dag import DAG")
    namespace: dict[str, Any] = {}
    exec(compile(source, "README.md#quickstart", "exec"), namespace)
    dag = namespace["create"].dag  # `with DAG(...):` binds no name; the tasks know their DAG
    assert dag.dag_id == "xplenty_quickstart"
    for task in dag.tasks:  # the README keeps production defaults; a test cannot wait 30 s per poll
        task.poll_interval = 0.2
        task.retry_delay = 0
    register_dag(dag)
    xplenty_emulator.reset(speed=100)

    dag_run = dag_test(dag, logical_date=datetime(2025, 1, 1, tzinfo=timezone.utc))

    assert dag_run.state == "success", task_states(dag_run)
    (cluster,) = xplenty_emulator.clusters()
    assert (cluster["name"], cluster["status"]) == (f"Nightly_{dag_run.run_id}", "terminated")
    (job,) = xplenty_emulator.jobs()
    assert (job["package_id"], job["status"]) == (103, "completed")
    assert job["variables"]["InputPath"] == "'/input20250101'"
