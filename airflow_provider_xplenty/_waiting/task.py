"""What every Xplenty operator and sensor shares: the hook, XCom pushes, id parsing, wait-or-defer.

This module sits above the triggers (it defers to them); the rest of :mod:`airflow_provider_xplenty._waiting`
sits below them.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, Union

from airflow_provider_xplenty._compat import conf, event_try_number
from airflow_provider_xplenty._waiting.deadlines import (
    checked_timeout,
    positive_seconds,
    wall_clock_deadlines,
)
from airflow_provider_xplenty._waiting.events import ResourceKind
from airflow_provider_xplenty.exceptions import XplentyConfigError

if TYPE_CHECKING:
    from airflow_provider_xplenty._compat import Context, XComArg
    from airflow_provider_xplenty.hooks.xplenty import XplentyHook

#: What an id argument accepts: an int, a (templated) string, or another task's output
#: (``create.output``, an ``XComArg``), which Airflow resolves before ``execute``.
IdArg = Union[int, str, "XComArg"]

#: XCom key of the status transitions seen while waiting (operators and sensors).
STATUS_HISTORY_XCOM_KEY = "status_history"


def default_deferrable() -> bool:
    """Return ``[operators] default_deferrable`` (the default of every ``deferrable`` argument here)."""
    return bool(conf.getboolean("operators", "default_deferrable", fallback=False))


def dag_run_start(context: Context | dict[str, Any]) -> datetime | None:
    """When the DAG run started (Airflow's clock), else its ``run_after``; ``None`` without a DAG run."""
    dag_run = context.get("dag_run")
    since = getattr(dag_run, "start_date", None) or getattr(dag_run, "run_after", None)
    return since if isinstance(since, datetime) else None


def push(context: Context | dict[str, Any], key: str, value: Any) -> None:
    """Push an XCom when the context has a task instance (unit tests may call without one)."""
    ti = context.get("ti")
    if ti is not None:
        ti.xcom_push(key=key, value=value)


def as_int(value: Any, what: str) -> int:
    """Return a rendered id argument as an int, or raise :class:`XplentyConfigError`."""
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        raise XplentyConfigError(f"{what} must be an integer id, got {value!r}") from None


def no_id(value: Any) -> bool:
    """Whether a rendered id argument holds no id: ``None``, empty, or ``"None"`` (Jinja's text for None)."""
    return value is None or str(value).strip() in ("", "None")


def known_at_parse(value: Any) -> bool:
    """Whether an argument is known when the DAG is parsed: a plain value, not a template or an XComArg."""
    if isinstance(value, str):
        return "{{" not in value and "{%" not in value
    return isinstance(value, (int, float)) or value is None


def positive_int(value: Any, what: str) -> int:
    """Return ``value`` (an int or its text) as a positive int, or raise :class:`XplentyConfigError`."""
    text = str(value).strip()
    if isinstance(value, (bool, float)) or not text.isdigit() or int(text) < 1:
        raise XplentyConfigError(f"{what} must be a positive integer, got {value!r}")
    return int(text)


def as_flag(value: Any, what: str) -> bool:
    """Return a (possibly rendered) boolean argument as a bool, or raise :class:`XplentyConfigError`."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "false"):
        return text == "true"
    raise XplentyConfigError(f"{what} must be True or False, got {value!r}")


def try_number(context: Context | dict[str, Any]) -> int:
    """Return the try number of the running task instance (1 without one)."""
    ti = context.get("ti")
    return int(getattr(ti, "try_number", 1) or 1)


class XplentyTaskMixin:
    """The hook, and the one "wait in this worker or defer to a trigger" step, for operators and sensors.

    The class using it sets ``xplenty_conn_id``, ``hook_params``, ``deferrable`` and
    ``transient_error_timeout``, and is a ``BaseOperator`` (``defer``, ``log``, ``timeout``).
    """

    xplenty_conn_id: str
    hook_params: dict[str, Any]
    deferrable: bool
    transient_error_timeout: float
    poll_interval: float

    if TYPE_CHECKING:
        log: Any
        timeout: Any
        execution_timeout: timedelta | None

        def defer(
            self, *, trigger: Any, method_name: str, kwargs: Any = None, timeout: Any = None
        ) -> Any: ...

    def _init_waiting(
        self,
        xplenty_conn_id: str,
        deferrable: bool,
        poll_interval: float,
        timeout: Any,
        hook_params: dict[str, Any] | None,
        transient_error_timeout: float,
        /,
        *,
        checked_by_airflow: bool = False,
    ) -> None:
        """Set (and check) the connection and waiting arguments every waiting operator and sensor takes.

        Checked here, when the DAG is parsed: a bad ``poll_interval``, ``timeout`` or
        ``transient_error_timeout`` fails with its name before any cluster or job exists.
        ``checked_by_airflow=True``: ``poll_interval`` and ``timeout`` are a sensor's ``poke_interval``
        and ``timeout``, which ``BaseSensorOperator`` checked with its own rules (0 allowed).
        """
        if not checked_by_airflow:
            poll_interval = positive_seconds(poll_interval, "poll_interval")
            timeout = checked_timeout(timeout)
        self.xplenty_conn_id = xplenty_conn_id
        self.deferrable = deferrable
        self.poll_interval = float(poll_interval)
        self.timeout = timeout
        self.hook_params = dict(hook_params or {})
        self.transient_error_timeout = positive_seconds(
            transient_error_timeout, "transient_error_timeout", allow_zero=True
        )

    @cached_property
    def hook(self) -> XplentyHook:
        """The sync hook (built on first use, never at DAG parse time)."""
        from airflow_provider_xplenty.hooks.xplenty import XplentyHook  # not needed to parse a DAG

        return XplentyHook(self.xplenty_conn_id, **self.hook_params)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """Resume from the trigger, or start afresh when Airflow hands this try an earlier try's event.

        Airflow 3.0 resumes the retry of a task that failed after deferring with the failed try's
        event (see ``_compat.event_try_number``); that retry runs ``execute`` like any other retry.
        """
        earlier = event_try_number(next_kwargs, context)
        if earlier is not None:
            self.log.warning(
                "Airflow resumed try %s with the trigger event of try %s; starting this try afresh",
                try_number(context),
                earlier,
            )
            return self.execute(context)  # type: ignore[attr-defined]
        return super().resume_execution(next_method, next_kwargs, context)  # type: ignore[misc]

    def _wait_or_defer(
        self,
        context: Context,
        *,
        kind: ResourceKind,
        resource_id: int,
        target_statuses: Collection[str],
        failed_statuses: Collection[str],
        history: list[dict[str, Any]],
        poll_interval: float,
        method_name: str = "execute_complete",
        trigger_extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Wait for ``resource_id`` to reach a target or failed status, or a deadline.

        Deferrable: defer to the trigger (``timeout=None``; the wall-clock deadlines travel in the
        trigger) and resume in ``method_name`` with ``{kind}_id=resource_id``, so the resumed task
        checks the event is for its own resource. Otherwise wait in this worker and return the event.
        """
        end_time, execution_deadline = wall_clock_deadlines(context, self.timeout, self.execution_timeout)
        if self.deferrable:
            from airflow_provider_xplenty.triggers.xplenty import XplentyClusterTrigger, XplentyJobTrigger

            trigger_cls = XplentyJobTrigger if kind == "job" else XplentyClusterTrigger
            self.defer(
                trigger=trigger_cls(
                    resource_id,
                    xplenty_conn_id=self.xplenty_conn_id,
                    poll_interval=poll_interval,
                    target_statuses=sorted(target_statuses),
                    failed_statuses=sorted(failed_statuses),
                    end_time=end_time,
                    execution_deadline=execution_deadline,
                    history=history,
                    hook_params=self.hook_params,
                    transient_error_timeout=self.transient_error_timeout,
                    # the status was read just now: the trigger's first poll can wait an interval
                    first_poll_at=time.time() + poll_interval,
                    try_number=try_number(context),
                    **(trigger_extra or {}),
                ),
                method_name=method_name,
                kwargs={f"{kind}_id": resource_id},
                timeout=None,
            )
        from airflow_provider_xplenty._waiting.blocking import wait_sync

        event, _snap = wait_sync(
            hook=self.hook,
            kind=kind,
            resource_id=resource_id,
            target_statuses=target_statuses,
            failed_statuses=failed_statuses,
            poll_interval=poll_interval,
            end_time=end_time,
            history=history,
            log=self.log,
            transient_error_timeout=self.transient_error_timeout,
        )
        return event


#: Clock skew tolerated between Airflow and the Xplenty API, on top of the skew measured from ``Date``.
CLOCK_MARGIN = timedelta(seconds=5)


def api_floor(hook: XplentyHook, airflow_time: datetime) -> datetime:
    """A lower bound, on the API's clock, for objects created after ``airflow_time`` (Airflow's clock)."""
    return airflow_time + hook.get_server_clock_skew() - CLOCK_MARGIN
