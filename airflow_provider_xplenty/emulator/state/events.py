"""Web hook events: queue a delivery for every subscribed hook, remember each delivery's outcome.

The deliveries are sent over HTTP outside the lock, by :mod:`airflow_provider_xplenty.emulator.webhooks`.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_xplenty.emulator.state.records import ClusterRec, Delivery, HookRec, JobRec, signature
from airflow_provider_xplenty.emulator.state.rendering import StoreRendering


class StoreEvents(StoreRendering):
    """Emit cluster and job events to web hooks."""

    def _emit(
        self,
        event: str,
        *,
        cluster: ClusterRec | None = None,
        job: JobRec | None = None,
        at: float | None = None,
    ) -> None:
        """Queue deliveries of ``event`` to subscribed web hooks; a job is rendered as it was ``at``."""
        account = cluster.account if cluster is not None else job.account if job is not None else ""
        group = event.split(".", 1)[0]
        for hook in self.hooks.values():
            if hook.account != account or not hook.active or hook.type != "web":
                continue
            if event not in hook.events and group not in hook.events:
                continue
            url = str(hook.settings.get("url") or "")
            if not url:
                continue
            if cluster is not None:
                obj, rid, rurl = self.render_cluster(cluster), cluster.id, self._cluster_url(cluster)
            else:
                assert job is not None
                obj, rid, rurl = self.render_job(job, now=at), job.id, self._job_url(job)
            self.deliveries.append(self._delivery(hook, event, rid, rurl, obj))

    def _delivery(self, hook: HookRec, event: str, rid: int, rurl: str, obj: dict[str, Any]) -> Delivery:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Xplenty-Emulator-Hooks/1.0",
            "X-Hook-Signature": signature(rid, event, rurl, hook.salt),
            "X-Hook-Event": event,
        }
        if hook.settings.get("basic_auth") and hook.settings.get("basic_auth_data"):
            headers["Authorization"] = "Basic " + str(hook.settings["basic_auth_data"])
        body = {"id": rid, "event": event, "url": rurl, "hook_id": hook.id, "data": obj}
        return Delivery(hook.id, event, str(hook.settings.get("url")), headers, body)

    def take_deliveries(self) -> list[Delivery]:
        """Remove and return the queued web hook deliveries."""
        with self.lock:
            out, self.deliveries = self.deliveries, []
            return out

    def record_delivery(self, hook_id: int, event: str, code: int | None, body: str, at: float) -> None:
        """Remember the outcome of a delivery on the hook (shown by ``ping``)."""
        with self.lock:
            hook = self.hooks.get(hook_id)
            if hook is None:
                return
            hook.event_status[event] = {
                "last_response": {"code": code, "body": body[:1000]},
                "last_trigger_status": "success" if code is not None and 200 <= code < 300 else "failure",
                "last_trigger_time": at,
            }
