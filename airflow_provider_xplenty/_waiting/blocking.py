"""Waiting in a worker: the blocking counterpart of the triggers, with the same events."""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any

from airflow_provider_xplenty._waiting.events import ResourceKind, StatusRecorder, StatusSnapshot, make_event
from airflow_provider_xplenty._waiting.sources import SyncPollingStatusSource


def wait_sync(
    *,
    hook: Any,
    kind: ResourceKind,
    resource_id: int,
    target_statuses: Collection[str],
    failed_statuses: Collection[str],
    poll_interval: float,
    end_time: float | None,
    history: list[dict[str, Any]],
    log: Any,
    transient_error_timeout: float = 600.0,
) -> tuple[dict[str, Any], StatusSnapshot | None]:
    """Wait in the worker like the triggers do; return an event payload and the last snapshot.

    Non-transient API errors propagate. A passed ``end_time`` gives a ``timeout`` event, also while
    transient API errors go on (the deadline is checked between polls whether or not the API answers).
    """
    source = SyncPollingStatusSource(
        hook, poll_interval=poll_interval, transient_error_timeout=transient_error_timeout, log=log
    )
    recorder = StatusRecorder(kind, resource_id, history, log)
    snap: StatusSnapshot | None = None
    for snap in source.watch(kind, resource_id, end_time=end_time):
        recorder.record(snap)
        if snap.status in target_statuses:
            message = f"Xplenty {kind} {resource_id} is {snap.status}"
            return make_event(
                "success", kind=kind, resource_id=resource_id, message=message, snap=snap, history=history
            ), snap
        if snap.status in failed_statuses:
            detail = f": {snap.errors}" if snap.errors else ""
            message = f"Xplenty {kind} {resource_id} is {snap.status}{detail}"
            return make_event(
                "failed", kind=kind, resource_id=resource_id, message=message, snap=snap, history=history
            ), snap
        if end_time is not None and time.time() >= end_time:
            break
    # the source only ends at the deadline
    message = (
        f"Xplenty {kind} {resource_id} did not reach {'/'.join(sorted(target_statuses))} before the timeout "
        f"(last status: {snap.status if snap else 'unknown'})"
    )
    event = make_event(
        "timeout",
        kind=kind,
        resource_id=resource_id,
        message=message,
        snap=snap,
        history=history,
        reason="timeout",
    )
    return event, snap
