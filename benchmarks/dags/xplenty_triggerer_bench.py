"""The bench DAGs of ``benchmarks/triggerer.py``: N one-task DAGs whose task starts in the triggerer.

Each DAG ``xplenty_bench_NNNN`` has one ``XplentyJobSensor`` task started from the trigger
(``start_from_trigger``, with the kwargs the sensor defers with): when its run is scheduled, the
scheduler itself defers the task instance to an ``XplentyJobTrigger`` on one job, no worker run
first. So N task instances become N triggers in a burst, as after a triggerer restart or a burst of
deferrals at midnight, without N task processes on the machine being measured. One task per DAG
keeps the serialized DAG the triggerer loads for each trigger small.

Configured by the benchmark through the environment (no DAGs unless ``XPLENTY_BENCH_N`` is set):
``XPLENTY_BENCH_N``, ``XPLENTY_BENCH_FIRST_JOB`` (job ids are consecutive from there),
``XPLENTY_BENCH_CONNS`` (comma-separated connection ids, used in turn) and
``XPLENTY_BENCH_POLL_INTERVAL`` (seconds). ``xplenty_bench_warmup`` waits for cluster 1001 the
same way (run before the measurement).
"""

from __future__ import annotations

import os
from datetime import datetime, timezone

from airflow.sdk import DAG
from airflow.triggers.base import StartTriggerArgs

from airflow_provider_xplenty.sensors.cluster import XplentyClusterSensor
from airflow_provider_xplenty.sensors.job import XplentyJobSensor

TRIGGERS = "airflow_provider_xplenty.triggers.xplenty"


def start_in_triggerer(sensor: XplentyJobSensor | XplentyClusterSensor, poll_interval: float) -> None:
    """Make ``sensor`` start in the triggerer, with the trigger kwargs it would defer with."""
    kind = sensor.kind
    sensor.start_from_trigger = True
    sensor.start_trigger_args = StartTriggerArgs(
        trigger_cls=f"{TRIGGERS}.Xplenty{kind.capitalize()}Trigger",
        trigger_kwargs={
            f"{kind}_id": sensor.resource_id,
            "xplenty_conn_id": sensor.xplenty_conn_id,
            "poll_interval": poll_interval,
            "target_statuses": list(sensor.target_statuses),
            "failed_statuses": list(sensor.failed_statuses),
            **sensor._trigger_extra(),
        },
        next_method="execute_complete",
        next_kwargs=None,
        timeout=None,
    )


def _dag(dag_id: str) -> DAG:
    return DAG(
        dag_id,
        schedule="@once",
        start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
        catchup=False,
        tags=["xplenty-bench"],
    )


def _bench_dags() -> dict[str, DAG]:
    count = int(os.environ.get("XPLENTY_BENCH_N", "0"))
    first_job = int(os.environ.get("XPLENTY_BENCH_FIRST_JOB", "5001"))
    conns = os.environ.get("XPLENTY_BENCH_CONNS", "xplenty_default").split(",")
    interval = float(os.environ.get("XPLENTY_BENCH_POLL_INTERVAL", "5"))
    dags: dict[str, DAG] = {}
    if not count:
        return dags
    # Warms the triggerer up first: Airflow builds its in-process execution API on the first
    # connection lookup (seconds of CPU), which is not the cost of the waits being measured.
    with _dag("xplenty_bench_warmup") as warmup:
        start_in_triggerer(
            XplentyClusterSensor(task_id="wait", cluster_id=1001, poke_interval=interval), interval
        )
    dags[warmup.dag_id] = warmup
    for index in range(count):
        with _dag(f"xplenty_bench_{index:04d}") as dag:
            sensor = XplentyJobSensor(
                task_id="wait",
                job_id=first_job + index,
                xplenty_conn_id=conns[index % len(conns)],
                poke_interval=interval,
                deferrable=True,
            )
            start_in_triggerer(sensor, interval)
        dags[dag.dag_id] = dag
    return dags


globals().update(_bench_dags())
