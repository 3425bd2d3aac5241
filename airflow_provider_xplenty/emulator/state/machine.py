"""The cluster and job status machines, driven by the emulated clock.

Transitions are computed lazily: every read or write first calls :meth:`StoreMachine.tick`, which
applies all transitions due at the current emulated time, in time order, each stamped with the
emulated time at which it was due (so history timestamps do not depend on when somebody looked).
Only active objects (clusters not terminated, jobs not finished) are visited. Cluster and job
transitions call each other (a terminating cluster stops its jobs, a finished job may idle its
cluster), so both machines live here.
"""

from __future__ import annotations

import hashlib
from typing import Any

from airflow_provider_xplenty.emulator.clock import DEFAULT_DURATIONS, iso
from airflow_provider_xplenty.emulator.state.events import StoreEvents
from airflow_provider_xplenty.emulator.state.records import (
    CLUSTER_ERROR_TEXT,
    COUNTED_JOB,
    DEFAULT_JOB_FAILURE_TEXT,
    ApiError,
    ClusterRec,
    JobRec,
)


class StoreMachine(StoreEvents):
    """Move clusters and jobs through their statuses as the clock passes."""

    # ------------------------------------------------------------------ clock control
    def set_clock(
        self,
        speed: float | None = None,
        durations: dict[str, float] | None = None,
        max_running_jobs: int | None = None,
        accept_status: int | None = None,
    ) -> dict[str, Any]:
        """Change speed, durations, per-cluster concurrency or the status for a missing Accept type."""
        with self.lock:
            self.tick()
            if speed is not None:
                self.clock.set_speed(speed)
            if durations:
                unknown = sorted(set(durations) - set(DEFAULT_DURATIONS))
                if unknown:
                    raise ApiError(422, f"Unknown duration(s): {', '.join(unknown)}.")
                self.durations.update({k: float(v) for k, v in durations.items()})
            if max_running_jobs is not None:
                self.max_running_jobs = max_running_jobs if max_running_jobs > 0 else None
            if accept_status is not None:
                self.accept_status = accept_status
            return self.clock_info()

    def advance(self, seconds: float) -> dict[str, Any]:
        """Move the clock forward and apply every transition that became due."""
        if seconds < 0:
            raise ApiError(422, "seconds must be >= 0.")
        with self.lock:
            self.tick()
            self.clock.advance(seconds)
            self.tick()
            return {"now": iso(self.now()), "epoch": self.now()}

    # ------------------------------------------------------------------ transitions
    def tick(self) -> None:
        """Apply every transition due at the current emulated time, earliest first."""
        with self.lock:
            now = self.clock.now()
            while True:
                best_at: float | None = None
                best: ClusterRec | JobRec | None = None
                for cluster in self.active_clusters.values():
                    due = cluster.next_at
                    if due is not None and due <= now and (best_at is None or due < best_at):
                        best_at, best = due, cluster
                for job in self.active_jobs.values():
                    due = job.next_at
                    if due is not None and due <= now and (best_at is None or due < best_at):
                        best_at, best = due, job
                if best is None or best_at is None:
                    return
                if isinstance(best, ClusterRec):
                    self._cluster_step(best, best_at)
                else:
                    self._job_step(best, best_at)

    def _set_cluster_status(self, cluster: ClusterRec, status: str, at: float) -> None:
        cluster.status = status
        cluster.updated_at = at
        cluster.history.append({"status": status, "at": iso(at), "epoch": at})

    def _set_job_status(self, job: JobRec, status: str, at: float) -> None:
        if job.status in COUNTED_JOB or status in COUNTED_JOB:
            # the cluster's running_jobs_count / queued_jobs_count change with this transition
            cluster = self.clusters.get(job.cluster_id)
            if cluster is not None:
                cluster.updated_at = max(cluster.updated_at, at)
        job.status = status
        job.updated_at = at
        job.history.append({"status": status, "at": iso(at), "epoch": at})

    def _schedule_idle(self, cluster: ClusterRec) -> None:
        if cluster.status == "available" and not cluster.active_jobs:
            cluster.next_at = cluster.last_activity + cluster.time_to_idle
            cluster.next_action = "idle"
        elif cluster.status in ("available", "idle"):
            cluster.next_at = None

    def _cluster_step(self, cluster: ClusterRec, at: float) -> None:
        action = cluster.next_action
        cluster.next_at = None
        if action == "creating":
            self._set_cluster_status(cluster, "creating", at)
            half = self.durations["cluster_creating"] / 2
            cluster.creating_ends = at + self.durations["cluster_creating"]
            cluster.next_at, cluster.next_action = at + half, "launch"
        elif action == "launch":
            cluster.launched_at = at
            cluster.updated_at = at
            if cluster.fail_message is not None:
                cluster.next_at, cluster.next_action = cluster.creating_ends, "error"
            else:
                cluster.next_at, cluster.next_action = cluster.creating_ends, "available"
        elif action == "available":
            self._set_cluster_status(cluster, "available", at)
            cluster.available_since = at
            cluster.last_activity = at
            self._emit("cluster.available", cluster=cluster)
            for job_id in sorted(cluster.active_jobs):
                job = self.jobs[job_id]
                if job.status == "idle" and job.next_at is None:
                    job.next_at = max(job.created_at + self.durations["job_idle"], at)
                    job.next_action = "pending"
            self._schedule_idle(cluster)
        elif action == "error":
            self._cluster_error(cluster, at)
        elif action == "idle":
            self._set_cluster_status(cluster, "idle", at)
            cluster.idle_since = at
            self._emit("cluster.idled", cluster=cluster)
            if cluster.terminate_on_idle:
                cluster.terminated_on_idle = True
                self._set_cluster_status(cluster, "pending_terminate", at)
                cluster.next_at = at + self.durations["cluster_terminating"] / 2
                cluster.next_action = "terminating"
        elif action == "terminating":
            self._set_cluster_status(cluster, "terminating", at)
            for job_id in sorted(cluster.active_jobs):
                self._job_stopped(self.jobs[job_id], at, "Cluster was terminated.")
            cluster.next_at = at + self.durations["cluster_terminating"] / 2
            cluster.next_action = "terminated"
        elif action == "terminated":
            self._set_cluster_status(cluster, "terminated", at)
            cluster.terminated_at = at
            self.active_clusters.pop(cluster.id, None)
            self._emit("cluster.terminated", cluster=cluster)

    def _cluster_error(self, cluster: ClusterRec, at: float) -> None:
        self._set_cluster_status(cluster, "error", at)
        cluster.next_at = None
        self._emit("cluster.error", cluster=cluster)
        for job_id in sorted(cluster.active_jobs):
            job = self.jobs[job_id]
            self._job_failed(job, at, CLUSTER_ERROR_TEXT)

    def _job_step(self, job: JobRec, at: float) -> None:
        action = job.next_action
        job.next_at = None
        cluster = self.clusters[job.cluster_id]
        if action == "pending":
            self._set_job_status(job, "pending", at)
            job.next_at, job.next_action = at + self.durations["job_pending"], "run"
        elif action == "run":
            running = sum(1 for jid in cluster.active_jobs if self.jobs[jid].status == "running")
            if self.max_running_jobs is not None and running >= self.max_running_jobs:
                self._set_job_status(job, "queued", at)
            else:
                self._start_job(job, at)
        elif action == "complete":
            self._set_job_status(job, "completed", at)
            job.completed_at = at
            job.ended_at = at
            job.frozen_progress = 1.0
            job.outputs = self._make_outputs(job, at)
            self._job_left(job, at)
            self._emit("job.completed", job=job, at=at)
        elif action == "fail":
            self._job_failed(job, at, job.fail_message or DEFAULT_JOB_FAILURE_TEXT)
        elif action == "cluster_error":
            self._job_failed(job, at, CLUSTER_ERROR_TEXT)
        elif action == "stopping":
            self._set_job_status(job, "stopping", at)
            job.next_at, job.next_action = at + self.durations["job_stopping"] / 2, "stopped"
        elif action == "stopped":
            self._job_stopped(job, at, None)

    def _start_job(self, job: JobRec, at: float) -> None:
        self._set_job_status(job, "running", at)
        job.started_at = at
        job.run_duration = max(self.durations["job_running"], 0.0)
        if job.fail_message is not None:
            job.next_at, job.next_action = at + job.run_duration / 2, "fail"
        else:
            job.next_at, job.next_action = at + job.run_duration, "complete"
        self._emit("job.started", job=job, at=at)

    def _job_failed(self, job: JobRec, at: float, message: str) -> None:
        job.frozen_progress = min(self._progress(job, at), 0.99) if job.status == "running" else 0.0
        self._set_job_status(job, "failed", at)
        job.errors = message
        job.failed_at = at
        job.completed_at = at
        job.ended_at = at
        job.next_at = None
        self._job_left(job, at)
        self._emit("job.failed", job=job, at=at)

    def _job_stopped(self, job: JobRec, at: float, message: str | None) -> None:
        if job.frozen_progress is None:
            job.frozen_progress = self._progress(job, at)
        self._set_job_status(job, "stopped", at)
        job.completed_at = at
        if job.ended_at is None:
            job.ended_at = at
        if message:
            job.errors = message
        job.next_at = None
        self._job_left(job, at)
        self._emit("job.stopped", job=job, at=at)

    def _job_left(self, job: JobRec, at: float) -> None:
        """Bookkeeping when a job ends: free its slot, promote a queued job, maybe start idling."""
        self.active_jobs.pop(job.id, None)
        cluster = self.clusters[job.cluster_id]
        cluster.active_jobs.discard(job.id)
        cluster.last_activity = at
        self._promote_queued(cluster, at)
        self._schedule_idle(cluster)

    def _promote_queued(self, cluster: ClusterRec, at: float) -> None:
        """Start queued jobs (oldest first) while the cluster has free slots."""
        for jid in sorted(cluster.active_jobs):
            other = self.jobs[jid]
            if other.status == "queued":
                running = sum(1 for k in cluster.active_jobs if self.jobs[k].status == "running")
                if self.max_running_jobs is None or running < self.max_running_jobs:
                    self._start_job(other, at)

    def _make_outputs(self, job: JobRec, at: float) -> list[dict[str, Any]]:
        package = self.packages[job.package_id]
        outputs = []
        for spec in package.outputs:
            digest = hashlib.sha256(f"{job.package_id}|{self._var_key(job)}|{spec['name']}".encode()).digest()
            outputs.append(
                {
                    "id": self._take_id("output"),
                    "name": spec["name"],
                    "records_count": 100 + int.from_bytes(digest[:4], "big") % 9900,
                    "component": dict(spec["component"]),
                    "created_at": at,
                    "seed": digest.hex(),
                }
            )
        return outputs

    def _var_key(self, job: JobRec) -> str:
        merged = self.merged_variables(job)
        return "|".join(f"{k}={merged[k]}" for k in sorted(merged))

    def merged_variables(self, job: JobRec) -> dict[str, Any]:
        """Return the variables used by the run: package defaults overridden by the job's own."""
        package = self.packages[job.package_id]
        merged: dict[str, Any] = dict(package.variables)
        merged.update(job.variables)
        if job.dynamic_variables:
            merged.update(job.dynamic_variables)
        return merged
