"""The two wall-clock deadlines of a wait: the operator's ``timeout`` and the task's ``execution_timeout``.

Both travel into a trigger as absolute ``time.time()`` values (``end_time``, ``execution_deadline``),
so they hold while a task is deferred and across triggerer restarts.
"""

from __future__ import annotations

import math
import time
from datetime import datetime, timedelta
from typing import Any

from airflow_provider_xplenty.exceptions import XplentyConfigError


def positive_seconds(value: Any, name: str, *, allow_zero: bool = False) -> float:
    """Return ``value`` (a number, a numeric string or a timedelta) as seconds; raise when it is not usable.

    :param name: the argument's name, for the error.
    :param allow_zero: accept 0 (else the value must be positive).
    :raises XplentyConfigError: not a number, not finite, negative, or 0 unless allowed.
    """
    seconds: float | None = None
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float, str)) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except ValueError:
            seconds = None
    if seconds is None or not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not allow_zero):
        least = "0 or more" if allow_zero else "more than 0"
        raise XplentyConfigError(
            f"{name} must be a number of seconds ({least}) or a timedelta, got {value!r}"
        )
    return seconds


def checked_timeout(timeout: Any, name: str = "timeout") -> float | timedelta | None:
    """Return a ``timeout`` argument as given (a number as float), ``None`` for none; raise when unusable.

    Checked when the DAG is parsed, so a timeout that would end the wait at once (0, negative) or
    cannot be read (``'abc'``) never lets a task create a cluster or start a job first.
    """
    if timeout is None:
        return None
    seconds = positive_seconds(timeout, name)
    return timeout if isinstance(timeout, timedelta) else seconds


def timeout_seconds(timeout: float | timedelta | None) -> float | None:
    """Return a ``timeout`` argument (seconds or timedelta) as seconds, ``None`` for no timeout."""
    if timeout is None:
        return None
    if isinstance(timeout, timedelta):
        return timeout.total_seconds()
    return float(timeout)


def wall_clock_deadlines(
    context: Any, timeout: float | timedelta | None, execution_timeout: timedelta | None
) -> tuple[float | None, float | None]:
    """Return ``(end_time, execution_deadline)`` as ``time.time()`` values for a trigger.

    ``end_time`` is now + ``timeout``; ``execution_deadline`` is the task's start + ``execution_timeout``
    (Airflow does not enforce ``execution_timeout`` while a task is deferred, so the trigger does).
    """
    now = time.time()
    seconds = timeout_seconds(timeout)
    end_time = None if seconds is None else now + seconds
    execution_deadline = None
    if execution_timeout is not None:
        ti = context.get("ti") if hasattr(context, "get") else None
        start = getattr(ti, "start_date", None)
        started = start.timestamp() if isinstance(start, datetime) else now
        execution_deadline = min(started, now) + execution_timeout.total_seconds()
    return end_time, execution_deadline


def earliest_deadline(end_time: float | None, execution_deadline: float | None) -> tuple[float | None, str]:
    """Return the deadline that passes first and its ``reason`` (``timeout``/``execution_timeout``).

    ``(None, "")`` when there is neither.
    """
    candidates = [(t, r) for t, r in ((end_time, "timeout"), (execution_deadline, "execution_timeout")) if t]
    if not candidates:
        return None, ""
    return min(candidates)
