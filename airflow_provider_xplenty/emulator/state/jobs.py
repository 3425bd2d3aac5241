"""Job operations of the API: run a package, stop a job, a job's log and output previews."""

from __future__ import annotations

import hashlib
from typing import Any

from airflow_provider_xplenty.emulator.state.machine import StoreMachine
from airflow_provider_xplenty.emulator.state.records import (
    GONE_CLUSTER,
    READY_CLUSTER,
    STOPPABLE_JOB,
    ApiError,
    JobRec,
    not_found,
    strip_expression,
)


class JobOps(StoreMachine):
    """Run and stop jobs; render their logs and output previews."""

    def create_job(
        self,
        slug: str,
        p: dict[str, Any],
        creator: dict[str, Any] | None = None,
        attempts: int = 0,
    ) -> JobRec:
        """Run a package on a cluster (status ``idle``)."""
        with self.lock:
            self.tick()
            account = self.account(slug)
            cluster = self.clusters.get(int(p["cluster_id"]))
            if cluster is None or cluster.account != slug:
                raise ApiError(422, f"Cluster {p['cluster_id']} not found.", {"cluster_id": ["not found"]})
            package = self.packages.get(int(p["package_id"]))
            if package is None or package.account != slug:
                raise ApiError(422, f"Package {p['package_id']} not found.", {"package_id": ["not found"]})
            if cluster.status in GONE_CLUSTER:
                raise ApiError(
                    422,
                    f"Cluster {cluster.id} is {cluster.status}; jobs cannot run on it.",
                    {"cluster_id": [cluster.status]},
                )
            now = self.now()
            job = JobRec(
                id=self._take_id("job"),
                account=slug,
                cluster_id=cluster.id,
                package_id=package.id,
                variables=dict(p.get("variables") or {}),
                dynamic_variables=dict(p["dynamic_variables"]) if p.get("dynamic_variables") else None,
                creator=creator or self.creator(slug),
                owner_id=account.user_id,
                created_at=now,
                updated_at=now,
                attempts=attempts,
                watchers={account.user_id},
            )
            self._set_job_status(job, "idle", now)
            for spec in self.job_failures:
                if (
                    spec["count"] > 0
                    and spec.get("package_id") in (None, package.id)
                    and spec.get("job_id") is None
                ):
                    spec["count"] -= 1
                    job.fail_message = spec["message"]
                    break
            self.job_failures = [s for s in self.job_failures if s["count"] > 0]
            self.jobs[job.id] = job
            self.active_jobs[job.id] = job
            cluster.active_jobs.add(job.id)
            if cluster.status == "error":
                job.next_at, job.next_action = now, "cluster_error"
            elif cluster.status in READY_CLUSTER:
                if cluster.status == "idle":
                    self._set_cluster_status(cluster, "available", now)
                    cluster.idle_since = None
                job.next_at, job.next_action = now + self.durations["job_idle"], "pending"
            cluster.updated_at = max(cluster.updated_at, now)
            self._schedule_idle(cluster)
            self._emit("job.submitted", job=job, at=now)
            return job

    def stop_job(self, slug: str, job_id: int) -> JobRec:
        """Request a stop (``pending_stoppage``)."""
        with self.lock:
            self.tick()
            job = self.get_job(slug, job_id)
            if job.status not in STOPPABLE_JOB:
                raise ApiError(
                    422, f"Job {job_id} is {job.status} and cannot be stopped.", {"status": [job.status]}
                )
            now = self.now()
            job.frozen_progress = self._progress(job, now)
            if job.started_at is not None:
                job.ended_at = now
            self._set_job_status(job, "pending_stoppage", now)
            job.next_at = now + self.durations["job_stopping"] / 2
            job.next_action = "stopping"
            self._promote_queued(self.clusters[job.cluster_id], now)
            return job

    def preview(self, job: JobRec, output_id: int) -> str:
        """Return the deterministic preview text of one output (at most 100 lines)."""
        out = next((o for o in job.outputs if o["id"] == output_id), None)
        if out is None:
            raise not_found("Output")
        merged = self.merged_variables(job)
        first = "\t".join(f"{k}={strip_expression(v)}" for k, v in merged.items())
        fields = out["component"].get("fields") or ["id", "name", "amount"]
        lines = [first or "(no variables)", "\t".join(fields)]
        seed = bytes.fromhex(out["seed"])
        rows = min(out["records_count"], 5)
        for n in range(rows):
            digest = hashlib.sha256(seed + n.to_bytes(2, "big")).hexdigest()
            values = [
                str(n + 1),
                f"{out['name']}_{digest[:6]}",
                f"{int(digest[6:12], 16) % 100000 / 100:.2f}",
            ]
            lines.append(
                "\t".join(values[: len(fields)] + [digest[12 + i : 18 + i] for i in range(len(fields) - 3)])
            )
        return "\n".join(lines[:100])

    def job_log(self, job: JobRec) -> str:
        """Return a short log text for a job."""
        lines = [f"{h['at']} job {job.id} {h['status']}" for h in job.history]
        if job.errors:
            lines.append(f"ERROR: {job.errors}")
        return "\n".join(lines)
