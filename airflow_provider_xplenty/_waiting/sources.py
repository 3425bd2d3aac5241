"""Status sources: what a wait reads the status of one cluster or job from.

* :class:`StatusSource`: what triggers consume (async); :func:`~.seam.get_status_source` picks one.
* :class:`PollingStatusSource`: one ``GET`` per resource per poll interval, with the async hook.
* :class:`SyncPollingStatusSource`: its blocking twin, for operators and sensors that wait in a worker.

The shared poller (one list call for every watcher of a connection) is in :mod:`.shared`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import Any, Protocol

from airflow_provider_xplenty._waiting.events import ResourceKind, StatusSnapshot, snapshot_of
from airflow_provider_xplenty._waiting.transient import TransientErrors
from airflow_provider_xplenty.hooks._http.budget import polling


class StatusSource(Protocol):
    """Something that yields status snapshots of one resource until the consumer stops iterating."""

    def watch(self, kind: ResourceKind, resource_id: int) -> AsyncIterator[StatusSnapshot]:
        """Yield a snapshot now and then one per poll interval; raise on a non-transient error."""
        ...

    async def stop_job(self, job_id: int) -> str | None:
        """Ask the API to stop a job; return its status afterwards (``None`` if unknown)."""
        ...

    async def terminate_cluster(self, cluster_id: int) -> str | None:
        """Ask the API to terminate a cluster; return its status afterwards (``None`` if unknown)."""
        ...

    async def close(self) -> None:
        """Release connections; the source may be used again afterwards."""
        ...


class PollingStatusSource:
    """Poll ``GET clusters/{id}`` or ``GET jobs/{id}`` with the async hook, one request per interval.

    Transient errors (network, 429, 5xx) are logged and polling goes on; when they last longer than
    ``transient_error_timeout`` seconds in a row the last one is raised.

    :param xplenty_conn_id: the Airflow connection.
    :param poll_interval: seconds between two polls.
    :param hook_params: keyword arguments for ``XplentyAsyncHook`` (JSON primitives).
    :param transient_error_timeout: seconds of consecutive transient errors tolerated.
    """

    def __init__(
        self,
        xplenty_conn_id: str,
        *,
        poll_interval: float,
        hook_params: dict[str, Any] | None = None,
        transient_error_timeout: float = 600.0,
        log: Any = None,
    ) -> None:
        self.xplenty_conn_id = xplenty_conn_id
        self.poll_interval = poll_interval
        self.hook_params = dict(hook_params or {})
        self.transient_error_timeout = transient_error_timeout
        self._log = log
        self._hook: Any = None

    @property
    def hook(self) -> Any:
        """The async hook, built on first use (never at import or construction time)."""
        if self._hook is None:
            from airflow_provider_xplenty.hooks.xplenty import XplentyAsyncHook

            self._hook = XplentyAsyncHook(self.xplenty_conn_id, **self.hook_params)
        return self._hook

    snapshot = staticmethod(snapshot_of)

    async def fetch(self, kind: ResourceKind, resource_id: int) -> StatusSnapshot:
        """Read one resource with a direct ``GET`` (a poll for the account's credit budget)."""
        with polling():
            if kind == "job":
                return self.snapshot(kind, await self.hook.get_job(resource_id))
            return self.snapshot(kind, await self.hook.get_cluster(resource_id))

    async def watch(self, kind: ResourceKind, resource_id: int) -> AsyncGenerator[StatusSnapshot, None]:
        """Yield a snapshot per poll interval until the consumer stops iterating."""
        errors = TransientErrors(self.transient_error_timeout, self._log, self.poll_interval)
        while True:
            try:
                snapshot = await self.fetch(kind, resource_id)
            except Exception as error:
                errors.check(error, kind, resource_id)
            else:
                errors.reset()
                yield snapshot
            await asyncio.sleep(self.poll_interval)

    async def close(self) -> None:
        """Release the HTTP client, if one was opened."""
        if self._hook is not None:
            await self._hook.close()
            self._hook = None

    async def stop_job(self, job_id: int) -> str | None:
        """Stop a job with the hook's ``stop_job_and_confirm``: an already ended job is left as it is."""
        return await self.hook.stop_job_and_confirm(job_id)

    async def terminate_cluster(self, cluster_id: int) -> str | None:
        """Terminate a cluster with the hook's ``terminate_cluster_or_expire``.

        One still provisioning is set to terminate itself as soon as it is idle.
        """
        return await self.hook.terminate_cluster_or_expire(cluster_id)


class SyncPollingStatusSource:
    """The blocking twin of :class:`PollingStatusSource`, for operators and sensors that wait in a worker.

    :param hook: an ``XplentyHook``.
    :param poll_interval: seconds between two polls.
    :param transient_error_timeout: seconds of consecutive transient errors tolerated.
    """

    def __init__(
        self, hook: Any, *, poll_interval: float, transient_error_timeout: float = 600.0, log: Any = None
    ) -> None:
        self.hook = hook
        self.poll_interval = poll_interval
        self.transient_error_timeout = transient_error_timeout
        self._log = log

    def fetch(self, kind: ResourceKind, resource_id: int) -> StatusSnapshot:
        """Read the resource once and return its snapshot (a poll for the account's credit budget)."""
        with polling():
            if kind == "job":
                return snapshot_of(kind, self.hook.get_job(resource_id))
            return snapshot_of(kind, self.hook.get_cluster(resource_id))

    def watch(
        self, kind: ResourceKind, resource_id: int, *, end_time: float | None = None
    ) -> Iterator[StatusSnapshot]:
        """Yield a snapshot per poll interval until the consumer stops iterating or ``end_time`` passes.

        The deadline (a ``time.time()`` value) is checked whether or not the API answers, as the
        triggers do: during transient errors the iteration simply ends when it passes.
        """
        errors = TransientErrors(self.transient_error_timeout, self._log, self.poll_interval)
        while True:
            try:
                snapshot = self.fetch(kind, resource_id)
            except Exception as error:
                errors.check(error, kind, resource_id)
            else:
                errors.reset()
                yield snapshot
            pause = self.poll_interval
            if end_time is not None:
                remaining = end_time - time.time()
                if remaining <= 0:
                    return
                pause = min(pause, remaining)
            time.sleep(pause)
