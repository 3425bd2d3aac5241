"""Test session setup: a throwaway AIRFLOW_HOME, set before anything imports airflow.

Airflow reads its configuration when first imported (an unset ``AIRFLOW_HOME`` means ``~/airflow``),
so the environment must be in place before any test module or plugin imports it.
"""

from __future__ import annotations

import atexit
import os
import pathlib
import shutil
import tempfile

_ROOT = pathlib.Path(__file__).resolve().parents[1]
_HOME = pathlib.Path(tempfile.mkdtemp(prefix="xplenty-af-home-"))
atexit.register(shutil.rmtree, _HOME, True)
os.environ.update(
    {
        "AIRFLOW_HOME": str(_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(_ROOT / "example_dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME}/airflow.db",
        "AIRFLOW__CORE__DEFAULT_DEFERRABLE": "False",
    }
)

from importlib.metadata import version as _dist_version  # noqa: E402

_AIRFLOW_MAJOR = int(_dist_version("apache-airflow").split(".")[0])
if _AIRFLOW_MAJOR < 3:
    # Airflow 2.11's unit_tests.cfg (unit_test_mode) sets LocalExecutor, which it refuses with SQLite
    # ("cannot use SQLite with the LocalExecutor", raised by reschedule-mode sensors). 3.x has no
    # SequentialExecutor.
    os.environ["AIRFLOW__CORE__EXECUTOR"] = "SequentialExecutor"

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Create Airflow's tables once per session (about 1-2 s); request it in tests that run DAGs."""
    from _airflow_compat import backport_dag_test_fixes_of_airflow_3_3
    from airflow.utils import db

    db.resetdb()
    backport_dag_test_fixes_of_airflow_3_3()


@pytest.fixture(scope="session", autouse=True)
def _operators_execute_in_any_thread() -> None:
    if _AIRFLOW_MAJOR < 3:
        from _airflow_compat import let_operators_execute_in_any_thread

        let_operators_execute_in_any_thread()


@pytest.fixture(scope="session")
def register_dag(airflow_db):  # type: ignore[no-untyped-def]
    """Return a function that serialises a DAG built inside a test so ``dag.test()`` accepts it."""
    from _airflow_compat import register_dag_function

    return register_dag_function(_ROOT)


@pytest.fixture(autouse=True)
def _fresh_api_budgets():
    """Each test talks to a freshly reset emulator account: start with a fresh credit budget too."""
    from airflow_provider_xplenty.hooks._http.budget import reset_budgets

    reset_budgets()
