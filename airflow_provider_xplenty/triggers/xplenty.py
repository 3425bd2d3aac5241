"""Deferrable triggers that wait for an Xplenty cluster or job to reach a status.

Both triggers read statuses through the polling seam (``_waiting.seam.get_status_source``), keep the
status history, log transitions and progress, enforce two absolute wall-clock deadlines (``end_time``
for the operator's ``timeout`` and ``execution_deadline`` for the task's ``execution_timeout``) and
emit exactly one event of the shape checked by ``_waiting.events.validate_event``.

The classpaths of these classes are stored with the deferred tasks: keep them where they are.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from airflow_provider_xplenty._compat import (
    TRIGGER_HAS_ON_KILL,
    BaseTrigger,
    TriggerEvent,
    task_left_deferred,
)
from airflow_provider_xplenty._waiting.deadlines import earliest_deadline
from airflow_provider_xplenty._waiting.events import (
    ResourceKind,
    StatusRecorder,
    StatusSnapshot,
    make_event,
    validate_event,
)
from airflow_provider_xplenty._waiting.seam import get_status_source
from airflow_provider_xplenty._waiting.sources import StatusSource
from airflow_provider_xplenty.exceptions import XplentyTriggerEventError
from airflow_provider_xplenty.models import ClusterStatus, JobStatus

__all__ = [
    "XplentyClusterTrigger",
    "XplentyJobTrigger",
    # importable from here before they moved to _waiting.events / exceptions:
    "XplentyTriggerEventError",
    "validate_event",
]

_JOB_TARGETS = tuple(sorted(JobStatus.success_states()))
_JOB_FAILED = tuple(sorted(JobStatus.failed_states()))
_CLUSTER_TARGETS = tuple(sorted(ClusterStatus.ready_states()))
_CLUSTER_FAILED = tuple(sorted(ClusterStatus.failed_states()))


class _XplentyStatusTrigger(BaseTrigger):
    """Wait until one cluster or job reaches a target status, a failed status or a deadline."""

    kind: ClassVar[ResourceKind]
    id_kwarg: ClassVar[str]

    def __init__(
        self,
        *,
        resource_id: int,
        xplenty_conn_id: str = "xplenty_default",
        poll_interval: float = 30.0,
        target_statuses: list[str] | tuple[str, ...] = (),
        failed_statuses: list[str] | tuple[str, ...] = (),
        end_time: float | None = None,
        execution_deadline: float | None = None,
        history: list[dict[str, Any]] | None = None,
        hook_params: dict[str, Any] | None = None,
        transient_error_timeout: float = 600.0,
        first_poll_at: float | None = None,
        try_number: int | None = None,
    ) -> None:
        super().__init__()
        self.resource_id = int(resource_id)
        self.xplenty_conn_id = xplenty_conn_id
        self.poll_interval = float(poll_interval)
        self.target_statuses = [str(s) for s in target_statuses]
        self.failed_statuses = [str(s) for s in failed_statuses]
        self.end_time = None if end_time is None else float(end_time)
        self.execution_deadline = None if execution_deadline is None else float(execution_deadline)
        self.history: list[dict[str, Any]] = [dict(h) for h in (history or [])]
        self.hook_params: dict[str, Any] = dict(hook_params or {})
        self.transient_error_timeout = float(transient_error_timeout)
        self.first_poll_at = None if first_poll_at is None else float(first_poll_at)
        self.try_number = None if try_number is None else int(try_number)
        self._source: StatusSource | None = None

    # -- serialization -------------------------------------------------------------------------
    def _extra_kwargs(self) -> dict[str, Any]:
        return {}

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the classpath and JSON-primitive kwargs that rebuild this trigger."""
        kwargs: dict[str, Any] = {
            self.id_kwarg: self.resource_id,
            "xplenty_conn_id": self.xplenty_conn_id,
            "poll_interval": self.poll_interval,
            "target_statuses": list(self.target_statuses),
            "failed_statuses": list(self.failed_statuses),
            "end_time": self.end_time,
            "execution_deadline": self.execution_deadline,
            "history": [dict(h) for h in self.history],
            "hook_params": dict(self.hook_params),
            "transient_error_timeout": self.transient_error_timeout,
            "first_poll_at": self.first_poll_at,
            "try_number": self.try_number,
        }
        kwargs.update(self._extra_kwargs())
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

    # -- status source -------------------------------------------------------------------------
    @property
    def source(self) -> StatusSource:
        """The status source (polling seam) for this trigger's connection."""
        if self._source is None:
            self._source = get_status_source(
                self.xplenty_conn_id,
                poll_interval=self.poll_interval,
                hook_params=self.hook_params,
                transient_error_timeout=self.transient_error_timeout,
                log=self.log,
            )
        return self._source

    # -- events ----------------------------------------------------------------------------------
    def _event(self, status: str, message: str, snap: StatusSnapshot | None, **extra: Any) -> TriggerEvent:
        return TriggerEvent(
            make_event(
                status,
                kind=self.kind,
                resource_id=self.resource_id,
                message=message,
                snap=snap,
                history=self.history,
                **({"try_number": self.try_number} if self.try_number is not None else {}),
                **extra,
            )
        )

    async def _cancelled_by_user(self) -> bool:
        """Whether the task left the deferred state (user action), as opposed to a triggerer restart."""
        return await task_left_deferred(self.task_instance, self.log)

    async def on_kill(self) -> None:
        """Stop remote work when a user kills the deferred task (overridden by subclasses)."""

    async def _on_deadline(self, reason: str, snap: StatusSnapshot | None) -> dict[str, Any]:
        """Act when a deadline passes (subclasses stop the job); return extra event fields."""
        return {}

    async def _wait_for_first_poll(self, deadline: float | None) -> None:
        """Sleep until ``first_poll_at`` (or the deadline, if sooner).

        The deferring task has just read the status, so polling again at once would cost a credit
        for nothing, and an event within seconds of deferring can meet an Airflow scheduler race
        that fails the resumed task (apache/airflow#67287; see docs/operators.md).
        """
        if self.first_poll_at is None:
            return
        until = self.first_poll_at if deadline is None else min(self.first_poll_at, deadline)
        pause = until - time.time()
        if pause > 0:
            await asyncio.sleep(pause)

    def _last_status(self, snap: StatusSnapshot | None) -> str:
        if snap is not None:
            return str(snap.status)
        if self.history:
            return str(self.history[-1].get("status"))
        return "unknown"

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until a target status, a failed status, a deadline, or a non-transient API error."""
        deadline, reason = earliest_deadline(self.end_time, self.execution_deadline)
        snap: StatusSnapshot | None = None
        recorder = StatusRecorder(self.kind, self.resource_id, self.history, self.log)
        stream = self.source.watch(self.kind, self.resource_id).__aiter__()
        try:
            await self._wait_for_first_poll(deadline)
            while True:
                remaining = None if deadline is None else deadline - time.time()
                timed_out = remaining is not None and remaining <= 0
                if not timed_out:
                    try:
                        # asyncio.timeout, not wait_for: no task per snapshot (1,000 waits, docs/scale.md)
                        async with asyncio.timeout(remaining):
                            snap = await stream.__anext__()
                    except TimeoutError:
                        timed_out = True
                if timed_out:
                    extra = await self._on_deadline(reason, snap)
                    what = "timeout" if reason == "timeout" else "execution_timeout"
                    yield self._event(
                        "timeout",
                        f"Xplenty {self.kind} {self.resource_id} did not reach "
                        f"{'/'.join(self.target_statuses)} before the task's {what}"
                        f" (last status: {self._last_status(snap)})",
                        snap,
                        reason=reason,
                        **extra,
                    )
                    return
                assert snap is not None
                recorder.record(snap)
                if snap.status in self.target_statuses:
                    yield self._event(
                        "success", f"Xplenty {self.kind} {self.resource_id} is {snap.status}", snap
                    )
                    return
                if snap.status in self.failed_statuses:
                    detail = f": {snap.errors}" if snap.errors else ""
                    yield self._event(
                        "failed", f"Xplenty {self.kind} {self.resource_id} is {snap.status}{detail}", snap
                    )
                    return
        except asyncio.CancelledError:
            # Airflow 3.3 calls on_kill() itself on user action; 3.2 only cancels the trigger, so
            # there we call it when the task is no longer deferred (not on a triggerer restart).
            if not TRIGGER_HAS_ON_KILL and await self._cancelled_by_user():
                await self.on_kill()
            raise
        except Exception as error:
            self.log.exception("Error while waiting for Xplenty %s %s", self.kind, self.resource_id)
            yield self._event(
                "error",
                f"Error while waiting for Xplenty {self.kind} {self.resource_id}: {error}",
                snap,
            )
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()
            await self.source.close()


class XplentyJobTrigger(_XplentyStatusTrigger):
    """Wait for an Xplenty job to end.

    :param job_id: the job to watch.
    :param xplenty_conn_id: the Airflow connection.
    :param poll_interval: seconds between two status checks.
    :param target_statuses: statuses that end the wait with a ``success`` event (default ``completed``).
    :param failed_statuses: statuses that end it with a ``failed`` event (default ``failed``, ``stopped``).
    :param end_time: wall-clock deadline (``time.time()``) of the operator's ``timeout``.
    :param execution_deadline: wall-clock deadline of the task's ``execution_timeout``.
    :param history: status transitions seen before deferring (``[{"status", "at"}]``).
    :param stop_on_timeout: stop the job when a deadline passes.
    :param stop_on_kill: stop the job when a user kills the deferred task (Airflow 3.3 ``on_kill``).
    :param hook_params: keyword arguments for ``XplentyAsyncHook``.
    :param transient_error_timeout: seconds of consecutive transient API errors tolerated.
    :param first_poll_at: wall-clock time (``time.time()``) of the first poll; the operators set it
        one ``poll_interval`` after the status check they made before deferring. Default: at once.
    :param try_number: the try of the task that deferred, echoed in the event (a retry resumed with an
        earlier try's event starts afresh; see ``_compat.event_try_number``).
    """

    kind = "job"
    id_kwarg = "job_id"

    def __init__(
        self,
        job_id: int,
        xplenty_conn_id: str = "xplenty_default",
        poll_interval: float = 30.0,
        target_statuses: list[str] | tuple[str, ...] = _JOB_TARGETS,
        failed_statuses: list[str] | tuple[str, ...] = _JOB_FAILED,
        end_time: float | None = None,
        execution_deadline: float | None = None,
        history: list[dict[str, Any]] | None = None,
        stop_on_timeout: bool = True,
        stop_on_kill: bool = True,
        hook_params: dict[str, Any] | None = None,
        transient_error_timeout: float = 600.0,
        first_poll_at: float | None = None,
        try_number: int | None = None,
    ) -> None:
        super().__init__(
            resource_id=job_id,
            xplenty_conn_id=xplenty_conn_id,
            poll_interval=poll_interval,
            target_statuses=target_statuses,
            failed_statuses=failed_statuses,
            end_time=end_time,
            execution_deadline=execution_deadline,
            history=history,
            hook_params=hook_params,
            transient_error_timeout=transient_error_timeout,
            first_poll_at=first_poll_at,
            try_number=try_number,
        )
        self.job_id = self.resource_id
        self.stop_on_timeout = bool(stop_on_timeout)
        self.stop_on_kill = bool(stop_on_kill)

    def _extra_kwargs(self) -> dict[str, Any]:
        return {"stop_on_timeout": self.stop_on_timeout, "stop_on_kill": self.stop_on_kill}

    async def _stop(self, why: str) -> str | None:
        self.log.warning("Stopping Xplenty job %s (%s)", self.job_id, why)
        status = await self.source.stop_job(self.job_id)
        self.log.info("Xplenty job %s is now %s", self.job_id, status)
        return status

    async def _on_deadline(self, reason: str, snap: StatusSnapshot | None) -> dict[str, Any]:
        # the operator's timeout stops the job (stop_on_timeout); execution_timeout is a kill, as in a
        # worker, where on_kill stops the job only with stop_on_kill
        stop = self.stop_on_timeout if reason == "timeout" else self.stop_on_kill
        if not stop:
            return {"stopped": False}
        try:
            status = await self._stop(reason)
        except Exception as error:
            self.log.warning("Could not stop Xplenty job %s: %s", self.job_id, error)
            return {"stopped": False, "stop_error": str(error)}
        return {"stopped": True, "xplenty_status": status}

    async def on_kill(self) -> None:
        """Stop the job when a user kills the deferred task (mark failed/success, clear)."""
        if self.stop_on_kill:
            await self._stop("task killed while deferred")


class XplentyClusterTrigger(_XplentyStatusTrigger):
    """Wait for an Xplenty cluster to reach a status (by default: ready to run jobs).

    :param cluster_id: the cluster to watch.
    :param xplenty_conn_id: the Airflow connection.
    :param poll_interval: seconds between two status checks.
    :param target_statuses: statuses that end the wait with ``success`` (default ``available``, ``idle``).
    :param failed_statuses: statuses that end it with ``failed`` (default ``error`` and the terminating ones).
    :param end_time: wall-clock deadline (``time.time()``) of the operator's ``timeout``.
    :param execution_deadline: wall-clock deadline of the task's ``execution_timeout``.
    :param history: status transitions seen before deferring (``[{"status", "at"}]``).
    :param terminate_on_kill: terminate the cluster when a user kills the deferred task (3.3 ``on_kill``).
    :param hook_params: keyword arguments for ``XplentyAsyncHook``.
    :param transient_error_timeout: seconds of consecutive transient API errors tolerated.
    :param first_poll_at: wall-clock time (``time.time()``) of the first poll; the operators set it
        one ``poll_interval`` after the status check they made before deferring. Default: at once.
    :param try_number: the try of the task that deferred, echoed in the event (a retry resumed with an
        earlier try's event starts afresh; see ``_compat.event_try_number``).
    """

    kind = "cluster"
    id_kwarg = "cluster_id"

    def __init__(
        self,
        cluster_id: int,
        xplenty_conn_id: str = "xplenty_default",
        poll_interval: float = 30.0,
        target_statuses: list[str] | tuple[str, ...] = _CLUSTER_TARGETS,
        failed_statuses: list[str] | tuple[str, ...] = _CLUSTER_FAILED,
        end_time: float | None = None,
        execution_deadline: float | None = None,
        history: list[dict[str, Any]] | None = None,
        terminate_on_kill: bool = False,
        hook_params: dict[str, Any] | None = None,
        transient_error_timeout: float = 600.0,
        first_poll_at: float | None = None,
        try_number: int | None = None,
    ) -> None:
        super().__init__(
            resource_id=cluster_id,
            xplenty_conn_id=xplenty_conn_id,
            poll_interval=poll_interval,
            target_statuses=target_statuses,
            failed_statuses=failed_statuses,
            end_time=end_time,
            execution_deadline=execution_deadline,
            history=history,
            hook_params=hook_params,
            transient_error_timeout=transient_error_timeout,
            first_poll_at=first_poll_at,
            try_number=try_number,
        )
        self.cluster_id = self.resource_id
        self.terminate_on_kill = bool(terminate_on_kill)

    def _extra_kwargs(self) -> dict[str, Any]:
        return {"terminate_on_kill": self.terminate_on_kill}

    async def on_kill(self) -> None:
        """Terminate the cluster when a user kills the deferred task, if asked to."""
        if self.terminate_on_kill:
            self.log.warning("Terminating Xplenty cluster %s (task killed while deferred)", self.cluster_id)
            status = await self.source.terminate_cluster(self.cluster_id)
            self.log.info("Xplenty cluster %s is now %s", self.cluster_id, status)
