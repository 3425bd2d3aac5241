"""Every trigger round-trips through Airflow's own trigger storage."""

from __future__ import annotations

import json
import time

import pytest

from airflow_provider_xplenty.triggers.xplenty import XplentyClusterTrigger, XplentyJobTrigger

TRIGGERS = [
    XplentyJobTrigger(
        job_id=5001,
        xplenty_conn_id="xplenty_default",
        poll_interval=0.5,
        end_time=time.time() + 60,
        execution_deadline=time.time() + 120,
        history=[{"status": "idle", "at": "2026-01-01T00:00:00+00:00"}],
        stop_on_kill=False,
        hook_params={"retry_limit": 1},
        first_poll_at=time.time() + 0.5,
        try_number=2,
    ),
    XplentyJobTrigger(job_id=5002),
    XplentyClusterTrigger(cluster_id=1001, terminate_on_kill=True, poll_interval=2),
    XplentyClusterTrigger(cluster_id=1002, target_statuses=["terminated"], failed_statuses=[]),
]


@pytest.mark.parametrize("trigger", TRIGGERS, ids=lambda t: f"{type(t).__name__}-{t.resource_id}")
def test_trigger_round_trips_through_airflow_storage(trigger):
    from airflow.jobs.triggerer_job_runner import TriggerRunner
    from airflow.models.trigger import Trigger

    classpath, kwargs = trigger.serialize()
    # JSON primitives only: plain json must be able to carry them.
    assert json.loads(json.dumps(kwargs)) == kwargs
    row = Trigger.from_object(trigger)  # encrypts with serde, like the scheduler does
    cls = TriggerRunner().get_trigger_by_classpath(row.classpath)
    assert cls is type(trigger)
    rebuilt = cls(**row.kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)


def test_task_runner_serde_accepts_kwargs():
    from _airflow_compat import serde

    deserialize, serialize = serde().deserialize, serde().serialize

    for trigger in TRIGGERS:
        _, kwargs = trigger.serialize()
        assert deserialize(serialize(kwargs)) == kwargs


class _TI:
    def __init__(self, try_number: int) -> None:
        self.try_number = try_number


def test_events_name_the_try_that_deferred_and_a_later_try_starts_afresh():
    """Airflow 3.0 resumes a retry with the failed try's event: the try number in it tells them apart."""
    from airflow_provider_xplenty._compat import event_try_number

    trigger = XplentyJobTrigger(job_id=5003, try_number=1)
    event = trigger._event("failed", "Xplenty job 5003 is failed", None).payload
    assert event["try_number"] == 1
    assert event_try_number({"event": event, "job_id": 5003}, {"ti": _TI(2)}) == 1  # stale: start afresh
    assert event_try_number({"event": event}, {"ti": _TI(1)}) is None  # its own event: resume
    legacy = XplentyJobTrigger(job_id=5003)._event("failed", "x", None).payload  # older serialized trigger
    assert "try_number" not in legacy
    assert event_try_number({"event": legacy}, {"ti": _TI(2)}) is None
    assert event_try_number(None, {"ti": _TI(2)}) is None
