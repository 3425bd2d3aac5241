"""Every Airflow version difference of the test harness (the package's own are in ``_compat``).

The tests run on Airflow 2.11 and 3.0 to 3.3 (one lane each, see the Makefile). Test modules import
Airflow's DAG-authoring names and the version-dependent helpers from here.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_xplenty._compat import (
    AIRFLOW_V_3_0_PLUS,
    AIRFLOW_V_3_1_PLUS,
    AIRFLOW_V_3_2_PLUS,
    AIRFLOW_V_3_3_PLUS,
)

if AIRFLOW_V_3_2_PLUS:
    from airflow.sdk import DAG, get_current_context, task
    from airflow.sdk.exceptions import (
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowTaskTimeout,
        ParamValidationError,
        TaskDeferred,
    )
elif AIRFLOW_V_3_0_PLUS:  # 3.0, 3.1: task SDK classes, exceptions still in core
    from airflow.exceptions import (  # type: ignore[no-redef]
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowTaskTimeout,
        ParamValidationError,
        TaskDeferred,
    )
    from airflow.sdk import DAG, get_current_context, task  # type: ignore[no-redef]
else:  # 2.11: no task SDK
    from airflow.decorators import task  # type: ignore[no-redef]
    from airflow.exceptions import (  # type: ignore[no-redef]
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowTaskTimeout,
        ParamValidationError,
        TaskDeferred,
    )
    from airflow.models.dag import DAG  # type: ignore[no-redef]
    from airflow.operators.python import get_current_context  # type: ignore[no-redef]

__all__ = [
    "AIRFLOW_V_3_0_PLUS",
    "AIRFLOW_V_3_1_PLUS",
    "AIRFLOW_V_3_2_PLUS",
    "AIRFLOW_V_3_3_PLUS",
    "DAG",
    "AirflowFailException",
    "AirflowSensorTimeout",
    "AirflowTaskTimeout",
    "ParamValidationError",
    "TaskDeferred",
    "dag_test",
    "get_current_context",
    "operator_link_url",
    "redact",
    "serde",
    "set_params",
    "task",
    "xcom_model",
]

_NOTSET: Any = object()


def dag_test(dag: Any, logical_date: Any = _NOTSET, *, run_after: Any = None, run_conf: Any = None) -> Any:
    """Run ``dag.test()``; 2.11 calls the date ``execution_date`` and has no manual runs without one."""
    if AIRFLOW_V_3_0_PLUS:
        kwargs: dict[str, Any] = {"run_conf": run_conf}
        if logical_date is not _NOTSET:
            kwargs["logical_date"] = logical_date
        if run_after is not None:
            kwargs["run_after"] = run_after
        return dag.test(**kwargs)
    date = None if logical_date is _NOTSET else logical_date
    try:
        return dag.test(execution_date=date or run_after, run_conf=run_conf)
    except AirflowTaskTimeout:
        # 2.11's dag.test() re-raises a task's execution_timeout after marking the task failed and
        # calling its on_kill (a worker would record it and go on): return the run, as 3.x does.
        from airflow.models.dagrun import DagRun

        return DagRun.find(dag_id=dag.dag_id)[-1]


def set_params(dag: Any, params: dict[str, Any]) -> None:
    """Give a DAG its params after construction (2.11 keeps a plain dict and then fails to validate)."""
    if AIRFLOW_V_3_0_PLUS:
        dag.params = params
        return
    from airflow.models.param import ParamsDict

    dag.params = ParamsDict(params)


def operator_link_url(dag: Any, dag_run: Any, task_id: str) -> Any:
    """The URL the task's operator link shows for this run.

    3.0+: the worker computes it at task end and stores it as the XCom ``_link_<class>``. 2.11: the
    webserver computes it when the page is shown, as done here.
    """
    task = dag.get_task(task_id)
    (link,) = task.operator_extra_links
    if AIRFLOW_V_3_0_PLUS:
        from airflow_provider_xplenty._compat import xcom_from_metadata_db

        key = f"_link_{type(link).__name__}"
        return xcom_from_metadata_db(dag_run.dag_id, dag_run.run_id, task_id, key, -1)
    return link.get_link(task, ti_key=dag_run.get_task_instance(task_id).key)


def redact(value: Any) -> Any:
    """What Airflow's secrets masker lets through of ``value`` (its home moved in 3.0 and 3.1)."""
    if AIRFLOW_V_3_1_PLUS:
        from airflow.sdk.log import redact as _redact
    elif AIRFLOW_V_3_0_PLUS:
        from airflow.sdk.execution_time.secrets_masker import redact as _redact  # type: ignore[no-redef]
    else:
        from airflow.utils.log.secrets_masker import redact as _redact  # type: ignore[no-redef]
    return _redact(value)


def serde() -> Any:
    """Airflow's serde module (the task SDK's from 3.2)."""
    if AIRFLOW_V_3_2_PLUS:
        from airflow.sdk import serde as module
    else:
        from airflow.serialization import serde as module  # type: ignore[no-redef]
    return module


def xcom_model() -> Any:
    """The ORM class of XCom rows: ``XComModel`` from 3.0, ``XCom`` on 2.11."""
    from airflow.models import xcom

    return xcom.XComModel if AIRFLOW_V_3_0_PLUS else xcom.XCom  # type: ignore[attr-defined]


def register_dag_function(root: Any) -> Any:
    """Return the function that serialises a DAG built inside a test so ``dag.test()`` accepts it.

    3.1+ refuse to run a DAG that was never serialized ("Cannot create DagRun ... because the dag is
    not serialized"); the bundles are synced first, or the ``INSERT INTO dag`` breaks a foreign key.
    2.11 and 3.0 run any DAG object.
    """
    if not AIRFLOW_V_3_1_PLUS:
        return lambda dag: dag
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    if AIRFLOW_V_3_2_PLUS:
        from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    else:
        from airflow.models.dagbag import DagBag, sync_bag_to_db  # type: ignore[attr-defined,no-redef]

    DagBundlesManager().sync_bundles_to_db()

    def _register(dag: Any) -> Any:
        bag = DagBag(dag_folder=str(root / "example_dags"), collect_dags=False)
        bag.bag_dag(dag)
        sync_bag_to_db(bag, "dags-folder", None)
        return dag

    return _register


def let_operators_execute_in_any_thread() -> None:
    """Airflow 2.11: ``op.execute()`` called in a thread other than the one that imported Airflow
    fails (``'_thread._local' object has no attribute 'callers'``): its ``ExecutorSafeguard``
    initialises a thread-local in the importing thread only. Tests run operators in threads.
    """
    if AIRFLOW_V_3_0_PLUS:
        return
    import threading

    from airflow.models.baseoperator import ExecutorSafeguard

    class _Callers(threading.local):
        def __init__(self) -> None:
            self.callers: dict[str, Any] = {}

    ExecutorSafeguard._sentinel = _Callers()


def backport_dag_test_fixes_of_airflow_3_3() -> None:
    """On Airflow 3.0 to 3.2, give ``dag.test()`` three fixes 3.3 made to it; only the harness changes.

    - Task callbacks get ``context["exception"]``: a worker (``task_runner.main``) sets it before
      ``finalize()`` runs ``on_failure_callback``, but the in-process ``dag.test()`` supervisor does
      not before 3.3, so callbacks saw ``None`` there.
    - One in-process Execution API per process: 3.0-3.2 build a new FastAPI app for every task and
      trigger run (1-3 s of CPU each), 3.3 caches it.
    - ... and wait for its lifespan: 3.0-3.2 start it without waiting, so under load the first request
      fails with ``KeyError: 'svcs_registry'`` (3.3 waits).
    2.11 has no task SDK (tasks run in the test process) and needs none of this.
    """
    if not AIRFLOW_V_3_0_PLUS or AIRFLOW_V_3_3_PLUS:
        return
    import functools
    import time

    from airflow.sdk.execution_time import supervisor, task_runner

    if getattr(task_runner.finalize, "_xplenty_shim", False):
        return
    original = task_runner.finalize

    def finalize(ti, state, context, log, error=None):  # type: ignore[no-untyped-def]
        context["exception"] = error
        return original(ti, state, context, log, error)

    finalize._xplenty_shim = True  # type: ignore[attr-defined]
    task_runner.finalize = finalize
    original_api = supervisor.in_process_api_server

    @functools.lru_cache(maxsize=1)
    def in_process_api_server():  # type: ignore[no-untyped-def]
        api = original_api()
        api.transport  # noqa: B018  (starts the lifespan)
        deadline = time.monotonic() + 30
        while not getattr(api.app.state, "lifespan_called", False) and time.monotonic() < deadline:
            time.sleep(0.01)
        return api

    supervisor.in_process_api_server = in_process_api_server
