"""Run one Xplenty package by hand: "Trigger DAG w/ config" in the Airflow UI fills in the form.

Tunables (environment, read at parse time): ``XPLENTY_CONN_ID`` (default ``xplenty_default``),
``XPLENTY_POLL_INTERVAL`` (seconds, default 30) and ``XPLENTY_RETRY_DELAY`` (seconds before the
first retry, default 60).
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow import __version__ as AIRFLOW_VERSION
from packaging.version import Version

try:  # Airflow 3
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import DAG, Param, get_current_context, task
except ImportError:  # Airflow 2.11
    from airflow.decorators import task  # type: ignore[attr-defined,no-redef,unused-ignore]
    from airflow.models.dag import DAG  # type: ignore[assignment,no-redef]
    from airflow.models.param import Param  # type: ignore[assignment,no-redef]
    from airflow.operators.empty import EmptyOperator  # type: ignore[no-redef]
    from airflow.operators.python import get_current_context  # type: ignore[no-redef]
try:  # Airflow 3.2+
    from airflow.sdk.exceptions import AirflowFailException
except ImportError:  # Airflow 2.11 to 3.1
    from airflow.exceptions import AirflowFailException  # type: ignore[no-redef]

from airflow_provider_xplenty.operators.cluster import (
    XplentyCreateClusterOperator,
    XplentyTerminateClusterOperator,
)
from airflow_provider_xplenty.operators.job import XplentyRunJobOperator
from airflow_provider_xplenty.variables import VARIABLE_NAME_PATTERN

CONN_ID = os.environ.get("XPLENTY_CONN_ID", "xplenty_default")
POLL_INTERVAL = float(os.environ.get("XPLENTY_POLL_INTERVAL", "30"))
RETRY_DELAY = timedelta(seconds=float(os.environ.get("XPLENTY_RETRY_DELAY", "60")))

#: Every task may retry: each is safe to retry (see "Retries" in the DAG doc). A wrong package or
#: an unusable cluster fails at once (AirflowFailException): retrying cannot fix the form's input.
#: The back-off is a multiplier (float) from Airflow 3.2; before, a bool (True doubles each delay).
BACKOFF: float | bool = 2.0 if Version(AIRFLOW_VERSION).release >= (3, 2) else True
RETRIES: dict[str, Any] = {"retries": 2, "retry_delay": RETRY_DELAY, "retry_exponential_backoff": BACKOFF}

DOC = """
### Run an Xplenty package by hand

Use **Trigger DAG w/ config**: choose the package (id or exact name), its variables, and either
an existing cluster to reuse or the size and type of a new one.

- `resolve_package`: the package id or name as an id; fails before any cluster is created on an
  unknown, ambiguous or archived package.
- `plan`: branches: create a cluster, or reuse the given one.
- `create_cluster`: only without `cluster_id`: creates `ManualCluster_<date>`, waits until available.
- `reuse_cluster`: only with `cluster_id` (a marker: nothing to do).
- `use_cluster`: the cluster to run on (created or reused; a reused one must be usable).
- `run_job`: runs the package with the variables and waits for it (deferrable); logs output previews.
- `decide_termination` (teardown): branches on `terminate_cluster`, after the job whatever its outcome.
- `terminate_cluster` (teardown): terminates the cluster and waits until it is gone.

The teardowns' setups are `plan` and `use_cluster`, so they run once everything in between has
ended, whatever failed: a cluster this run created is terminated (with `terminate_cluster` on)
even when `use_cluster` fails. `create_cluster` terminates the cluster itself when it fails after
creating it; when it never learned the cluster's id (a lost response), `terminate_cluster` finds
the run's clusters by their marker. With `terminate_cluster` off, the new cluster is made without
the run's marker, so the `xplenty_sweep` DAG leaves it alone too.

**Retries.** Every task retries twice: `create_cluster` adopts the cluster its earlier try
created, `run_job` reattaches to its job or starts a new one after a failed job, the terminate is
idempotent. An unknown or ambiguous package, a missing or unusable cluster fail at once. Retries also
absorb a scheduler race of Airflow 3.2/3.3 (apache/airflow#67287, #72716) that can mark a
deferrable task failed when its trigger fires within seconds of deferring.

Variable values are plain text, e.g. `{"InputPath": "/input/2025-01-01"}`: the provider sends
each one as an Xplenty string literal, quoted and escaped (`literal_variables`), so whatever is
typed stays text and cannot run as an expression. Names are letters, digits and underscores,
starting with a letter; a value may not contain `$` (Xplenty would read `$name` as another variable)
or be bigger than 64 KiB. With `terminate_cluster` on, a reused cluster is terminated too.
"""

with DAG(
    dag_id="xplenty_manual_run",
    description="Run one Xplenty package on a new or existing cluster (Trigger DAG w/ config)",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    render_template_as_native_obj=True,  # variables render as a dict, nodes as an int
    default_args={"xplenty_conn_id": CONN_ID, **RETRIES},
    params={
        "package": Param(
            103,
            type=["integer", "string"],
            title="Package",
            description="Package id (e.g. 103) or exact name of an active package (e.g. daily_rollup).",
        ),
        "variables": Param(
            {"InputPath": "/input", "OutputPath": "/output"},
            type="object",
            title="Variables",
            description="Package variables. Values are plain text, sent as quoted string literals by the"
            " provider: type /input, not '/input'.",
            propertyNames={"pattern": f"^{VARIABLE_NAME_PATTERN}$"},
            additionalProperties={"type": ["string", "number", "boolean"]},
        ),
        "nodes": Param(1, type="integer", minimum=1, maximum=100, title="Nodes (new cluster)"),
        "cluster_type": Param(
            "sandbox",
            type="string",
            enum=["sandbox", "production"],
            title="Cluster type (new cluster)",
            description="sandbox: 1 node; production: 2 nodes or more.",
        ),
        "cluster_id": Param(
            None,
            type=["null", "integer"],
            title="Existing cluster id",
            description="Reuse this cluster instead of creating one. Leave empty to create a cluster.",
        ),
        "terminate_cluster": Param(
            True,
            type="boolean",
            title="Terminate the cluster afterwards",
            description="Terminate the cluster when the job has ended, whatever its outcome.",
        ),
    },
    tags=["xplenty", "example"],
    doc_md=DOC,
) as dag:

    @task
    def resolve_package() -> int:
        """Return the package id for the ``package`` param (an id or an exact name)."""
        from airflow_provider_xplenty.exceptions import XplentyConfigError, XplentyNotFoundError
        from airflow_provider_xplenty.hooks.xplenty import XplentyHook

        package = get_current_context()["params"]["package"]
        hook = XplentyHook(CONN_ID)
        try:
            if isinstance(package, int) or str(package).strip().isdigit():
                found = hook.get_package(int(package))
            else:
                found = hook.find_package(str(package).strip())
        except XplentyConfigError as error:  # no active package of that name, or several: fix the form
            raise AirflowFailException(str(error)) from error
        except XplentyNotFoundError as error:
            raise AirflowFailException(
                f"Package {package} was not found in the connection's account: check the package id"
                f" and the connection's Account ID ({error})"
            ) from error
        if found.status not in (None, "active"):
            raise AirflowFailException(
                f"Package {found.id} {found.name!r} is {found.status}, not active: choose an active package"
            )
        print(f"Package {found.id} {found.name!r} ({found.flow_type}, {found.status})")
        return found.id

    @task.branch
    def plan() -> list[str]:
        """Create a cluster, or reuse the one given in the params."""
        reuse = get_current_context()["params"].get("cluster_id")
        follow = "reuse_cluster" if reuse is not None else "create_cluster"
        print(f"Plan: {follow}")
        return [follow]

    @task.branch
    def decide_termination() -> list[str]:
        """Terminate the cluster afterwards, or keep it (a teardown: runs whatever the job did)."""
        context: Any = get_current_context()
        params = context["params"]
        if not params.get("terminate_cluster"):
            print("Keeping the cluster")
            return []
        cluster = params.get("cluster_id")
        if cluster is None:  # create_cluster pushes "cluster_id" as soon as the cluster exists
            cluster = context["ti"].xcom_pull(task_ids="create_cluster", key="cluster_id")
        # without an id, terminate_cluster looks for this run's clusters by their marker
        print(f"Terminating cluster {cluster if cluster is not None else '(found by this run marker)'}")
        return ["terminate_cluster"]

    create_cluster = XplentyCreateClusterOperator(
        task_id="create_cluster",
        nodes="{{ params.nodes }}",
        cluster_type="{{ params.cluster_type }}",
        name="ManualCluster_{{ (dag_run.logical_date or dag_run.run_after) | ds_nodash }}",
        description="Manual run {{ run_id }}",
        terminate_on_idle=True,
        time_to_idle=1800,
        # a cluster kept afterwards outlives the run: no run marker, so the sweep leaves it alone
        owned_by_run="{{ params.terminate_cluster }}",
        wait_for_available=True,
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        timeout=timedelta(hours=1),
    )
    reuse_cluster = EmptyOperator(task_id="reuse_cluster")

    @task(trigger_rule="none_failed_min_one_success")
    def use_cluster() -> int:
        """Return the cluster to run on: the one given in the params, else the one just created."""
        from airflow_provider_xplenty.hooks.xplenty import XplentyHook
        from airflow_provider_xplenty.models import ClusterStatus

        context: Any = get_current_context()
        given = context["params"].get("cluster_id")
        cluster_id = given if given is not None else context["ti"].xcom_pull(task_ids="create_cluster")
        if cluster_id is None:
            raise AirflowFailException(
                "No cluster: create_cluster did not return one and no cluster_id was given"
            )
        cluster = XplentyHook(CONN_ID).get_cluster(int(cluster_id))
        if cluster.status in ClusterStatus.failed_states():
            raise AirflowFailException(f"Cluster {cluster.id} is {cluster.status}; it cannot run jobs")
        print(f"Using cluster {cluster.id} {cluster.name!r} ({cluster.status}): {cluster.html_url}")
        return cluster.id

    cluster_id = use_cluster()
    package_id = resolve_package()
    run_job = XplentyRunJobOperator(
        task_id="run_job",
        cluster_id=cluster_id,
        package_id=package_id,
        # plain text from the form: the provider quotes and escapes each value (never `variables=`,
        # whose values run as expressions)
        literal_variables="{{ params.variables }}",  # type: ignore[arg-type]  # renders to a dict (native)
        wait_for_completion=True,
        deferrable=True,
        poll_interval=POLL_INTERVAL,
    )
    terminate_cluster = XplentyTerminateClusterOperator(
        task_id="terminate_cluster",
        # The given cluster, else the one create_cluster made, read like decide_termination does:
        # use_cluster may have failed and returned nothing. None: this run's clusters, by marker.
        cluster_id=(
            "{{ params.cluster_id if params.cluster_id is not none"
            " else ti.xcom_pull(task_ids='create_cluster', key='cluster_id') }}"
        ),
        wait_for_termination=True,
        deferrable=True,
        poll_interval=POLL_INTERVAL,
    )

    planned = plan()
    package_id >> planned  # an unusable package fails the run before any cluster is created
    planned >> [create_cluster, reuse_cluster] >> cluster_id
    # Both are teardowns of plan and use_cluster: they run after run_job (and everything since plan)
    # whatever the outcome, as long as one of the two setups succeeded. plan always does, so a
    # cluster this run created is terminated even when use_cluster fails. (create_cluster cannot be
    # the setup: a setup's direct downstream must use trigger rule all_success, and use_cluster joins
    # the two branches.) The run's state still comes from the work tasks; a branch that is not a
    # teardown would mask a failure.
    setups = [planned, cluster_id]
    decide = decide_termination()
    # Airflow's stubs type setups= as operators only; the XComArgs of @task calls work at runtime.
    run_job >> decide.as_teardown(setups=setups)  # type: ignore[arg-type]
    decide >> terminate_cluster.as_teardown(setups=setups)  # type: ignore[arg-type]
