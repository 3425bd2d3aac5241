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

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Create Airflow's tables once per session (about 1-2 s); request it in tests that run DAGs."""
    from airflow.utils import db

    db.resetdb()
    _backport_dag_test_fixes_of_airflow_3_3()


def _backport_dag_test_fixes_of_airflow_3_3() -> None:
    """On Airflow 3.2, give ``dag.test()`` two fixes 3.3 made to it; only the test harness changes.

    - Task callbacks get ``context["exception"]``: a 3.2 worker (``task_runner.main``) sets it before
      ``finalize()`` runs ``on_failure_callback``, but 3.2's in-process ``dag.test()`` supervisor does
      not, so callbacks saw ``None`` there (3.3 sets it in both).
    - One in-process Execution API per process: 3.2 builds a new FastAPI app for every task and
      trigger run (1-3 s of CPU each; the compat run took 6 minutes), 3.3 caches it.
    """
    import functools

    from airflow import __version__
    from airflow.sdk.execution_time import supervisor, task_runner
    from packaging.version import Version

    if Version(__version__) >= Version("3.3") or getattr(task_runner.finalize, "_xplenty_shim", False):
        return
    original = task_runner.finalize

    def finalize(ti, state, context, log, error=None):  # type: ignore[no-untyped-def]
        context["exception"] = error
        return original(ti, state, context, log, error)

    finalize._xplenty_shim = True  # type: ignore[attr-defined]
    task_runner.finalize = finalize
    supervisor.in_process_api_server = functools.lru_cache(maxsize=1)(supervisor.in_process_api_server)


@pytest.fixture(scope="session")
def register_dag(airflow_db):  # type: ignore[no-untyped-def]
    """Return a function that serialises a DAG built inside a test so ``dag.test()`` accepts it.

    Otherwise ``dag.test()`` fails with "Cannot create DagRun ... because the dag is not serialized";
    the bundles are synced first, or the ``INSERT INTO dag`` breaks a foreign key.
    """
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()

    def _register(dag):  # type: ignore[no-untyped-def]
        bag = DagBag(dag_folder=str(_ROOT / "example_dags"), collect_dags=False)
        bag.bag_dag(dag)
        sync_bag_to_db(bag, "dags-folder", None)
        return dag

    return _register


@pytest.fixture(autouse=True)
def _fresh_api_budgets():
    """Each test talks to a freshly reset emulator account: start with a fresh credit budget too."""
    from airflow_provider_xplenty.hooks._http.budget import reset_budgets

    reset_budgets()
