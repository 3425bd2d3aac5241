"""What a wait sees and reports: status snapshots, the status history, and the event payload.

Triggers and blocking waits build the same event (:func:`make_event`); every task that resumes
checks it with :func:`validate_event` before acting on it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from airflow_provider_xplenty.exceptions import XplentyTriggerEventError

ResourceKind = Literal["job", "cluster"]

#: ``status`` values an event can carry.
EVENT_STATUSES = frozenset({"success", "failed", "timeout", "error"})
#: ``reason`` values of a ``timeout`` event.
TIMEOUT_REASONS = frozenset({"timeout", "execution_timeout"})


def utc_iso(ts: float | None = None) -> str:
    """Return a wall-clock timestamp (default: now) as an ISO 8601 UTC string."""
    return datetime.fromtimestamp(time.time() if ts is None else ts, tz=timezone.utc).isoformat()


@dataclass(frozen=True, slots=True)
class StatusSnapshot:
    """What a status source saw of one cluster or job at one moment: only what waits use.

    A shared poller keeps one per watched resource and builds one per listed item, so it holds these
    few fields, not the API object (no dict per snapshot: fewer objects for the garbage collector
    and no ``model_dump`` per listed item; docs/scale.md "The event loop").
    """

    kind: ResourceKind
    resource_id: int
    status: str
    observed_at: float
    progress: float | None = None
    html_url: str | None = None
    errors: str | None = None


def snapshot_of(kind: ResourceKind, obj: Any) -> StatusSnapshot:
    """Build a snapshot from a ``Job`` or ``Cluster`` model (the one place that does)."""
    if kind == "job":
        return StatusSnapshot(
            kind="job",
            resource_id=obj.id,
            status=obj.status,
            observed_at=time.time(),
            progress=obj.progress,
            html_url=obj.html_url,
            errors=obj.errors or None,
        )
    return StatusSnapshot(
        kind="cluster",
        resource_id=obj.id,
        status=obj.status,
        observed_at=time.time(),
        html_url=obj.html_url,
    )


class StatusRecorder:
    """Keep the status history of one resource and log its transitions and progress."""

    def __init__(self, kind: ResourceKind, resource_id: int, history: list[dict[str, Any]], log: Any) -> None:
        self.kind = kind
        self.resource_id = resource_id
        self.history = history
        self.log = log
        self.last_progress: float | None = None

    def record(self, snap: StatusSnapshot) -> None:
        """Append a transition when the status changed; log it, or the progress when that changed."""
        previous = self.history[-1]["status"] if self.history else None
        if snap.status != previous:
            self.history.append({"status": snap.status, "at": utc_iso(snap.observed_at)})
            self.log.info(
                "Xplenty %s %s: %s -> %s%s",
                self.kind,
                self.resource_id,
                previous or "(start)",
                snap.status,
                f" ({snap.progress * 100:.0f}%)" if snap.progress is not None else "",
            )
        elif snap.progress is not None and snap.progress != self.last_progress:
            self.log.info(
                "Xplenty %s %s: %s, %.0f%% done",
                self.kind,
                self.resource_id,
                snap.status,
                snap.progress * 100,
            )
        self.last_progress = snap.progress


def make_event(
    status: str,
    *,
    kind: ResourceKind,
    resource_id: int,
    message: str,
    snap: StatusSnapshot | None,
    history: list[dict[str, Any]],
    **extra: Any,
) -> dict[str, Any]:
    """Build an event payload (the same shape for trigger events and blocking waits)."""
    payload: dict[str, Any] = {
        "status": status,
        "kind": kind,
        "resource_id": resource_id,
        f"{kind}_id": resource_id,
        "xplenty_status": snap.status if snap else (history[-1]["status"] if history else None),
        "message": message,
        "html_url": snap.html_url if snap else None,
        "errors": snap.errors if snap else None,
        "progress": snap.progress if snap else None,
        "history": [dict(h) for h in history],
        "reason": None,
    }
    payload.update(extra)
    return payload


def validate_event(event: Any, *, kind: ResourceKind, resource_id: int | None = None) -> dict[str, Any]:
    """Check a trigger event and return it; raise :class:`XplentyTriggerEventError` when malformed.

    :param event: what the trigger sent (``execute_complete``'s ``event`` argument).
    :param kind: ``"job"`` or ``"cluster"``: the resource the task waits on.
    :param resource_id: the id the task waits on; the event must name the same one.
    """
    if not isinstance(event, dict):
        raise XplentyTriggerEventError(f"Malformed Xplenty trigger event (expected a dict): {event!r}")
    status = event.get("status")
    if status not in EVENT_STATUSES:
        raise XplentyTriggerEventError(
            f"Malformed Xplenty trigger event: status {status!r} is not one of {sorted(EVENT_STATUSES)}: "
            f"{event!r}"
        )
    if event.get("kind") != kind:
        raise XplentyTriggerEventError(
            f"Malformed Xplenty trigger event: expected kind {kind!r}, got {event.get('kind')!r}: {event!r}"
        )
    event_id = event.get("resource_id")
    if not isinstance(event_id, int) or isinstance(event_id, bool):
        raise XplentyTriggerEventError(f"Malformed Xplenty trigger event: no integer resource_id: {event!r}")
    if resource_id is not None and event_id != resource_id:
        raise XplentyTriggerEventError(
            f"Xplenty trigger event is for {kind} {event_id}, but this task waits on {kind} {resource_id}"
        )
    history = event.get("history", [])
    if not isinstance(history, list) or not all(
        isinstance(h, dict) and isinstance(h.get("status"), str) for h in history
    ):
        raise XplentyTriggerEventError(f"Malformed Xplenty trigger event: bad history: {event!r}")
    if status == "timeout" and event.get("reason") not in TIMEOUT_REASONS:
        raise XplentyTriggerEventError(f"Malformed Xplenty trigger event: bad timeout reason: {event!r}")
    if status in ("success", "failed") and not isinstance(event.get("xplenty_status"), str):
        raise XplentyTriggerEventError(f"Malformed Xplenty trigger event: no xplenty_status: {event!r}")
    return event
