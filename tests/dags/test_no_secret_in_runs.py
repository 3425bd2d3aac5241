"""The API key stays out of task output, XCom, the alert e-mail and request URLs of a whole DAG run."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from typing import Any

import pytest
from _airflow_compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_1_PLUS, dag_test, xcom_model

from airflow_provider_xplenty.testing import SmtpSink


def _key_forms(key: str) -> list[str]:
    return [key, base64.b64encode(f"{key}:".encode()).decode(), base64.b64encode(key.encode()).decode()]


@pytest.mark.parametrize("fail", [False, True], ids=["success", "job-fails"])
def test_api_key_never_appears(
    daily_dag: Any,
    xplenty_emulator: Any,
    smtp_sink: SmtpSink,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    fail: bool,
) -> None:
    XComModel = xcom_model()
    from airflow.utils.session import create_session

    xplenty_emulator.reset(speed=100.0)
    if fail:
        xplenty_emulator.add_fault(kind="job_failure", package_id=103, message="bad input", count=3)

    dag_run = dag_test(daily_dag, logical_date=datetime(2025, 2, 1 + fail, tzinfo=timezone.utc))

    assert dag_run.state == ("failed" if fail else "success")
    with create_session() as session:
        rows = session.query(XComModel).filter(XComModel.run_id == dag_run.run_id).all()
        xcoms = json.dumps([row.value for row in rows], default=str)
    assert rows, "the run pushed no XCom: nothing was checked"
    out, err = capfd.readouterr()
    err += caplog.text  # Airflow 2.11 runs tasks in this process and logs through logging; 3.x prints
    if AIRFLOW_V_3_0_PLUS and not AIRFLOW_V_3_1_PLUS:
        # Airflow 3.0's own task supervisor logs, at DEBUG level, each value it is asked to mask
        # ("Sending request msg=MaskSecret(value=...)"): docs/operators.md, "Airflow versions".
        out, err = (_without_mask_requests(text) for text in (out, err))
    assert "Xplenty job" in out + err, "the run's task output was not captured: nothing was checked"
    mail = "\n".join(str(m) for m in smtp_sink.messages)
    assert bool(mail) is fail
    urls = " ".join(r["path"] for r in xplenty_emulator.requests()["requests"])
    for form in _key_forms(xplenty_emulator.api_key):
        for where, text in (("output", out + err), ("XCom", xcoms), ("e-mail", mail), ("URLs", urls)):
            assert form not in text, f"the API key (as {form[:4]}...) appears in the {where}"


def _without_mask_requests(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if "MaskSecret(" not in line)
