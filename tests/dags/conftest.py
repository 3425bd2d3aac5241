"""Fixtures for end-to-end DAG tests: a real SMTP server on loopback and the example DAGs loaded fast."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from dag_test_support import ALERT_TO, load_example_dag

from airflow_provider_xplenty.testing import SmtpSink


@pytest.fixture(scope="session")
def _smtp_server() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture()
def smtp_sink(_smtp_server: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> SmtpSink:
    """An empty SMTP sink, wired as ``smtp_default``, with alert recipients in the Variable."""
    _smtp_server.clear()
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", _smtp_server.connection_json(timeout=10))
    monkeypatch.setenv("AIRFLOW_VAR_XPLENTY_ALERT_EMAILS", ALERT_TO)
    return _smtp_server


@pytest.fixture(scope="session")
def daily_dag(airflow_db: None) -> Any:
    """The daily workflow DAG with sub-second polls and immediate retries."""
    return load_example_dag("xplenty_daily_workflow.py", "xplenty_daily_workflow")


@pytest.fixture()
def sweep_dag(airflow_db: None) -> Any:
    """The hourly sweep DAG, freshly loaded for each test."""
    return load_example_dag("xplenty_sweep.py", "xplenty_sweep")


@pytest.fixture()
def manual_dag(airflow_db: None) -> Any:
    """The manual-run DAG with sub-second polls, freshly loaded for each test.

    Under ``dag.test()`` tasks run in the test process on the DAG's own objects, and a run's conf is
    merged into the tasks' params in place; a fresh DAG keeps one test's conf out of the next.
    """
    return load_example_dag("xplenty_manual_run.py", "xplenty_manual_run")
