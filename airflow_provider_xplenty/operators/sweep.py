"""Operator that terminates the clusters of Airflow DAG runs that have ended (defence in depth)."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_xplenty._compat import BaseOperator, dag_run_state
from airflow_provider_xplenty._waiting.task import push
from airflow_provider_xplenty.exceptions import XplentyError
from airflow_provider_xplenty.hooks.xplenty import XplentyHook
from airflow_provider_xplenty.models import Cluster, ClusterStatus
from airflow_provider_xplenty.operators._ownership import Owner, context_run, expire, owner_of

if TYPE_CHECKING:
    from airflow_provider_xplenty._compat import Context

#: Statuses listed by the sweep, one ``status=`` filter each (documented filter values; a
#: ``scaling`` cluster is listed again by the next sweep, once it is ``available``).
SWEPT_STATUSES = ("pending", "creating", "available", "idle", "error")
#: DAG run states after which the run's clusters are no longer needed.
ENDED_RUN_STATES = frozenset({"success", "failed"})
#: XCom key of the sweep's report.
SWEEP_XCOM_KEY = "sweep"


class XplentySweepClustersOperator(BaseOperator):
    """Terminate the live clusters whose owning DAG run has ended; one log line per Airflow cluster.

    Every cluster the create operator makes carries its DAG run's marker
    ``[airflow-run:<dag_id>/<run_id>]`` in its description. The sweep lists the live clusters
    (``pending``, ``creating``, ``available``, ``idle``, ``error``: one call per status), asks this
    Airflow for the state of each marked cluster's DAG run, and terminates the clusters of runs that
    ended (``success``/``failed``); a cluster still provisioning is set to terminate itself once idle.
    Left alone: clusters without a marker (not Airflow's), runs that are queued or running, runs this
    Airflow does not know (another deployment's, or deleted), and markers that do not name their run
    (clusters of older versions of this provider, or ids too long to write).

    Returns (and pushes as XCom ``sweep``) ``{"terminated": [...], "expiring": [...],
    "would_terminate": [...], "kept": [...], "unknown": [...], "failed": [...]}`` (cluster ids). The
    task fails when a cluster could not be terminated, after trying all of them.

    :param dry_run: only log what would be terminated.
    :param dag_ids: only sweep clusters of these DAGs (templated); default every DAG.
    :param xplenty_conn_id: the Airflow connection (templated).
    :param hook_params: extra keyword arguments for the hook.
    """

    template_fields: Sequence[str] = ("dag_ids", "xplenty_conn_id")
    ui_color = "#ffe0e0"

    def __init__(
        self,
        *,
        dry_run: bool = False,
        dag_ids: Collection[str] | None = None,
        xplenty_conn_id: str = "xplenty_default",
        hook_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.report_only = dry_run  # BaseOperator.dry_run is a method
        self.dag_ids = dag_ids
        self.xplenty_conn_id = xplenty_conn_id
        self.hook_params = dict(hook_params or {})

    @cached_property
    def hook(self) -> XplentyHook:
        """The sync hook (built on first use, never at DAG parse time)."""
        return XplentyHook(self.xplenty_conn_id, **self.hook_params)

    def execute(self, context: Context) -> dict[str, list[int]]:
        """List the live clusters, terminate those of ended DAG runs, and report what was done."""
        report: dict[str, list[int]] = {
            k: [] for k in ("terminated", "expiring", "would_terminate", "kept", "unknown", "failed")
        }
        own_run = context_run(context)
        seen = 0
        for cluster in self._live_clusters():
            owner = owner_of(cluster.description)
            if owner is None:
                continue
            seen += 1
            report[self._sweep(cluster, owner, own_run)].append(cluster.id)
        self.log.info(
            "Swept %s live Airflow cluster(s)%s: %s",
            seen,
            " (dry run)" if self.report_only else "",
            {k: v for k, v in report.items() if v} or "nothing to do",
        )
        push(context, SWEEP_XCOM_KEY, report)
        if report["failed"]:
            raise XplentyError(
                f"Could not terminate Xplenty clusters {report['failed']} (see the log); "
                "the next sweep tries again"
            )
        return report

    def _live_clusters(self) -> Iterator[Cluster]:
        seen: set[int] = set()
        for status in SWEPT_STATUSES:
            for cluster in self.hook.list_clusters(status=status):
                # a cluster changing status between two calls shows up twice; a listing may be stale
                if cluster.id not in seen and cluster.status not in ClusterStatus.terminating_states():
                    seen.add(cluster.id)
                    yield cluster

    def _sweep(self, cluster: Cluster, owner: Owner, own_run: tuple[str, str] | None) -> str:
        """Decide about one marked cluster, log it, act; return the report's key."""
        label = f"Xplenty cluster {cluster.id} {cluster.name!r} ({cluster.status})"
        if owner.dag_id is None or owner.run_id is None:
            self.log.info("%s: its marker does not name a DAG run; left alone", label)
            return "unknown"
        run = f"DAG run {owner.dag_id} / {owner.run_id}"
        if self.dag_ids is not None and owner.dag_id not in self.dag_ids:
            self.log.info("%s of %s: not in dag_ids; left alone", label, run)
            return "kept"
        if (owner.dag_id, owner.run_id) == own_run:
            state: str | None = "running"  # a DAG that makes clusters and sweeps: its own are in use
        else:
            state = dag_run_state(owner.dag_id, owner.run_id)
        if state is None:
            self.log.info("%s of %s: this Airflow has no such DAG run; left alone", label, run)
            return "unknown"
        if state not in ENDED_RUN_STATES:
            self.log.info("%s of %s (%s): left alone", label, run, state)
            return "kept"
        if self.report_only:
            self.log.info("%s of %s (%s): would terminate it (dry run)", label, run, state)
            return "would_terminate"
        self.log.warning("%s of %s (%s): terminating it", label, run, state)
        try:
            status = self.hook.terminate_cluster_or_expire(cluster.id)
        except Exception as error:
            self.log.error("Could not terminate Xplenty cluster %s: %s", cluster.id, error)
            return "expiring" if expire(self.hook, cluster.id, self.log) else "failed"
        if status in ClusterStatus.not_yet_terminable_states():
            return "expiring"
        return "terminated"
