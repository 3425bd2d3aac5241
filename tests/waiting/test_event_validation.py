"""Events are validated before a resumed task acts on them."""

from __future__ import annotations

import pytest

from airflow_provider_xplenty._waiting.events import validate_event
from airflow_provider_xplenty.exceptions import XplentyTriggerEventError

GOOD = {
    "status": "success",
    "kind": "job",
    "resource_id": 5001,
    "job_id": 5001,
    "xplenty_status": "completed",
    "message": "done",
    "history": [{"status": "running", "at": "x"}, {"status": "completed", "at": "y"}],
}


@pytest.mark.parametrize(
    "event",
    [
        None,
        "completed",
        {},
        {**GOOD, "status": "done"},
        {**GOOD, "kind": "cluster"},
        {**GOOD, "resource_id": "5001"},
        {**GOOD, "resource_id": 9999},
        {**GOOD, "history": "running"},
        {**GOOD, "xplenty_status": None},
        {**GOOD, "status": "timeout", "reason": "bored"},
    ],
)
def test_malformed_events_are_rejected(event):
    with pytest.raises(XplentyTriggerEventError, match="Xplenty trigger event"):
        validate_event(event, kind="job", resource_id=5001)


def test_good_event_passes():
    assert validate_event(dict(GOOD), kind="job", resource_id=5001)["status"] == "success"
    assert validate_event({**GOOD, "status": "timeout", "reason": "execution_timeout"}, kind="job")
