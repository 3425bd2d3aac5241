"""The one place where triggers read the status of clusters and jobs (the polling seam).

Triggers never call the API themselves: they ask :func:`get_status_source` for a
:class:`StatusSource` and iterate over the :class:`StatusSnapshot` objects it yields. Today the
source is :class:`PollingStatusSource`, which issues one ``GET`` per resource per poll interval.
A shared per-connection poller (one ``list ... sort=updated since=...`` loop serving every trigger
on the same connection in a triggerer process, see DESIGN.md "Shared watching") only has to
implement :class:`StatusSource` and be returned by :func:`get_status_source`; triggers and
operators do not change.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from airflow_provider_xplenty.exceptions import XplentyApiError

ResourceKind = Literal["job", "cluster"]

#: HTTP statuses after which polling simply tries again later.
TRANSIENT_STATUS_CODES = frozenset({408, 409, 429, 500, 502, 503, 504})


def is_transient(error: BaseException) -> bool:
    """Return whether an error met while polling is worth polling again (network, 429, 5xx)."""
    if isinstance(error, XplentyApiError):
        return error.status_code is None or error.status_code in TRANSIENT_STATUS_CODES
    return isinstance(error, (OSError, asyncio.TimeoutError))


@dataclass(frozen=True)
class StatusSnapshot:
    """What a status source saw of one cluster or job at one moment."""

    kind: ResourceKind
    resource_id: int
    status: str
    observed_at: float
    progress: float | None = None
    html_url: str | None = None
    errors: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


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

    def _warn(self, msg: str, *args: Any) -> None:
        if self._log is not None:
            self._log.warning(msg, *args)

    async def _fetch(self, kind: ResourceKind, resource_id: int) -> StatusSnapshot:
        if kind == "job":
            job = await self.hook.get_job(resource_id)
            return StatusSnapshot(
                kind="job",
                resource_id=resource_id,
                status=job.status,
                observed_at=time.time(),
                progress=job.progress,
                html_url=job.html_url,
                errors=job.errors or None,
                raw=job.to_dict(),
            )
        cluster = await self.hook.get_cluster(resource_id)
        return StatusSnapshot(
            kind="cluster",
            resource_id=resource_id,
            status=cluster.status,
            observed_at=time.time(),
            html_url=cluster.html_url,
            raw=cluster.to_dict(),
        )

    async def watch(self, kind: ResourceKind, resource_id: int) -> AsyncIterator[StatusSnapshot]:
        """Yield a snapshot per poll interval until the consumer stops iterating."""
        failing_since: float | None = None
        while True:
            try:
                snapshot = await self._fetch(kind, resource_id)
            except Exception as error:
                if not is_transient(error):
                    raise
                now = time.monotonic()
                failing_since = now if failing_since is None else failing_since
                if now - failing_since >= self.transient_error_timeout:
                    raise
                self._warn(
                    "Transient error while polling %s %s (will poll again in %ss): %s",
                    kind,
                    resource_id,
                    self.poll_interval,
                    error,
                )
            else:
                failing_since = None
                yield snapshot
            await asyncio.sleep(self.poll_interval)

    async def close(self) -> None:
        """Release the HTTP client, if one was opened."""
        if self._hook is not None:
            await self._hook.close()
            self._hook = None

    async def stop_job(self, job_id: int) -> str | None:
        """Stop a job (``DELETE jobs/{id}``); an already ended job is left as it is."""
        try:
            job = await self.hook.stop_job(job_id)
            return str(job.status)
        except XplentyApiError as error:
            if error.status_code in (404, 422):
                job = await self.hook.get_job(job_id)
                return str(job.status)
            raise

    async def terminate_cluster(self, cluster_id: int) -> str | None:
        """Terminate a cluster; one still provisioning is set to terminate as soon as it is idle."""
        try:
            cluster = await self.hook.terminate_cluster(cluster_id)
            return str(cluster.status)
        except XplentyApiError as error:
            if error.status_code not in (404, 422):
                raise
            if error.status_code == 404:
                return None
            cluster = await self.hook.get_cluster(cluster_id)
            if cluster.status in ("pending", "creating"):
                cluster = await self.hook.update_cluster(
                    cluster_id, terminate_on_idle=True, time_to_idle=IDLE_TERMINATION_SECONDS
                )
            return str(cluster.status)


#: ``time_to_idle`` set on a cluster that must go away but is still provisioning (cannot be deleted yet).
IDLE_TERMINATION_SECONDS = 60


def get_status_source(
    xplenty_conn_id: str,
    *,
    poll_interval: float,
    hook_params: dict[str, Any] | None = None,
    transient_error_timeout: float = 600.0,
    log: Any = None,
) -> StatusSource:
    """Return the status source triggers use for this connection (the seam for a shared poller)."""
    return PollingStatusSource(
        xplenty_conn_id,
        poll_interval=poll_interval,
        hook_params=hook_params,
        transient_error_timeout=transient_error_timeout,
        log=log,
    )


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
        """Read the resource once and return its snapshot."""
        if kind == "job":
            job = self.hook.get_job(resource_id)
            return StatusSnapshot(
                kind="job",
                resource_id=resource_id,
                status=job.status,
                observed_at=time.time(),
                progress=job.progress,
                html_url=job.html_url,
                errors=job.errors or None,
                raw=job.to_dict(),
            )
        cluster = self.hook.get_cluster(resource_id)
        return StatusSnapshot(
            kind="cluster",
            resource_id=resource_id,
            status=cluster.status,
            observed_at=time.time(),
            html_url=cluster.html_url,
            raw=cluster.to_dict(),
        )

    def watch(self, kind: ResourceKind, resource_id: int) -> Iterator[StatusSnapshot]:
        """Yield a snapshot per poll interval until the consumer stops iterating."""
        failing_since: float | None = None
        while True:
            try:
                snapshot = self.fetch(kind, resource_id)
            except Exception as error:
                if not is_transient(error):
                    raise
                now = time.monotonic()
                failing_since = now if failing_since is None else failing_since
                if now - failing_since >= self.transient_error_timeout:
                    raise
                if self._log is not None:
                    self._log.warning(
                        "Transient error while polling %s %s (will poll again in %ss): %s",
                        kind,
                        resource_id,
                        self.poll_interval,
                        error,
                    )
            else:
                failing_since = None
                yield snapshot
            time.sleep(self.poll_interval)
