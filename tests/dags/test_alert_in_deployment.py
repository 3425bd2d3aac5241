"""The failure e-mail in a real deployment: scheduler, dag-processor (which runs DAG callbacks), triggerer.

Under ``dag.test()`` DAG callbacks run in the test process; in a deployment they run in the
dag-processor, which reads XComs, Variables and connections through the task SDK. This test runs a
scheduled run of the daily DAG on the ``make ui`` stack with the Xplenty connection stored in the
metadata DB (not in the environment) and checks the one e-mail. It takes about a minute.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from dag_test_support import ROOT

from airflow_provider_xplenty.testing import SmtpSink

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(400),
]
DAG_ID = "xplenty_daily_workflow"


def _stack_module() -> Any:
    spec = importlib.util.spec_from_file_location("airflow_stack", ROOT / "scripts" / "airflow_stack.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("airflow_stack", module)
    spec.loader.exec_module(module)
    return module


def test_scheduled_run_fails_and_sends_one_email(_smtp_server: SmtpSink, tmp_path: Path) -> None:
    mod = _stack_module()
    _smtp_server.clear()
    stack = mod.AirflowStack(
        tmp_path / "home",
        api_port=mod.free_port(),
        emulator_port=mod.free_port(),
        emulator_speed=60.0,
        extra_env={
            "AIRFLOW_CONN_SMTP_DEFAULT": _smtp_server.connection_json(),
            "XPLENTY_POLL_INTERVAL": "1",
            "XPLENTY_RETRY_DELAY": "1",
        },
    )
    with stack:
        airflow = str(Path(sys.executable).parent / "airflow")
        subprocess.run(
            [airflow, "variables", "set", "xplenty_alert_emails", "oncall@example.com"],
            env=stack.env(),
            check=True,
            capture_output=True,
        )
        requests.post(
            f"{stack.emulator_url}/_emulator/faults",
            json={"kind": "job_failure", "package_id": 103, "message": "Deployed fault", "count": 3},
            timeout=10,
        ).raise_for_status()
        deadline = time.monotonic() + 60
        while requests.get(f"{stack.url}/api/v2/dags/{DAG_ID}", timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "the DAG was not parsed"
            time.sleep(1)
        requests.patch(f"{stack.url}/api/v2/dags/{DAG_ID}", json={"is_paused": False}, timeout=10)

        runs: list[dict[str, Any]] = []
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            runs = requests.get(f"{stack.url}/api/v2/dags/{DAG_ID}/dagRuns", timeout=10).json()["dag_runs"]
            if runs and runs[0]["state"] in ("success", "failed"):
                break
            time.sleep(2)
        tis = requests.get(
            f"{stack.url}/api/v2/dags/{DAG_ID}/dagRuns/{runs[0]['dag_run_id']}/taskInstances", timeout=10
        ).json()["task_instances"]
        tried = {ti["task_id"]: (ti["state"], ti["try_number"]) for ti in tis}
        assert [r["state"] for r in runs] == ["failed"], tried
        assert tried["run_job"] == ("failed", 3), tried
        deadline = time.monotonic() + 60
        while not _smtp_server.messages and time.monotonic() < deadline:
            time.sleep(1)  # the dag-processor runs the callback a little later
        time.sleep(3)
        clusters = requests.get(f"{stack.emulator_url}/_emulator/state", timeout=10).json()["clusters"]
        jobs = requests.get(f"{stack.emulator_url}/_emulator/state", timeout=10).json()["jobs"]

    assert [c["status"] for c in clusters] == ["terminated"]
    assert len(_smtp_server.messages) == 1
    msg = _smtp_server.messages[0]
    body = SmtpSink.body(msg)
    last = max((j for j in jobs if j["package_id"] == 103), key=lambda j: j["id"])
    assert f"Xplenty job {last['id']}" in msg["Subject"]
    assert runs[0]["dag_run_id"] in body
    assert ">3 of 3<" in body
    assert "Deployed fault" in body
    assert last["html_url"] in body
