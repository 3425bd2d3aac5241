"""Cluster and job sensors in poke, reschedule and deferrable modes, through dag.test and the emulator."""

from __future__ import annotations

from datetime import timedelta

import pytest
from _airflow_compat import AirflowFailException, operator_link_url, set_params
from xplenty_dagtest import HOOK, new_dag, run_dag, states, try_numbers, xcom

from airflow_provider_xplenty.hooks.xplenty import XplentyHook
from airflow_provider_xplenty.sensors.cluster import XplentyClusterSensor
from airflow_provider_xplenty.sensors.job import XplentyJobSensor

pytestmark = pytest.mark.usefixtures("airflow_db")

FAST = {
    "cluster_pending": 0.2,
    "cluster_creating": 0.5,
    "cluster_terminating": 0.2,
    "job_idle": 0.1,
    "job_pending": 0.1,
    "job_running": 0.8,
}
MODES = [
    pytest.param({"mode": "poke"}, id="poke"),
    pytest.param({"mode": "reschedule", "poke_interval": 1}, id="reschedule"),
    pytest.param({"deferrable": True}, id="deferrable"),
]


@pytest.fixture()
def emu(xplenty_emulator):
    xplenty_emulator.set_speed(1.0, durations=FAST)
    return xplenty_emulator


def sensor_kwargs(mode):
    return {"poke_interval": 0.1, "timeout": 30, "hook_params": HOOK, **mode}


def test_failed_status_errors_are_not_retried():
    from airflow_provider_xplenty.exceptions import (
        XplentyClusterEndedError,
        XplentyClusterFailedError,
        XplentyJobEndedError,
        XplentyJobFailedError,
    )

    assert XplentyClusterSensor.failure_error is XplentyClusterEndedError
    assert XplentyJobSensor.failure_error is XplentyJobEndedError
    for error, base in (
        (XplentyClusterEndedError, XplentyClusterFailedError),
        (XplentyJobEndedError, XplentyJobFailedError),
    ):
        assert issubclass(error, AirflowFailException) and issubclass(error, base)


@pytest.mark.parametrize("mode", MODES)
def test_cluster_sensor_waits_until_available(emu, register_dag, mode):
    cluster = XplentyHook().create_cluster(nodes=2)
    with new_dag("cluster_sensor") as dag:
        XplentyClusterSensor(task_id="wait", cluster_id="{{ params.cid }}", **sensor_kwargs(mode))
        set_params(dag, {"cid": cluster.id})
    dr = run_dag(dag, register_dag)
    assert states(dr) == {"wait": "success"}
    assert emu.clusters()[0]["status"] in ("available", "idle")
    assert xcom(dr, "wait") in ("available", "idle")
    assert operator_link_url(dag, dr, "wait") == cluster.html_url


@pytest.mark.parametrize("mode", MODES)
def test_cluster_sensor_fails_on_error_status(emu, register_dag, mode):
    emu.add_fault(kind="cluster_failure", message="no capacity")
    cluster = XplentyHook().create_cluster(nodes=2)
    seen = []
    with new_dag(
        "cluster_sensor_err", on_failure_callback=lambda c: seen.append(str(c.get("exception")))
    ) as dag:
        XplentyClusterSensor(
            task_id="wait", cluster_id=cluster.id, retries=2, retry_delay=timedelta(0), **sensor_kwargs(mode)
        )
    dr = run_dag(dag, register_dag)
    assert states(dr) == {"wait": "failed"}
    assert f"cluster {cluster.id} is error" in seen[0]
    # looking again cannot change a failed status: the retries are not used
    assert try_numbers(dr) == {"wait": 1}


@pytest.mark.parametrize("already", [True, False], ids=["error-before-first-check", "error-later"])
@pytest.mark.parametrize("mode", MODES)
def test_soft_fail_skips_on_a_failed_status_in_every_mode(emu, register_dag, mode, already):
    emu.add_fault(kind="cluster_failure")
    cluster = XplentyHook().create_cluster(nodes=2)
    if already:
        emu.advance(60)
        assert emu.clusters()[0]["status"] == "error"
    with new_dag("cluster_sensor_soft_fail") as dag:
        XplentyClusterSensor(task_id="wait", cluster_id=cluster.id, soft_fail=True, **sensor_kwargs(mode))
    dr = run_dag(dag, register_dag)
    assert states(dr) == {"wait": "skipped"}


@pytest.mark.parametrize("mode", MODES)
def test_job_sensor(emu, register_dag, mode):
    emu.set_speed(1.0, durations={**FAST, "cluster_pending": 0, "cluster_creating": 0})
    hook = XplentyHook()
    cluster = hook.create_cluster(nodes=2)
    emu.add_fault(kind="job_failure", package_id=102, message="Column 'total' is missing")
    good = hook.run_job(cluster.id, 101)
    bad = hook.run_job(cluster.id, 102)
    seen = []
    with new_dag("job_sensor", on_failure_callback=lambda c: seen.append(str(c.get("exception")))) as dag:
        XplentyJobSensor(task_id="good", job_id=good.id, **sensor_kwargs(mode))
        XplentyJobSensor(
            task_id="bad", job_id=str(bad.id), retries=1, retry_delay=timedelta(0), **sensor_kwargs(mode)
        )
    dr = run_dag(dag, register_dag)
    assert states(dr) == {"good": "success", "bad": "failed"}
    assert try_numbers(dr)["bad"] == 1
    assert xcom(dr, "good") == "completed"
    assert any("Column 'total' is missing" in s for s in seen), seen
    assert operator_link_url(dag, dr, "good") == good.html_url


def test_deferrable_sensor_timeout(emu, register_dag):
    emu.set_speed(1.0, durations={**FAST, "cluster_creating": 60})
    cluster = XplentyHook().create_cluster(nodes=2)
    with new_dag("sensor_timeout") as dag:
        XplentyClusterSensor(
            task_id="wait", cluster_id=cluster.id, deferrable=True, poke_interval=0.1, timeout=0.5
        )
    dr = run_dag(dag, register_dag)
    assert states(dr) == {"wait": "failed"}
    # a sensor only watches: the cluster is left alone
    assert emu.clusters()[0]["status"] in ("pending", "creating")


def test_cluster_sensor_default_failed_statuses():
    ready = XplentyClusterSensor(task_id="ready", cluster_id=1)
    assert set(ready.failed_statuses) == {"error", "pending_terminate", "terminating", "terminated"}
    gone = XplentyClusterSensor(task_id="gone", cluster_id=1, target_statuses=("terminated",))
    assert gone.failed_statuses == ["error"]


@pytest.mark.parametrize("mode", [MODES[0], MODES[2]])
def test_cluster_sensor_waits_for_termination(emu, register_dag, mode):
    emu.set_speed(
        1.0, durations={**FAST, "cluster_pending": 0, "cluster_creating": 0, "cluster_terminating": 0.6}
    )
    hook = XplentyHook()
    cluster = hook.create_cluster(nodes=2)
    emu.advance(1)
    hook.terminate_cluster(cluster.id)
    with new_dag("cluster_gone") as dag:
        XplentyClusterSensor(
            task_id="gone", cluster_id=cluster.id, target_statuses=("terminated",), **sensor_kwargs(mode)
        )
    dr = run_dag(dag, register_dag)
    assert states(dr) == {"gone": "success"}
    assert xcom(dr, "gone") == "terminated"


@pytest.mark.parametrize(
    ("reason", "raised"),
    [("execution_timeout", "AirflowTaskTimeout"), ("timeout", "AirflowSensorTimeout")],
)
def test_deferred_sensor_timeouts_raise_what_airflow_expects(reason, raised):
    """execution_timeout is a task timeout (retried when retries are left); the sensor timeout is not."""
    import _airflow_compat as exceptions

    sensor = XplentyJobSensor(task_id="wait", job_id=5001, deferrable=True, timeout=60)
    event = {
        "status": "timeout",
        "kind": "job",
        "resource_id": 5001,
        "reason": reason,
        "message": "Xplenty job 5001 did not reach completed",
        "history": [],
    }
    with pytest.raises(getattr(exceptions, raised)) as caught:
        sensor.execute_complete(context={}, event=event, job_id=5001)
    assert ("execution_timeout" in str(caught.value)) is (reason == "execution_timeout")


def test_sensor_reads_its_id_from_the_templated_field():
    sensor = XplentyClusterSensor(task_id="wait", cluster_id="{{ params.cid }}")
    sensor.cluster_id = "1001"  # as rendered
    assert sensor.resource_id == 1001
