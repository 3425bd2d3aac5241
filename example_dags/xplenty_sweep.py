"""Every hour, terminate the Xplenty clusters of Airflow DAG runs that have ended (defence in depth).

A DAG's teardown terminates its cluster; this DAG catches what a teardown could not (the API was
unavailable for longer than the teardown's retries, a worker was lost, a create call's response was
lost). Every cluster made by ``XplentyCreateClusterOperator`` carries its DAG run's marker
``[airflow-run:<dag_id>/<run_id>]`` in its description; a cluster whose run has ended
(``success``/``failed``) is terminated, one log line per cluster.

Tunables (environment, read at parse time): ``XPLENTY_CONN_ID`` (default ``xplenty_default``) and
``XPLENTY_SWEEP_DRY_RUN`` (``true``: only log what would be terminated).
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum

try:  # Airflow 3
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow.models.dag import DAG  # type: ignore[assignment,no-redef]

from airflow_provider_xplenty.operators.sweep import XplentySweepClustersOperator

CONN_ID = os.environ.get("XPLENTY_CONN_ID", "xplenty_default")
DRY_RUN = os.environ.get("XPLENTY_SWEEP_DRY_RUN", "false").strip().lower() == "true"

DOC = """
### Sweep: terminate the clusters of ended DAG runs

`sweep_clusters` lists the live Xplenty clusters (one API call per status: `pending`, `creating`,
`available`, `idle`, `error`), and for each carrying an Airflow run marker asks this Airflow for
the state of its DAG run. Clusters of runs that ended are terminated (still provisioning: set to
terminate themselves once idle). Left alone: clusters without a marker, runs still queued or
running, runs this Airflow does not know (another deployment sharing the account), and clusters
made with `owned_by_run=False`. The task's log has one line per Airflow cluster; its XCom `sweep`
lists the ids per outcome. Set `XPLENTY_SWEEP_DRY_RUN=true` to only log.
"""

with DAG(
    dag_id="xplenty_sweep",
    description="Terminate the Xplenty clusters of Airflow DAG runs that have ended",
    schedule="@hourly",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=30),
    default_args={"retries": 1, "retry_delay": timedelta(minutes=5)},
    tags=["xplenty", "example"],
    doc_md=DOC,
) as dag:
    XplentySweepClustersOperator(task_id="sweep_clusters", dry_run=DRY_RUN, xplenty_conn_id=CONN_ID)
