"""Injected failures that change the state machines (a job or a cluster that fails).

Transport faults (429, 5xx, latency, lost responses) are in :mod:`airflow_provider_xplenty.emulator.faults`.
"""

from __future__ import annotations

from airflow_provider_xplenty.emulator.state.machine import StoreMachine
from airflow_provider_xplenty.emulator.state.records import DEFAULT_JOB_FAILURE_TEXT, GONE_CLUSTER, ApiError


class InjectedFailures(StoreMachine):
    """Make jobs and clusters fail on request."""

    def add_job_failure(
        self, job_id: int | None, package_id: int | None, message: str | None, count: int
    ) -> None:
        """Make a given job, or the next ``count`` jobs (of a package), fail with ``message``."""
        with self.lock:
            self.tick()
            text = message or DEFAULT_JOB_FAILURE_TEXT
            if job_id is not None:
                job = self.jobs.get(job_id)
                if job is None:
                    raise ApiError(422, f"Job {job_id} not found.")
                job.fail_message = text
                if job.status == "running" and job.started_at is not None:
                    now = self.now()
                    job.next_at = max(now, job.started_at + job.run_duration / 2)
                    job.next_action = "fail"
                elif job.status in ("idle", "pending", "queued") and job.next_action != "cluster_error":
                    pass  # fails half-way through its run
                return
            self.job_failures.append({"package_id": package_id, "message": text, "count": max(1, count)})

    def add_cluster_failure(self, cluster_id: int | None, message: str | None) -> None:
        """Send a given cluster to ``error`` now, or make the next created cluster fail provisioning."""
        with self.lock:
            self.tick()
            text = message or "Cluster provisioning failed."
            if cluster_id is None:
                self.cluster_failures.append(text)
                return
            cluster = self.clusters.get(cluster_id)
            if cluster is None:
                raise ApiError(422, f"Cluster {cluster_id} not found.")
            if cluster.status in GONE_CLUSTER or cluster.status == "error":
                raise ApiError(422, f"Cluster {cluster_id} is {cluster.status}.")
            cluster.fail_message = text
            self._cluster_error(cluster, self.now())
