"""The wall-clock deadlines a wait carries: which passes first, and from what."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from airflow_provider_xplenty._waiting.deadlines import (
    earliest_deadline,
    timeout_seconds,
    wall_clock_deadlines,
)


@pytest.mark.parametrize(
    ("end_time", "execution_deadline", "expected"),
    [
        (None, None, (None, "")),
        (100.0, None, (100.0, "timeout")),
        (None, 50.0, (50.0, "execution_timeout")),
        (100.0, 50.0, (50.0, "execution_timeout")),
        (40.0, 50.0, (40.0, "timeout")),
    ],
)
def test_earliest_deadline(end_time, execution_deadline, expected):
    assert earliest_deadline(end_time, execution_deadline) == expected


def test_timeout_seconds_accepts_seconds_and_timedelta():
    assert timeout_seconds(None) is None
    assert timeout_seconds(90) == 90.0
    assert timeout_seconds(timedelta(minutes=2)) == 120.0


def test_execution_deadline_counts_from_the_task_start():
    started = datetime.now(timezone.utc) - timedelta(seconds=30)
    context = {"ti": SimpleNamespace(start_date=started)}
    before = time.time()
    end_time, execution_deadline = wall_clock_deadlines(context, 10, timedelta(seconds=60))
    assert end_time is not None and before + 10 <= end_time <= time.time() + 10
    assert execution_deadline == pytest.approx(started.timestamp() + 60)
