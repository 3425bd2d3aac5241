"""The emulator's store: every part composed into :class:`Store`, plus the full-state snapshot."""

from __future__ import annotations

from typing import Any

from airflow_provider_xplenty.emulator.clock import iso
from airflow_provider_xplenty.emulator.state.failures import InjectedFailures
from airflow_provider_xplenty.emulator.state.ratelimits import RateLimits
from airflow_provider_xplenty.emulator.state.schedules import ScheduleOps


class Store(ScheduleOps, InjectedFailures, RateLimits):
    """All emulator state behind one re-entrant lock (``lock``).

    The parts, from the bottom: :class:`~.core.StoreCore` (seed, ids, clock, lookups),
    :class:`~.rendering.StoreRendering` (API views), :class:`~.events.StoreEvents` (web hook events),
    :class:`~.machine.StoreMachine` (status machines on the clock), :class:`~.clusters.ClusterOps`,
    :class:`~.jobs.JobOps`, :class:`~.schedules.ScheduleOps`, :class:`~.failures.InjectedFailures`
    and :class:`~.ratelimits.RateLimits`.
    """

    def snapshot(self) -> dict[str, Any]:
        """Return every object in every state with its account and transition history."""
        with self.lock:
            self.tick()

            def with_meta(obj: dict[str, Any], account: str, history: list[dict[str, Any]]) -> dict[str, Any]:
                obj["account_id"] = account
                obj["history"] = [{"status": h["status"], "at": h["at"]} for h in history]
                return obj

            return {
                "now": iso(self.now()),
                "clusters": [
                    with_meta(self.render_cluster(c), c.account, c.history) for c in self.clusters.values()
                ],
                "jobs": [with_meta(self.render_job(j), j.account, j.history) for j in self.jobs.values()],
                "packages": [
                    dict(self.render_package(p, detail=True), account_id=p.account)
                    for p in self.packages.values()
                ],
                "schedules": [
                    dict(self.render_schedule(s), account_id=s.account) for s in self.schedules.values()
                ],
                "hooks": [dict(self.render_hook(h), account_id=h.account) for h in self.hooks.values()],
                "accounts": [
                    {"account_id": a.slug, "id": a.id, "max_nodes": a.max_nodes, "region": a.region}
                    for a in self.accounts.values()
                ],
                "faults": self.faults.describe(),
                "pending_failures": {
                    "jobs": list(self.job_failures),
                    "clusters": list(self.cluster_failures),
                },
            }
