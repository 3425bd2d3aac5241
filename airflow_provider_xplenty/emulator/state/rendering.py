"""The API views of stored objects (what a GET answers), including a running job's progress.

A running job's progress moves in steps of 1/:data:`PROGRESS_STEPS` of its run, and its ``updated_at``
is the emulated time of the latest step (a ``running -> running`` change moves ``progress``,
``runtime_in_seconds`` and ``updated_at``; docs/api-notes.md, Job status machine). Both are pure
functions of the clock (:meth:`StoreRendering.job_updated_at`), so they need no extra transition and
stay deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from airflow_provider_xplenty.emulator.clock import iso
from airflow_provider_xplenty.emulator.state.core import StoreCore
from airflow_provider_xplenty.emulator.state.records import (
    PROGRESS_STEPS,
    ClusterRec,
    HookRec,
    JobRec,
    PackageRec,
    ScheduleRec,
)


class StoreRendering(StoreCore):
    """Render clusters, jobs, packages, schedules and hooks as the API shows them."""

    # ------------------------------------------------------------------ progress
    def _progress_step(self, job: JobRec, at: float) -> int:
        """Return how many progress steps a running job has completed at ``at`` (0 .. STEPS-1)."""
        if job.status != "running" or job.started_at is None:
            return 0
        if job.run_duration <= 0:
            return PROGRESS_STEPS - 1
        done = int((at - job.started_at) * PROGRESS_STEPS / job.run_duration + 1e-9)
        return min(PROGRESS_STEPS - 1, max(0, done))

    def _progress(self, job: JobRec, at: float) -> float:
        if job.frozen_progress is not None:
            return job.frozen_progress
        return self._progress_step(job, at) / PROGRESS_STEPS

    def job_updated_at(self, job: JobRec, at: float | None = None) -> float:
        """Return ``updated_at`` as the API shows it at ``at`` (default: now).

        The stored ``JobRec.updated_at`` is the time of the last status transition; a running job's
        ``updated_at`` also advances with each progress step, to the emulated time of that step.
        """
        if job.status != "running" or job.started_at is None or job.frozen_progress is not None:
            return job.updated_at
        step = self._progress_step(job, self.now() if at is None else at)
        if step == 0:
            return job.updated_at
        return max(job.updated_at, job.started_at + step * job.run_duration / PROGRESS_STEPS)

    # ------------------------------------------------------------------ views
    def render_cluster(self, c: ClusterRec) -> dict[str, Any]:
        """Return the API view of a cluster."""
        running = queued = 0
        for jid in c.active_jobs:
            status = self.jobs[jid].status
            if status == "running":
                running += 1
            elif status == "queued":
                queued += 1
        extra = c.extra
        return {
            "id": c.id,
            "name": c.name,
            "description": c.description,
            "status": c.status,
            "owner_id": c.owner_id,
            "plan_id": None,
            "nodes": c.nodes,
            "type": c.type,
            "created_at": iso(c.created_at),
            "updated_at": iso(c.updated_at),
            "available_since": iso(c.available_since),
            "launched_at": iso(c.launched_at),
            "terminated_at": iso(c.terminated_at),
            "idle_since": iso(c.idle_since),
            "running_jobs_count": running,
            "queued_jobs_count": queued,
            "terminate_on_idle": c.terminate_on_idle,
            "time_to_idle": c.time_to_idle,
            "terminated_on_idle": c.terminated_on_idle,
            "region": c.region,
            "zone": c.zone,
            "master_instance_type": extra.get("master_instance_type"),
            "slave_instance_type": extra.get("slave_instance_type"),
            "master_spot_price": extra.get("master_spot_price"),
            "slave_spot_price": extra.get("slave_spot_price"),
            "master_spot_percentage": extra.get("master_spot_percentage"),
            "slave_spot_percentage": extra.get("slave_spot_percentage"),
            "allow_fallback": bool(extra.get("allow_fallback") or False),
            "stack": c.stack,
            "bootstrap_actions": list(extra.get("bootstrap_actions") or []),
            "url": self._cluster_url(c),
            "html_url": f"{self.base_url}/{c.account}/clusters/{c.id}",
            "creator": dict(c.creator),
        }

    def _render_output(self, job: JobRec, out: dict[str, Any]) -> dict[str, Any]:
        url = f"{self._job_url(job)}/outputs/{out['id']}"
        return {
            "id": out["id"],
            "name": out["name"],
            "records_count": out["records_count"],
            "progress": 1.0,
            "created_at": iso(out["created_at"]),
            "updated_at": iso(out["created_at"]),
            "preview_url": f"{url}/preview",
            "preview_type": "csv",
            "url": url,
            "component": dict(out["component"]),
        }

    def render_job(self, j: JobRec, include: Iterable[str] = (), now: float | None = None) -> dict[str, Any]:
        """Return the API view of a job at ``now`` (default: the clock's now).

        ``include`` may hold ``cluster`` and ``package``.
        """
        if now is None:
            now = self.now()
        end = j.ended_at if j.ended_at is not None else now
        runtime = int(max(0.0, end - j.started_at)) if j.started_at is not None else 0
        package = self.packages[j.package_id]
        url = self._job_url(j)
        out: dict[str, Any] = {
            "id": j.id,
            "status": j.status,
            "variables": dict(j.variables),
            "dynamic_variables": dict(j.dynamic_variables) if j.dynamic_variables is not None else None,
            "owner_id": j.owner_id,
            "progress": self._progress(j, now),
            "outputs_count": len(package.outputs),
            "outputs": [self._render_output(j, o) for o in j.outputs],
            "started_at": iso(j.started_at),
            "created_at": iso(j.created_at),
            "updated_at": iso(self.job_updated_at(j, now)),
            "failed_at": iso(j.failed_at),
            "completed_at": iso(j.completed_at),
            "cluster_id": j.cluster_id,
            "package_id": j.package_id,
            "errors": j.errors,
            "runtime_in_seconds": runtime,
            "url": url,
            "html_url": f"{self.base_url}/{j.account}/jobs/{j.id}",
            "log_url": f"{url}/log",
            "creator": dict(j.creator),
            "attempts": j.attempts,
            "master_auto_retry_attempts": j.master_auto_retry_attempts,
        }
        if "cluster" in include:
            out["cluster"] = self.render_cluster(self.clusters[j.cluster_id])
        if "package" in include:
            out["package"] = self.render_package(package)
        return out

    def render_package(self, p: PackageRec, *, detail: bool = False, flow: bool = False) -> dict[str, Any]:
        """Return the API view of a package."""
        out: dict[str, Any] = {
            "id": p.id,
            "name": p.name,
            "description": p.description,
            "variables": dict(p.variables),
            "owner_id": p.owner_id,
            "created_at": iso(p.created_at),
            "updated_at": iso(p.updated_at),
            "url": f"{self._api(p.account)}/packages/{p.id}",
            "html_url": f"{self.base_url}/{p.account}/packages/{p.id}",
            "status": p.status,
            "flow_type": p.flow_type,
        }
        if detail:
            out.update(
                {
                    "version": p.version,
                    "flow_version": p.flow_version,
                    "package_version": "1.0",
                    "item_id": f"package-{p.id}",
                }
            )
        if flow:
            out["data_flow_json"] = p.data_flow_json
        return out

    def render_schedule(self, s: ScheduleRec) -> dict[str, Any]:
        """Return the API view of a schedule."""
        f = s.fields
        task = f["task"]
        return {
            "id": s.id,
            "name": f["name"],
            "description": f.get("description"),
            "owner_id": s.owner_id,
            "status": f["status"],
            "start_at": iso(f["start_at"]),
            "next_run_at": iso(self._next_run(s)),
            "interval_amount": f["interval_amount"],
            "interval_unit": f["interval_unit"],
            "last_run_at": iso(s.last_run_at),
            "last_run_status": s.last_run_status,
            "execution_count": s.execution_count,
            "overlap": f["overlap"],
            "reuse_cluster_strategy": f["reuse_cluster_strategy"],
            "auto_retry": f["auto_retry"],
            "auto_retry_attempts": f["auto_retry_attempts"],
            "task": {
                "nodes": task["nodes"],
                "terminate_on_idle": task["terminate_on_idle"],
                "time_to_idle": task["time_to_idle"],
                "packages": [
                    {"package_id": p["package_id"], "variables": dict(p.get("variables") or {})}
                    for p in task["packages"]
                ],
            },
            "created_at": iso(s.created_at),
            "updated_at": iso(s.updated_at),
            "url": f"{self._api(s.account)}/schedules/{s.id}",
            "html_url": f"{self.base_url}/{s.account}/schedules/{s.id}",
        }

    def _next_run(self, s: ScheduleRec) -> float | None:
        if s.fields["status"] != "enabled":
            return None
        unit = {"minutes": 60, "hours": 3600, "days": 86400, "weeks": 604800, "months": 2592000}
        step = unit.get(s.fields["interval_unit"], 3600) * max(1, int(s.fields["interval_amount"]))
        start = float(s.fields["start_at"])
        now = self.now()
        if start >= now:
            return start
        return start + (int((now - start) // step) + 1) * step

    def render_hook(self, h: HookRec) -> dict[str, Any]:
        """Return the API view of a hook (write-only settings hidden)."""
        settings = dict(h.settings)
        if "basic_auth_data" in settings:
            settings.pop("basic_auth_data")
            settings["encrypted_basic_auth_data"] = "*****"
        return {
            "id": h.id,
            "name": h.name,
            "active": h.active,
            "type": h.type,
            "settings": settings,
            "events": list(h.events),
            "salt": h.salt,
            "created_at": iso(h.created_at),
            "updated_at": iso(h.updated_at),
            "url": f"{self._api(h.account)}/hooks/{h.id}",
        }
