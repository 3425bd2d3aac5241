"""execute_complete rejects malformed trigger events with a clear error, in every class that defers."""

from __future__ import annotations

import pytest

from airflow_provider_xplenty.operators.cluster import (
    XplentyCreateClusterOperator,
    XplentyTerminateClusterOperator,
)
from airflow_provider_xplenty.operators.job import XplentyRunJobOperator
from airflow_provider_xplenty.sensors.cluster import XplentyClusterSensor
from airflow_provider_xplenty.sensors.job import XplentyJobSensor
from airflow_provider_xplenty.triggers.xplenty import XplentyTriggerEventError

TASKS = [
    (XplentyRunJobOperator(task_id="run", cluster_id=1, package_id=101), "execute_complete"),
    (XplentyCreateClusterOperator(task_id="create", nodes=2), "execute_complete"),
    (XplentyTerminateClusterOperator(task_id="terminate", cluster_id=1001), "execute_complete"),
    (XplentyTerminateClusterOperator(task_id="terminate2", cluster_id=1001), "terminate_after_provisioning"),
    (XplentyClusterSensor(task_id="cluster_sensor", cluster_id=1001), "execute_complete"),
    (XplentyJobSensor(task_id="job_sensor", job_id=5001), "execute_complete"),
]
BAD_EVENTS = [None, {"status": "done"}, {"status": "success", "kind": "job"}, ["success"]]


@pytest.mark.parametrize(("task", "method"), TASKS, ids=lambda v: getattr(v, "task_id", v))
@pytest.mark.parametrize("event", BAD_EVENTS, ids=["none", "bad-status", "no-id", "not-a-dict"])
def test_malformed_event_is_rejected(task, method, event):
    with pytest.raises(XplentyTriggerEventError, match="Malformed Xplenty trigger event"):
        getattr(task, method)(context={}, event=event)


def test_event_for_another_resource_is_rejected():
    sensor = XplentyJobSensor(task_id="job_sensor", job_id=5001)
    event = {"status": "success", "kind": "job", "resource_id": 5002, "xplenty_status": "completed"}
    with pytest.raises(XplentyTriggerEventError, match="waits on job 5001"):
        sensor.execute_complete(context={}, event=event)
