"""The two wall-clock deadlines of a wait: the operator's ``timeout`` and the task's ``execution_timeout``.

Both travel into a trigger as absolute ``time.time()`` values (``end_time``, ``execution_deadline``),
so they hold while a task is deferred and across triggerer restarts.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any


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
