"""The daily Xplenty workflow: cluster up, dated job, preview, more jobs, cluster down, alert on failure.

Tunables (read from the environment at parse time; no network or database access while parsing):

``XPLENTY_CONN_ID``                Xplenty connection id (default ``xplenty_default``)
``XPLENTY_POLL_INTERVAL``          seconds between status polls of every wait (default 30)
``XPLENTY_RETRY_DELAY``            seconds before the first retry of a task (default 300)
``XPLENTY_RETRY_BACKOFF``          exponential backoff multiplier of the retries (default 2.0)
``XPLENTY_ALERT_SMTP_CONN_ID``     SMTP connection of the failure e-mail (default: ``[email] email_conn_id``,
                                   i.e. ``smtp_default``)

Recipients of the failure e-mail come from the Airflow Variable ``xplenty_alert_emails``.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow import __version__ as AIRFLOW_VERSION
from packaging.version import Version

try:  # Airflow 3
    from airflow.sdk import DAG, XComArg, get_current_context, task
except ImportError:  # Airflow 2.11
    from airflow.decorators import task  # type: ignore[attr-defined,no-redef,unused-ignore]
    from airflow.models.dag import DAG  # type: ignore[assignment,no-redef]
    from airflow.models.xcom_arg import XComArg  # type: ignore[assignment,no-redef]
    from airflow.operators.python import get_current_context  # type: ignore[no-redef,attr-defined,unused-ignore]
try:  # Airflow 3.2+
    from airflow.sdk.exceptions import AirflowFailException
except ImportError:  # Airflow 2.11 to 3.1
    from airflow.exceptions import AirflowFailException  # type: ignore[no-redef]

from airflow_provider_xplenty.notifications import XplentySmtpNotifier
from airflow_provider_xplenty.operators.cluster import (
    XplentyCreateClusterOperator,
    XplentyTerminateClusterOperator,
    run_marker,
)
from airflow_provider_xplenty.operators.job import OUTPUTS_XCOM_KEY, XplentyRunJobOperator
from airflow_provider_xplenty.sensors.cluster import XplentyClusterSensor

CONN_ID = os.environ.get("XPLENTY_CONN_ID", "xplenty_default")
POLL_INTERVAL = float(os.environ.get("XPLENTY_POLL_INTERVAL", "30"))
RETRY_DELAY = timedelta(seconds=float(os.environ.get("XPLENTY_RETRY_DELAY", "300")))
RETRY_BACKOFF = float(os.environ.get("XPLENTY_RETRY_BACKOFF", "2.0"))
#: ``retry_exponential_backoff`` is a multiplier (float) from Airflow 3.2; before, a bool (True doubles
#: each delay), so there any multiplier above 1 means "exponential".
BACKOFF: float | bool = RETRY_BACKOFF if Version(AIRFLOW_VERSION).release >= (3, 2) else RETRY_BACKOFF > 1
SMTP_CONN_ID = os.environ.get("XPLENTY_ALERT_SMTP_CONN_ID") or None

#: The run's date: the logical date of a scheduled run, or when a manual run (which has no logical
#: date in Airflow 3) was triggered. ``{{ ds_nodash }}`` would be undefined for manual runs.
RUN_DATE = "{{ (dag_run.logical_date or dag_run.run_after) | ds_nodash }}"

MAIN_PACKAGE_ID = 103  # daily_rollup
ADDITIONAL_PACKAGE_IDS = [101, 102]  # load_customers, enrich_orders: step 7, one mapped task each

#: Every task retries: each is safe to retry (see "Retries" in the DAG doc).
RETRIES: dict[str, Any] = {
    "retries": 2,
    "retry_delay": RETRY_DELAY,
    "retry_exponential_backoff": BACKOFF,
    "max_retry_delay": timedelta(hours=1),
}

DOC = f"""
### Daily Xplenty workflow

The recurring workflow of the Xplenty API guide, one task per step:

0. `plan` (setup): logs the marker `[airflow-run:<dag_id>/<run_id>]` every cluster of this run
   carries in its description. No API call; it is there so the teardowns run even when
   `create_cluster` fails (a teardown runs when one of its setups succeeded).
1. create a cluster: `create_cluster` (setup). `DailyCluster_<date>`, 2 production nodes,
   terminates itself after 1 h idle.
2. verify it: `verify_cluster`. Deferrable wait for `available`/`idle`; `error` fails.
3. run a job with dated variables: `run_job`. Package {MAIN_PACKAGE_ID},
   `InputPath='/input<date>'`, `OutputPath='/output<date>'`.
4. verify the job: `verify_job`. Reads the job back: `completed`, with the dated variables.
5. monitor it: **folded into `run_job`**, whose deferrable wait polls the job to its end,
   logging status transitions and progress.
6. preview the output: `preview_output`. First lines of each output, from the previews `run_job`
   already fetched (its XCom `outputs`).
7. run more jobs: `run_additional_jobs`, one mapped task per package of {ADDITIONAL_PACKAGE_IDS}.
8. terminate the cluster: `terminate_cluster` (teardown). Runs whatever happened upstream. When
   `create_cluster` never learned the cluster's id (its create call's response was lost and the
   API stayed unavailable), it terminates every live cluster carrying this run's marker.
9. verify termination: `verify_termination` (teardown). Deferrable wait for `terminated`;
   fails the run if the cluster never gets there (skipped when there was no cluster to terminate).

Step 5 is folded into step 3 because a retry must start a new job: if "run" and "monitor" were two
tasks, retrying the monitor would only watch the same failed job again. `run_job` reattaches to
its job when it is retried while the job still runs (so no duplicate) and starts a new one after
the job failed.

**Retries.** Every task retries twice with exponential backoff, because every one is safe to
retry: `create_cluster` adopts the cluster its earlier try created (no second cluster),
`run_job` reattaches or starts a new job as above, the terminate is idempotent, the checks just
look again. A check that sees a definite failure (a cluster in `error`, a job that did not complete
or ran with the wrong variables) fails at once without retrying, since looking again cannot
change it. Retries also absorb a scheduler race of Airflow 3.2/3.3
([apache/airflow#67287](https://github.com/apache/airflow/issues/67287),
[#72716](https://github.com/apache/airflow/issues/72716)) that can mark a deferrable task failed
when its trigger fires within seconds of deferring.

`<date>` is the run's logical date, or for a manual run (no logical date in Airflow 3) the time
it was triggered, as `YYYYMMDD`.

The cluster is always terminated: the two teardown tasks run after success, failure or
upstream failure, and the run's state still comes from the work tasks (a failed job fails the
run even though the cleanup succeeded). If the cluster never comes up, `create_cluster`/
`verify_cluster` fail and the teardown terminates the errored cluster. If even the teardown cannot
reach the API, the `xplenty_sweep` DAG terminates the cluster once this run has ended, and the
failure e-mail lists the clusters of the run that may still be up.

On failure, one e-mail goes out through the SMTP connection (`smtp_default` unless
`XPLENTY_ALERT_SMTP_CONN_ID` says otherwise) to the addresses in the Variable
`xplenty_alert_emails`: DAG, task, run, try, Xplenty job id, the job's error text and its link.
Retries that end in success send nothing.
"""

with DAG(
    dag_id="xplenty_daily_workflow",
    description="Daily Xplenty workflow: cluster, dated jobs, preview, terminate; alert on failure",
    schedule="@daily",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=6),
    default_args={"xplenty_conn_id": CONN_ID, **RETRIES},
    on_failure_callback=XplentySmtpNotifier(
        smtp_conn_id=SMTP_CONN_ID, xplenty_conn_id=CONN_ID, cluster_task_id="create_cluster"
    ),
    tags=["xplenty", "example"],
    doc_md=DOC,
) as dag:

    @task
    def plan() -> str | None:
        """Log the marker this run's clusters carry (a setup that needs no API call)."""
        marker = run_marker(get_current_context())
        print(f"This run's clusters carry {marker} in their description")
        return marker

    create_cluster = XplentyCreateClusterOperator(
        task_id="create_cluster",
        nodes=2,
        cluster_type="production",
        name=f"DailyCluster_{RUN_DATE}",
        description="Daily workflow cluster of run {{ run_id }}",
        terminate_on_idle=True,
        time_to_idle=3600,
        wait_for_available=False,  # step 2 verifies it
    )

    verify_cluster = XplentyClusterSensor(
        task_id="verify_cluster",
        cluster_id=create_cluster.output,
        deferrable=True,
        poke_interval=POLL_INTERVAL,
        timeout=timedelta(hours=1).total_seconds(),
    )

    run_job = XplentyRunJobOperator(
        task_id="run_job",
        cluster_id=create_cluster.output,
        package_id=MAIN_PACKAGE_ID,
        # Plain text, sent as string literals ("'/input20250101'"): the provider quotes and escapes.
        literal_variables={"InputPath": f"/input{RUN_DATE}", "OutputPath": f"/output{RUN_DATE}"},
        wait_for_completion=True,
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        timeout=timedelta(hours=3).total_seconds(),
    )

    @task
    def verify_job(job_id: int, run_date: str) -> dict[str, Any]:
        """Read the job back: it completed, and ran with this run's dated variables.

        A wrong answer fails at once (``AirflowFailException``): reading it again cannot change it.
        """
        from airflow_provider_xplenty.hooks.xplenty import XplentyHook

        hook = XplentyHook(CONN_ID)
        job = hook.get_job(int(job_id))
        if not job.is_successful:
            raise AirflowFailException(
                f"Job {job.id} is {job.status}, expected completed: {job.errors or ''}"
            )
        variables = hook.get_job_variables(job.id) or job.variables
        expected = {"InputPath": f"'/input{run_date}'", "OutputPath": f"'/output{run_date}'"}
        wrong = {k: variables.get(k) for k, v in expected.items() if variables.get(k) != v}
        if wrong:
            raise AirflowFailException(f"Job {job.id} ran with {wrong}, expected {expected}")
        print(f"Job {job.id} completed in {job.runtime_in_seconds}s with {expected}: {job.html_url}")
        return {"job_id": job.id, "status": job.status, "variables": expected, "html_url": job.html_url}

    @task
    def preview_output(outputs: list[dict[str, Any]] | None, max_lines: int = 10) -> dict[str, list[str]]:
        """Return (and log) the first lines of each output of the job.

        ``run_job`` already fetched the previews and pushed them as XCom ``outputs``
        (``[{"id", "name", "records_count", "preview"}]``): no API call (and no credit) here.
        """
        previews: dict[str, list[str]] = {}
        for output in outputs or []:
            lines = (output.get("preview") or "").splitlines()[:max_lines]
            name = output.get("name") or str(output["id"])
            previews[name] = lines
            print(f"Output {name} ({output.get('records_count')} records):")
            for line in lines:
                print(f"    {line}")
        return previews

    run_additional_jobs = XplentyRunJobOperator.partial(
        task_id="run_additional_jobs",
        cluster_id=create_cluster.output,
        wait_for_completion=True,
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        timeout=timedelta(hours=3).total_seconds(),
    ).expand(package_id=ADDITIONAL_PACKAGE_IDS)

    terminate_cluster = XplentyTerminateClusterOperator(
        task_id="terminate_cluster",
        # pushed by create_cluster the moment it knows the id; "None" when it never did: the task
        # then terminates the clusters carrying this run's marker
        cluster_id="{{ ti.xcom_pull(task_ids='create_cluster', key='cluster_id') }}",
        wait_for_termination=False,  # step 9 verifies it
    )

    verify_termination = XplentyClusterSensor(
        task_id="verify_termination",
        cluster_id=(
            "{{ ti.xcom_pull(task_ids='create_cluster', key='cluster_id')"
            " or ti.xcom_pull(task_ids='terminate_cluster', key='cluster_id') }}"
        ),
        skip_without_id=True,  # no cluster was created (or found): nothing to verify
        target_statuses=("terminated",),
        failed_statuses=("error",),
        deferrable=True,
        poke_interval=POLL_INTERVAL,
        timeout=timedelta(hours=1).total_seconds(),
    )

    # @task functions take XComArgs in place of their values (resolved at run time).
    verified = verify_job(run_job.output, RUN_DATE)  # type: ignore[arg-type]
    previews = preview_output(XComArg(run_job, key=OUTPUTS_XCOM_KEY))  # type: ignore[arg-type]
    planned = plan()
    planned >> create_cluster >> verify_cluster >> run_job >> verified >> previews >> run_additional_jobs
    # `plan` is a setup too: a teardown runs when one of its setups succeeded, so the cluster is
    # terminated even when create_cluster fails after (or while) creating it.
    setups = [planned, create_cluster]
    # Airflow's stubs type setups= as operators only; the XComArg of a @task call works at runtime.
    run_additional_jobs >> terminate_cluster.as_teardown(setups=setups)  # type: ignore[arg-type]
    # A second teardown: it runs after the first whatever happened, and (on_failure_fail_dagrun)
    # fails the run when the cluster does not reach `terminated`, so a leak is never silent.
    verify = verify_termination.as_teardown(setups=setups, on_failure_fail_dagrun=True)  # type: ignore[arg-type]
    terminate_cluster >> verify
