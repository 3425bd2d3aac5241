"""Every difference between Airflow versions, and every Airflow import of the runtime package.

The provider supports Airflow 3.2 and 3.3. Every module of the package (the emulator and the test
helpers aside) imports Airflow's classes from here, so a port to another Airflow version edits this
module only. Each shim says which Airflow versions need it and why.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airflow.sdk import (
    BaseHook,
    BaseOperator,
    BaseOperatorLink,
    BaseSensorOperator,
    Context,
    PokeReturnValue,
    XComArg,
)
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowNotFoundException,
    AirflowSensorTimeout,
    AirflowSkipException,
    AirflowTaskTimeout,
    TaskDeferred,
)

try:
    from airflow.sdk.configuration import conf
except ImportError:  # Airflow 3.0/3.1: their task SDK has no configuration module
    from airflow.configuration import conf  # type: ignore[no-redef]

if TYPE_CHECKING:
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier
    from airflow.sdk.log import mask_secret
    from airflow.sdk.types import TaskInstanceKey
    from airflow.triggers.base import BaseTrigger, TriggerEvent

    TRIGGER_HAS_ON_KILL: bool


def __getattr__(name: str) -> Any:
    """Import on first use what operators and sensors never need at DAG-parse time.

    The trigger base (``airflow.triggers.base`` pulls in Airflow's core models) and the SMTP provider
    cost more to import than the whole provider; a DAG file that only builds operators skips both.
    """
    if name in ("BaseTrigger", "TriggerEvent"):
        from airflow.triggers import base

        return getattr(base, name)
    if name == "TRIGGER_HAS_ON_KILL":
        from airflow.triggers.base import BaseTrigger

        # Airflow 3.3+ calls ``BaseTrigger.on_kill`` when a user kills a deferred task; 3.2 only cancels it.
        return "on_kill" in BaseTrigger.__dict__
    if name == "mask_secret":  # Airflow's secrets masker (its logging set-up is heavy to import)
        from airflow.sdk.log import mask_secret

        return mask_secret
    if name == "SmtpNotifier":
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        return SmtpNotifier
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "TRIGGER_HAS_ON_KILL",
    "AirflowException",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "AirflowTaskTimeout",
    "BaseHook",
    "BaseOperator",
    "BaseOperatorLink",
    "BaseSensorOperator",
    "BaseTrigger",
    "Context",
    "PokeReturnValue",
    "ResumableJobMixin",
    "SmtpNotifier",
    "TaskDeferred",
    "TriggerEvent",
    "XComArg",
    "conf",
    "dag_run_state",
    "dag_with_template_env",
    "keep_empty_renders",
    "mask_secret",
    "task_left_deferred",
    "task_state_store",
    "xcom_from_metadata_db",
    "xcom_value",
]

# -- triggers -----------------------------------------------------------------------------------------


async def task_left_deferred(ti: Any, log: Any) -> bool:
    """Return whether the task of a cancelled trigger left the deferred state (a user action).

    Airflow 3.2 only (no ``BaseTrigger.on_kill``): a user marking the task failed/success or clearing it
    cancels the trigger just as a triggerer restart does; the task's state tells the two apart.
    ``False`` when the state is unknown or unreadable: rather leave the job running than stop it by mistake.

    :param ti: the trigger's ``task_instance`` (``None`` outside a triggerer).
    :param log: where to warn when the state cannot be read.
    """
    if ti is None:
        return False
    try:
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
        from asgiref.sync import sync_to_async

        states = await sync_to_async(RuntimeTaskInstance.get_task_states)(
            dag_id=ti.dag_id, task_ids=[ti.task_id], run_ids=[ti.run_id], map_index=ti.map_index
        )
    except Exception:
        log.warning("Could not read the state of %s; not stopping anything", ti.task_id, exc_info=True)
        return False
    map_index = getattr(ti, "map_index", -1)
    key = ti.task_id if map_index is None or map_index < 0 else f"{ti.task_id}_{map_index}"
    run_states = states.get(ti.run_id, {})
    if key not in run_states:
        return False
    state = run_states[key]
    # A cleared task has no state (None) until the scheduler picks it up again: a user action too.
    return state is None or str(getattr(state, "value", state)) != "deferred"


# -- operators ----------------------------------------------------------------------------------------


def task_state_store(context: Context | dict[str, Any]) -> Any:
    """Return the task's ``task_state_store``, or ``None``.

    Airflow 3.3+ only; on 3.2 a retry finds the work of an earlier try through the API instead.
    """
    return context.get("task_state_store")  # type: ignore[call-overload]


class _ResumableJobFallback:
    """Stand-in for ``airflow.sdk.ResumableJobMixin`` on Airflow 3.2 (which has no ``task_state_store``).

    The operator's ``submit_job`` looks for the job a previous try started (``list_jobs``), so the
    no-duplicate guarantee holds without the store.
    """

    external_id_key: str = "remote_job_id"

    def __init__(self, *, durable: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.durable = durable

    def execute_resumable(self, context: Context) -> Any:
        """Submit (or find) the job, wait for it, and return its result."""
        external_id = self.submit_job(context)  # type: ignore[attr-defined]
        self.poll_until_complete(external_id, context)  # type: ignore[attr-defined]
        return self.get_job_result(external_id, context)  # type: ignore[attr-defined]


try:
    from airflow.sdk import ResumableJobMixin  # type: ignore[attr-defined]  # Airflow 3.3+
except ImportError:  # Airflow 3.2: same guarantee through the list_jobs search in submit_job
    ResumableJobMixin = _ResumableJobFallback  # type: ignore[misc,assignment]


def dag_run_state(dag_id: str, run_id: str) -> str | None:
    """Return the state of a DAG run of this Airflow (``queued``, ``running``, ``success``, ``failed``).

    Asked from a running task through the task SDK (Airflow 3.2 and 3.3): the DAG run may belong to any
    DAG. ``None`` when this Airflow has no such DAG run (the Execution API answers 404 to a state request).
    """
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    if not RuntimeTaskInstance.get_dr_count(dag_id=dag_id, run_ids=[run_id]):
        return None
    state = RuntimeTaskInstance.get_dagrun_state(dag_id=dag_id, run_id=run_id)
    return str(getattr(state, "value", state))


# -- links and notifier: reading XComs ----------------------------------------------------------------


def xcom_value(ti_key: TaskInstanceKey, key: str) -> Any:
    """Return one XCom of a task instance (what an operator link reads)."""
    from airflow.sdk.execution_time.xcom import XCom

    return XCom.get_value(ti_key=ti_key, key=key)


def xcom_from_metadata_db(dag_id: str, run_id: str, task_id: str, key: str, map_index: int) -> Any:
    """Read one XCom straight from the metadata DB.

    For DAG callbacks under ``dag.test()``, which run in their own process where no task supervisor
    answers XCom requests (the metadata DB is local there).
    """
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = XComModel.get_many(
            run_id=run_id, key=key, task_ids=task_id, dag_ids=dag_id, map_indexes=map_index, limit=1
        )
        row = session.scalars(query).first()
        return None if row is None else XComModel.deserialize_value(row)


# -- notifier: rendering templates --------------------------------------------------------------------


def dag_with_template_env(dag: Any) -> Any:
    """Return ``dag`` when it can build a template env, else ``None`` (Airflow then uses a plain one).

    Airflow 3.2 and 3.3, ``dag.test()`` only: DAG-level notifiers get a ``SerializedDAG``, which has no
    ``get_template_env`` (in a deployment the dag-processor passes a real DAG).
    """
    return dag if hasattr(dag, "get_template_env") else None


def keep_empty_renders(obj: Any, templates: dict[str, Any], render: Callable[[Any], Any]) -> None:
    """Store the empty result of each template field that Airflow left as its template text.

    Airflow 3.2 keeps the template itself when a field renders empty (3.3 stores the empty result).
    Only fields still holding their template object are rendered again.

    :param obj: the rendered object (a notifier).
    :param templates: each template field's value before rendering.
    :param render: renders one template with the same context and environment.
    """
    for name, template in templates.items():
        if template and getattr(obj, name) is template:
            rendered = render(template)
            if not rendered:
                setattr(obj, name, rendered)
