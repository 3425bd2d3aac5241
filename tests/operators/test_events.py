"""execute_complete rejects malformed trigger events with a clear error, in every class that defers."""

from __future__ import annotations

import pytest

from airflow_provider_xplenty.exceptions import XplentyTriggerEventError
from airflow_provider_xplenty.operators.cluster import (
    XplentyCreateClusterOperator,
    XplentyTerminateClusterOperator,
)
from airflow_provider_xplenty.operators.job import XplentyRunJobOperator
from airflow_provider_xplenty.sensors.cluster import XplentyClusterSensor
from airflow_provider_xplenty.sensors.job import XplentyJobSensor

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


@pytest.fixture()
def emu(xplenty_emulator):
    xplenty_emulator.set_speed(1.0, durations={"cluster_pending": 0, "cluster_creating": 60})
    return xplenty_emulator


def resumed_elsewhere(make_task, emu):
    """Defer a fresh task; return the id it deferred on and what Airflow resumes a new copy with."""
    from _airflow_compat import TaskDeferred

    with pytest.raises(TaskDeferred) as deferred:
        make_task().execute(context={})
    return deferred.value.method_name, dict(deferred.value.kwargs or {})


def test_resumed_run_job_rejects_an_event_for_another_job(emu):
    from airflow_provider_xplenty.hooks.xplenty import XplentyHook

    emu.set_speed(1.0, durations={"cluster_creating": 0, "job_running": 60})
    cluster = XplentyHook().create_cluster(nodes=2)
    emu.advance(1)

    def make():
        return XplentyRunJobOperator(task_id="run", cluster_id=cluster.id, package_id=101, deferrable=True)

    method, kwargs = resumed_elsewhere(make, emu)
    (job,) = emu.jobs()
    assert kwargs == {"job_id": job["id"]}
    event = {"status": "success", "kind": "job", "resource_id": 999999, "xplenty_status": "completed"}
    with pytest.raises(XplentyTriggerEventError, match=f"waits on job {job['id']}"):
        getattr(make(), method)(context={}, event=event, **kwargs)


def test_resumed_create_cluster_rejects_an_event_for_another_cluster(emu):
    def make():
        return XplentyCreateClusterOperator(task_id="create", nodes=2, deferrable=True, poll_interval=0.1)

    method, kwargs = resumed_elsewhere(make, emu)
    (cluster,) = emu.clusters()
    assert kwargs == {"cluster_id": cluster["id"]}
    event = {"status": "success", "kind": "cluster", "resource_id": 999999, "xplenty_status": "available"}
    with pytest.raises(XplentyTriggerEventError, match=f"waits on cluster {cluster['id']}"):
        getattr(make(), method)(context={}, event=event, **kwargs)


def test_error_event_says_what_really_happens_to_the_job(emu):
    """A job the API does not know is not "kept running"; without a retry, no retry waits on it."""
    from airflow_provider_xplenty.exceptions import XplentyError
    from airflow_provider_xplenty.hooks.xplenty import XplentyHook

    op = XplentyRunJobOperator(task_id="run", cluster_id=1, package_id=101)
    gone = {"status": "error", "kind": "job", "resource_id": 424242, "message": "Error while waiting"}
    with pytest.raises(XplentyError) as caught:
        op.execute_complete(context={}, event=gone, job_id=424242)
    assert "does not know" in str(caught.value) and "retry" not in str(caught.value)

    emu.set_speed(1.0, durations={"cluster_creating": 0, "job_running": 60})
    cluster = XplentyHook().create_cluster(nodes=2)
    emu.advance(1)
    job = XplentyHook().run_job(cluster.id, 101)
    running = {**gone, "resource_id": job.id}
    with pytest.raises(XplentyError) as caught:
        op.execute_complete(context={}, event=running, job_id=job.id)  # no retries left
    assert "keeps running (no retry will wait on it)" in str(caught.value)


def test_deferred_trigger_polls_first_one_interval_after_the_check(emu):
    """The task read the status just before deferring: the trigger's first poll waits an interval."""
    import time

    from _airflow_compat import TaskDeferred

    task = XplentyCreateClusterOperator(task_id="create", nodes=2, deferrable=True, poll_interval=45)
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(context={})
    after = time.time()
    _, kwargs = deferred.value.trigger.serialize()
    assert before + 45 <= kwargs["first_poll_at"] <= after + 45
