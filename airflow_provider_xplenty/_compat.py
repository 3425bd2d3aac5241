"""Every difference between Airflow versions, and every Airflow import of the runtime package.

The provider supports Airflow 2.11 and 3.0 to 3.3. Every module of the package (the emulator and the
test helpers aside) imports Airflow's classes from here, so a port to another Airflow version edits
this module only. Version gates are explicit: a name missing on a supported version fails at import
time, not in the middle of a task. Each gate says which versions need it and why. mypy runs on the
newest Airflow and sees the ``airflow.sdk`` branch only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from airflow import __version__ as AIRFLOW_VERSION
from packaging.version import Version

_airflow = Version(Version(AIRFLOW_VERSION).base_version)
AIRFLOW_V_3_0_PLUS = _airflow >= Version("3.0.0")
AIRFLOW_V_3_1_PLUS = _airflow >= Version("3.1.0")
AIRFLOW_V_3_2_PLUS = _airflow >= Version("3.2.0")
AIRFLOW_V_3_3_PLUS = _airflow >= Version("3.3.0")
AIRFLOW_V_3_3_2_PLUS = _airflow >= Version("3.3.2")

if TYPE_CHECKING or AIRFLOW_V_3_2_PLUS:
    # 3.2+: exceptions and conf in the task SDK (airflow.exceptions.X still works but warns).
    from airflow.sdk.configuration import conf
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowNotFoundException,
        AirflowSensorTimeout,
        AirflowSkipException,
        AirflowTaskTimeout,
        TaskDeferred,
    )
else:
    # 2.11 to 3.1: in core (3.1's airflow.sdk.exceptions has only AirflowException; 3.0's has none).
    from airflow.configuration import conf
    from airflow.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowNotFoundException,
        AirflowSensorTimeout,
        AirflowSkipException,
        AirflowTaskTimeout,
        TaskDeferred,
    )

if TYPE_CHECKING or AIRFLOW_V_3_0_PLUS:
    # 3.0+: the DAG-authoring classes of the task SDK.
    from airflow.sdk import (
        BaseOperator,
        BaseOperatorLink,
        BaseSensorOperator,
        Context,
        PokeReturnValue,
        XComArg,
    )
else:
    # 2.11: no task SDK; the classes live in Airflow core.
    from airflow.models.baseoperator import BaseOperator
    from airflow.models.baseoperatorlink import BaseOperatorLink
    from airflow.models.xcom_arg import XComArg
    from airflow.sensors.base import BaseSensorOperator, PokeReturnValue
    from airflow.utils.context import Context

if TYPE_CHECKING or AIRFLOW_V_3_1_PLUS:
    from airflow.sdk import BaseHook
else:  # 2.11 and 3.0: airflow.sdk has no BaseHook before 3.1
    from airflow.hooks.base import BaseHook

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

        # Airflow 3.3+ calls ``BaseTrigger.on_kill`` when a user kills a deferred task; 2.11 to 3.2
        # only cancel the trigger (task_left_deferred tells a kill from a triggerer restart there).
        return "on_kill" in BaseTrigger.__dict__
    if name == "mask_secret":  # Airflow's secrets masker (its logging set-up is heavy to import)
        if AIRFLOW_V_3_1_PLUS:
            from airflow.sdk.log import mask_secret
        elif AIRFLOW_V_3_0_PLUS:  # 3.0: the task SDK's masker has its own module
            from airflow.sdk.execution_time.secrets_masker import mask_secret  # type: ignore[no-redef]
        else:  # 2.11
            from airflow.utils.log.secrets_masker import mask_secret  # type: ignore[no-redef]
        return mask_secret
    if name == "SmtpNotifier":  # same path on every supported version (smtp provider 3.2 is bundled)
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        return SmtpNotifier
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AIRFLOW_V_3_0_PLUS",
    "AIRFLOW_V_3_1_PLUS",
    "AIRFLOW_V_3_2_PLUS",
    "AIRFLOW_V_3_3_PLUS",
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
    "event_try_number",
    "failed_task_instance",
    "get_async_connection",
    "keep_empty_renders",
    "mask_secret",
    "task_left_deferred",
    "task_state_store",
    "xcom_from_metadata_db",
    "xcom_value",
]

# -- connections --------------------------------------------------------------------------------------


async def get_async_connection(conn_id: str) -> Any:
    """Return a connection from async code (the async hook, so the triggers).

    ``BaseHook.aget_connection`` exists from Airflow 3.1. 3.3.0 and 3.3.1 mask the secrets inside it
    with a blocking call that raises ``DeadlockImminentError`` while another async call is in flight
    (fixed in 3.3.2). On 2.11, 3.0, 3.3.0 and 3.3.1 the synchronous lookup runs in a worker thread.

    :param conn_id: the connection id.
    """
    if AIRFLOW_V_3_1_PLUS and (AIRFLOW_V_3_3_2_PLUS or not AIRFLOW_V_3_3_PLUS):
        return await BaseHook.aget_connection(conn_id)  # type: ignore[attr-defined,unused-ignore]
    from asgiref.sync import sync_to_async

    return await sync_to_async(BaseHook.get_connection)(conn_id)


# -- triggers -----------------------------------------------------------------------------------------


async def task_left_deferred(ti: Any, log: Any) -> bool:
    """Return whether the task of a cancelled trigger left the deferred state (a user action).

    Airflow 2.11 to 3.2 (no ``BaseTrigger.on_kill``): a user marking the task failed/success or
    clearing it cancels the trigger just as a triggerer restart does; the task's state tells the two
    apart. 3.0+ triggerers answer ``GetTaskStates``; a 2.11 triggerer reads the metadata DB itself.
    ``False`` when the state is unknown or unreadable: rather leave the job running than stop it.

    :param ti: the trigger's ``task_instance`` (``None`` outside a triggerer).
    :param log: where to warn when the state cannot be read.
    """
    if ti is None:
        return False
    from asgiref.sync import sync_to_async

    map_index = getattr(ti, "map_index", -1)
    try:
        if AIRFLOW_V_3_0_PLUS:
            from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

            states = await sync_to_async(RuntimeTaskInstance.get_task_states)(
                dag_id=ti.dag_id, task_ids=[ti.task_id], run_ids=[ti.run_id], map_index=ti.map_index
            )
            key = ti.task_id if map_index is None or map_index < 0 else f"{ti.task_id}_{map_index}"
            run_states = states.get(ti.run_id, {})
            if key not in run_states:
                return False
            state = run_states[key]
        else:
            from airflow.models.taskinstance import TaskInstance

            fresh = await sync_to_async(TaskInstance.get_task_instance)(
                dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id, map_index=map_index
            )
            if fresh is None:
                return False
            state = fresh.state
    except Exception:
        log.warning("Could not read the state of %s; not stopping anything", ti.task_id, exc_info=True)
        return False
    # A cleared task has no state (None) until the scheduler picks it up again: a user action too.
    return state is None or str(getattr(state, "value", state)) != "deferred"


# -- operators ----------------------------------------------------------------------------------------


def task_state_store(context: Context | dict[str, Any]) -> Any:
    """Return the task's ``task_state_store``, or ``None``.

    Airflow 3.3+ only; on 2.11 to 3.2 a retry finds the work of an earlier try through the API instead.
    """
    return context.get("task_state_store")  # type: ignore[call-overload]


def event_try_number(next_kwargs: dict[str, Any] | None, context: Context | dict[str, Any]) -> int | None:
    """Return the try number of a trigger event that belongs to an earlier try, else ``None``.

    Airflow 3.0 needs it: its Execution API keeps a try's ``next_method``/``next_kwargs`` when the
    try fails after resuming from a trigger (3.1 clears them; 2.11's ``handle_failure`` does too), so
    the retry "resumes" with the failed try's event instead of starting again. The triggers put the
    try number of the task that deferred into every event; on any version a mismatch means "start
    afresh". Events without one (a trigger serialized by an older provider) are taken as they are.
    """
    event = (next_kwargs or {}).get("event")
    sent = event.get("try_number") if isinstance(event, dict) else None
    if not isinstance(sent, int) or isinstance(sent, bool):
        return None
    ti = context.get("ti")
    current = int(getattr(ti, "try_number", 0) or 0)
    return sent if current and sent != current else None


class _ResumableJobFallback:
    """Stand-in for ``airflow.sdk.ResumableJobMixin`` on Airflow 2.11 to 3.2 (no ``task_state_store``).

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


if TYPE_CHECKING or AIRFLOW_V_3_3_PLUS:
    from airflow.sdk import ResumableJobMixin  # type: ignore[attr-defined,unused-ignore]
else:  # 2.11 to 3.2: same guarantee through the list_jobs search in submit_job
    ResumableJobMixin = _ResumableJobFallback


def dag_run_state(dag_id: str, run_id: str) -> str | None:
    """Return the state of a DAG run of this Airflow (``queued``, ``running``, ``success``, ``failed``).

    Asked from a running task through the task SDK on Airflow 3 (from the metadata DB on 2.11, where
    tasks read it directly): the DAG run may belong to any DAG. ``None`` when this Airflow has no
    such DAG run (the Execution API answers 404 to a state request).
    """
    if not AIRFLOW_V_3_0_PLUS:  # 2.11: tasks read the metadata DB directly
        from airflow.models.dagrun import DagRun

        runs = DagRun.find(dag_id=dag_id, run_id=run_id)
        return str(runs[0].state) if runs else None
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    if not RuntimeTaskInstance.get_dr_count(dag_id=dag_id, run_ids=[run_id]):
        return None
    state = RuntimeTaskInstance.get_dagrun_state(dag_id=dag_id, run_id=run_id)
    return str(getattr(state, "value", state))


# -- links and notifier: reading XComs ----------------------------------------------------------------


def xcom_value(ti_key: TaskInstanceKey, key: str) -> Any:
    """Return one XCom of a task instance (what an operator link reads).

    3.0+: the worker computes links at task end, through the task SDK's XCom. 2.11: the webserver
    computes them when the page is shown, from the metadata DB (same call, core class).
    """
    if AIRFLOW_V_3_0_PLUS:
        from airflow.sdk.execution_time.xcom import XCom

        return XCom.get_value(ti_key=ti_key, key=key)
    from airflow.models import xcom

    return cast("Any", xcom).XCom.get_value(ti_key=ti_key, key=key)


def xcom_from_metadata_db(dag_id: str, run_id: str, task_id: str, key: str, map_index: int) -> Any:
    """Read one XCom straight from the metadata DB.

    For DAG callbacks under ``dag.test()``, which run in their own process where no task supervisor
    answers XCom requests (the metadata DB is local there). ``get_many`` returns a ``select()`` from
    3.1, a ``Query`` of ``XComModel`` rows on 3.0, and of ``XCom`` rows (value already decoded) on 2.11.
    """
    from airflow.models import xcom
    from airflow.utils.session import create_session

    kwargs: dict[str, Any] = {
        "run_id": run_id,
        "key": key,
        "task_ids": task_id,
        "dag_ids": dag_id,
        "map_indexes": map_index,
        "limit": 1,
    }
    with create_session() as session:
        if AIRFLOW_V_3_1_PLUS:
            row = session.scalars(xcom.XComModel.get_many(**kwargs)).first()
            return None if row is None else xcom.XComModel.deserialize_value(row)
        if AIRFLOW_V_3_0_PLUS:
            model: Any = xcom.XComModel
            row = model.get_many(**kwargs, session=session).first()
            return None if row is None else model.deserialize_value(row)
        row = cast("Any", xcom).XCom.get_many(**kwargs, session=session).first()
        return None if row is None else row.value


# -- notifier: which task failed ----------------------------------------------------------------------


def failed_task_instance(context: Context | dict[str, Any]) -> Any:
    """Return the task instance whose failure failed the run (for a DAG ``on_failure_callback``).

    Airflow 3.2+ put the task that caused the failure in ``context["ti"]``. 2.11 to 3.1 put the
    run's last task instance by task id there (often a teardown that succeeded): read the run's
    latest failed task instance from the metadata DB (their DAG callbacks run where it is local).
    Falls back to ``context["ti"]``.
    """
    ti: Any = context.get("ti")  # type: ignore[call-overload,unused-ignore]
    state = str(getattr(getattr(ti, "state", None), "value", getattr(ti, "state", None)))
    if AIRFLOW_V_3_2_PLUS or ti is None or state == "failed":
        return ti
    try:
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session

        with create_session() as session:
            failed = (
                session.query(TaskInstance)
                .filter(
                    TaskInstance.dag_id == ti.dag_id,
                    TaskInstance.run_id == ti.run_id,
                    TaskInstance.state == "failed",
                )
                .order_by(TaskInstance.end_date.desc())
                .first()
            )
            if failed is not None:
                session.expunge(failed)
    except Exception:
        return ti
    return ti if failed is None else failed


# -- notifier: rendering templates --------------------------------------------------------------------


def dag_with_template_env(dag: Any) -> Any:
    """Return ``dag`` when it can build a template env, else ``None`` (Airflow then uses a plain one).

    Airflow 3.1 to 3.3, ``dag.test()`` only: DAG-level notifiers get a ``SerializedDAG``, which has no
    ``get_template_env`` (in a deployment the dag-processor passes a real DAG).
    """
    return dag if hasattr(dag, "get_template_env") else None


def keep_empty_renders(obj: Any, templates: dict[str, Any], render: Callable[[Any], Any]) -> None:
    """Store the empty result of each template field that Airflow left as its template text.

    Airflow 2.11 to 3.2 keep the template itself when a field renders empty (3.3 stores the empty
    result).
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
