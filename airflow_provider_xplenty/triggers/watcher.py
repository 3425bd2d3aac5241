"""The one place where triggers read the status of clusters and jobs (the polling seam).

Triggers never call the API themselves: they ask :func:`get_status_source` for a
:class:`StatusSource` and iterate over the :class:`StatusSnapshot` objects it yields.

* :class:`SharedStatusSource` / :class:`SharedStatusPoller` (default, ``[xplenty] shared_watcher``):
  one poll loop per connection in a triggerer process lists the recently updated jobs/clusters
  (``sort=updated``, ``since=``) and serves every waiting trigger (DESIGN.md "Shared watching").
* :class:`PollingStatusSource` (``shared_watcher = False``): one ``GET`` per resource per poll interval.

Operators and sensors that wait in a worker use the blocking twin, :class:`SyncPollingStatusSource`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal, Protocol

from airflow_provider_xplenty.exceptions import XplentyApiError
from airflow_provider_xplenty.models import ClusterStatus, JobStatus

ResourceKind = Literal["job", "cluster"]

#: HTTP statuses after which polling simply tries again later.
TRANSIENT_STATUS_CODES = frozenset({408, 409, 429, 500, 502, 503, 504})


def is_transient(error: BaseException) -> bool:
    """Return whether an error met while polling is worth polling again (network, 429, 5xx)."""
    if isinstance(error, XplentyApiError):
        return error.status_code is None or error.status_code in TRANSIENT_STATUS_CODES
    return isinstance(error, (OSError, asyncio.TimeoutError))


class TransientErrors:
    """Tolerate transient errors (network, 429, 5xx) while polling, for ``timeout`` seconds in a row."""

    def __init__(self, timeout: float, log: Any = None, retry_in: float = 0.0) -> None:
        self.timeout = timeout
        self.log = log
        self.retry_in = retry_in
        self.since: float | None = None

    def check(self, error: Exception, kind: str, resource_id: int) -> None:
        """Re-raise ``error`` unless it is transient and the errors have not lasted ``timeout`` yet."""
        if not is_transient(error):
            raise error
        now = time.monotonic()
        self.since = now if self.since is None else self.since
        if now - self.since >= self.timeout:
            raise error
        if self.log is not None:
            self.log.warning(
                "Transient error while polling %s %s (will poll again in %ss): %s",
                kind,
                resource_id,
                self.retry_in,
                error,
            )

    def reset(self) -> None:
        """A call succeeded: the next error starts a new run."""
        self.since = None


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
            raw=obj.to_dict(),
        )
    return StatusSnapshot(
        kind="cluster",
        resource_id=obj.id,
        status=obj.status,
        observed_at=time.time(),
        html_url=obj.html_url,
        raw=obj.to_dict(),
    )


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
        """Read one resource with a direct ``GET``."""
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
        """Stop a job (``DELETE jobs/{id}``); an already ended job is left as it is."""
        try:
            job = await self.hook.stop_job(job_id)
            return str(job.status)
        except XplentyApiError as error:
            if error.status_code not in STOP_REFUSED:
                raise
            refused = error
        try:
            status = str((await self.hook.get_job(job_id)).status)
        except XplentyApiError as error:
            if error.status_code == 404:
                return None
            raise
        if status not in JobStatus.stop_settled_states():
            raise refused
        return status

    async def terminate_cluster(self, cluster_id: int) -> str | None:
        """Terminate a cluster; one still provisioning is set to terminate as soon as it is idle.

        Runs :func:`terminate_or_expire` (the one copy of these rules) with a sync hook in a thread,
        as Airflow recommends for sync calls in a trigger; it is called once, on a kill.
        """
        from asgiref.sync import sync_to_async

        from airflow_provider_xplenty.hooks.xplenty import XplentyHook

        def terminate() -> str | None:
            with XplentyHook(self.xplenty_conn_id, **self.hook_params) as hook:
                return terminate_or_expire(hook, cluster_id, self._log)

        return await sync_to_async(terminate)()


#: ``time_to_idle`` set on a cluster that must go away but is still provisioning (cannot be deleted yet).
IDLE_TERMINATION_SECONDS = 60
#: What makes such a cluster terminate itself a minute after it becomes idle.
EXPIRE_FIELDS: dict[str, Any] = {"terminate_on_idle": True, "time_to_idle": IDLE_TERMINATION_SECONDS}

#: HTTP statuses with which ``DELETE jobs/{id}`` is refused because the job is gone (404) or has
#: ended / is already being stopped (422): read the job to know which.
STOP_REFUSED = frozenset({404, 422})


def stop_or_confirm(hook: Any, job_id: int) -> str | None:
    """Stop a job (sync hook); return its status afterwards, ``None`` when the API does not know it.

    A refused stop (404/422) is fine when the job is gone, ended or already being stopped; any other
    refusal (and any other error) is raised. Used by the run-job operator and the stop-job operator;
    :meth:`PollingStatusSource.stop_job` applies the same rule with the async hook.
    """
    try:
        return str(hook.stop_job(job_id).status)
    except XplentyApiError as error:
        if error.status_code not in STOP_REFUSED:
            raise
        refused = error
    try:
        status = str(hook.get_job(job_id).status)
    except XplentyApiError as error:
        if error.status_code == 404:
            return None
        raise
    if status not in JobStatus.stop_settled_states():
        raise refused
    return status


def terminate_or_expire(hook: Any, cluster_id: int, log: Any = None) -> str | None:
    """Terminate a cluster now, or (still provisioning or scaling) make it terminate itself once idle.

    Returns the cluster's status afterwards, ``None`` when the API does not know it. Used by the
    create-cluster operator's clean-up and (in a thread) by the cluster trigger's ``on_kill``.

    :param hook: an ``XplentyHook``.
    """
    try:
        cluster = hook.terminate_cluster(cluster_id)
        if log is not None:
            log.info("Terminating Xplenty cluster %s: %s", cluster_id, cluster.status)
        return str(cluster.status)
    except XplentyApiError as error:
        if error.status_code == 404:
            return None
        if error.status_code != 422:
            raise
    cluster = hook.get_cluster(cluster_id)
    if cluster.status in ClusterStatus.not_yet_terminable_states():
        cluster = hook.update_cluster(cluster_id, **EXPIRE_FIELDS)
        if log is not None:
            log.warning(
                "Xplenty cluster %s is still %s and cannot be terminated yet; it is now set to terminate "
                "itself after %ss idle",
                cluster_id,
                cluster.status,
                IDLE_TERMINATION_SECONDS,
            )
    return str(cluster.status)


def _updated_at(snapshot: StatusSnapshot) -> datetime | None:
    value = snapshot.raw.get("updated_at")
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass
class _Subscriber:
    queue: asyncio.Queue[StatusSnapshot | BaseException]
    poll_interval: float
    transient_error_timeout: float


class SharedStatusPoller:
    """One poll loop per connection (and event loop) for every trigger watching clusters or jobs.

    Each poll lists the recently updated jobs and/or clusters (``sort=updated``, ``since=`` the
    newest ``updated_at`` seen minus a margin) and hands each watcher the snapshot of its resource,
    so the API credits spent per interval do not grow with the number of waiting tasks. A watcher
    gets one direct ``GET`` when it starts, and another when its resource did not show up in the
    lists for ``REFRESH_EVERY`` polls (a safety net, at most ``MAX_REFRESH_PER_POLL`` GETs per poll,
    round robin and concurrent).
    """

    REFRESH_EVERY = 10
    MAX_REFRESH_PER_POLL = 2
    SINCE_MARGIN = timedelta(seconds=2)
    _registry: ClassVar[dict[tuple[int, str, str], SharedStatusPoller]] = {}

    def __init__(
        self, xplenty_conn_id: str, hook_params: dict[str, Any], log: Any, key: tuple[int, str, str]
    ):
        self.direct = PollingStatusSource(
            xplenty_conn_id, poll_interval=1.0, hook_params=hook_params, log=log
        )
        self._log = log
        self._key = key
        self._subs: dict[tuple[ResourceKind, int], list[_Subscriber]] = {}
        self._since: dict[ResourceKind, datetime] = {}
        self._last_seen: dict[tuple[ResourceKind, int], float] = {}
        self._failing_since: dict[ResourceKind, float] = {}
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def for_connection(
        cls, xplenty_conn_id: str, hook_params: dict[str, Any], log: Any
    ) -> SharedStatusPoller:
        """Return the poller of this connection in the running event loop (created on first use)."""
        key = (id(asyncio.get_running_loop()), xplenty_conn_id, json.dumps(hook_params, sort_keys=True))
        poller = cls._registry.get(key)
        if poller is None:
            poller = cls._registry[key] = cls(xplenty_conn_id, hook_params, log, key)
        return poller

    @property
    def watched(self) -> list[tuple[ResourceKind, int]]:
        """The resources somebody is watching."""
        return list(self._subs)

    async def watch(
        self, kind: ResourceKind, resource_id: int, *, poll_interval: float, transient_error_timeout: float
    ) -> AsyncIterator[StatusSnapshot]:
        """Yield a snapshot now (direct GET), then whatever the shared loop sees of this resource.

        ``poll_interval`` and ``transient_error_timeout`` are this watcher's own: the first GET retries
        with them, and the shared loop polls at the smallest interval of the current watchers.
        """
        first = await self._first_snapshot(kind, resource_id, poll_interval, transient_error_timeout)
        sub = _Subscriber(asyncio.Queue(), poll_interval, transient_error_timeout)
        self._subs.setdefault((kind, resource_id), []).append(sub)
        self._last_seen[(kind, resource_id)] = time.monotonic()
        updated = _updated_at(first)
        if updated is not None and kind not in self._since:
            self._since[kind] = updated - self.SINCE_MARGIN
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        try:
            yield first
            while True:
                item = await sub.queue.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            await self._unsubscribe(kind, resource_id, sub)

    async def _first_snapshot(
        self, kind: ResourceKind, resource_id: int, poll_interval: float, transient_error_timeout: float
    ) -> StatusSnapshot:
        errors = TransientErrors(transient_error_timeout, self._log, poll_interval)
        while True:
            try:
                return await self.direct.fetch(kind, resource_id)
            except Exception as error:
                errors.check(error, kind, resource_id)
            await asyncio.sleep(poll_interval)

    async def _unsubscribe(self, kind: ResourceKind, resource_id: int, sub: _Subscriber) -> None:
        subs = self._subs.get((kind, resource_id), [])
        if sub in subs:
            subs.remove(sub)
        if not subs:
            self._subs.pop((kind, resource_id), None)
            self._last_seen.pop((kind, resource_id), None)
        if not self._subs:
            self._registry.pop(self._key, None)
            task, self._task = self._task, None
            if task is not None and task is not asyncio.current_task():
                task.cancel()
            await self.direct.close()

    def _publish(self, snapshot: StatusSnapshot) -> None:
        key = (snapshot.kind, snapshot.resource_id)
        self._last_seen[key] = time.monotonic()
        for sub in self._subs.get(key, []):
            sub.queue.put_nowait(snapshot)

    def _fail(self, kind: ResourceKind, error: BaseException, *, transient: bool) -> None:
        now = time.monotonic()
        started = self._failing_since.setdefault(kind, now)
        for (k, _rid), subs in list(self._subs.items()):
            for sub in subs if k == kind else []:
                if not transient or now - started >= sub.transient_error_timeout:
                    sub.queue.put_nowait(error)

    async def _list_updates(self, kind: ResourceKind) -> None:
        hook = self.direct.hook
        since = self._since.get(kind)
        lister = hook.list_jobs if kind == "job" else hook.list_clusters
        newest = since + self.SINCE_MARGIN if since is not None else None
        async for item in lister(sort="updated", direction="desc", since=since):
            updated = item.updated_at
            if updated is not None and (newest is None or updated > newest):
                newest = updated
            if (kind, item.id) in self._subs:
                self._publish(self.direct.snapshot(kind, item))
        if newest is not None:
            self._since[kind] = newest - self.SINCE_MARGIN

    async def _run(self) -> None:
        try:
            await self._poll_forever()
        except Exception as error:  # a bug must not leave watchers waiting forever
            for subs in self._subs.values():
                for sub in subs:
                    sub.queue.put_nowait(error)

    async def _poll_forever(self) -> None:
        while self._subs:
            interval = min(sub.poll_interval for subs in self._subs.values() for sub in subs)
            await asyncio.sleep(interval)
            kinds: tuple[ResourceKind, ...] = ("job", "cluster")
            for kind in kinds:
                watched = [rid for (k, rid) in self._subs if k == kind]
                if not watched:
                    continue
                try:
                    await self._list_updates(kind)
                    self._failing_since.pop(kind, None)
                except Exception as error:
                    transient = is_transient(error)
                    if transient and self._log is not None:
                        self._log.warning("Transient error while listing %ss (shared poll): %s", kind, error)
                    self._fail(kind, error, transient=transient)
                    continue
                await self._safety_net(kind, watched, time.monotonic() - self.REFRESH_EVERY * interval)

    async def _safety_net(self, kind: ResourceKind, watched: list[int], stale_before: float) -> None:
        """GET at most ``MAX_REFRESH_PER_POLL`` resources unseen for a while, oldest first, concurrently.

        A resource absent from a complete ``since`` list has not changed, so this is only a net: capped,
        it costs at most that many credits per poll whatever the number of watchers.
        """
        stale = [rid for rid in watched if self._last_seen.get((kind, rid), 0.0) < stale_before]
        stale.sort(key=lambda rid: self._last_seen.get((kind, rid), 0.0))
        batch = stale[: self.MAX_REFRESH_PER_POLL]
        results = await asyncio.gather(
            *(self.direct.fetch(kind, rid) for rid in batch), return_exceptions=True
        )
        for rid, result in zip(batch, results, strict=True):
            if (kind, rid) not in self._subs:  # stopped watching meanwhile
                continue
            if isinstance(result, StatusSnapshot):
                self._publish(result)
                continue
            self._last_seen[(kind, rid)] = time.monotonic()  # round robin: the others go first
            if not is_transient(result):
                for sub in self._subs.get((kind, rid), []):
                    sub.queue.put_nowait(result)


class SharedStatusSource(PollingStatusSource):
    """The :class:`StatusSource` handle a trigger gets when shared watching is on.

    Watching goes through the connection's :class:`SharedStatusPoller`; stopping a job and
    terminating a cluster are this handle's own calls (inherited from :class:`PollingStatusSource`).
    """

    async def watch(self, kind: ResourceKind, resource_id: int) -> AsyncGenerator[StatusSnapshot, None]:
        """Watch through the connection's shared poller."""
        poller = SharedStatusPoller.for_connection(self.xplenty_conn_id, self.hook_params, self._log)
        if self._log is not None:
            self._log.info(
                "Watching Xplenty %s %s through the shared poller of connection %s "
                "(one list call per poll for every task waiting on this connection)",
                kind,
                resource_id,
                self.xplenty_conn_id,
            )
        async for snapshot in poller.watch(
            kind,
            resource_id,
            poll_interval=self.poll_interval,
            transient_error_timeout=self.transient_error_timeout,
        ):
            yield snapshot


def shared_watching_enabled() -> bool:
    """Whether ``[xplenty] shared_watcher`` (env ``AIRFLOW__XPLENTY__SHARED_WATCHER``) is on."""
    try:
        from airflow.sdk.configuration import conf
    except ImportError:  # older task SDKs
        from airflow.configuration import conf  # type: ignore[no-redef]
    return bool(conf.getboolean("xplenty", "shared_watcher", fallback=True))


def get_status_source(
    xplenty_conn_id: str,
    *,
    poll_interval: float,
    hook_params: dict[str, Any] | None = None,
    transient_error_timeout: float = 600.0,
    log: Any = None,
) -> StatusSource:
    """Return the status source triggers use for this connection (the seam for a shared poller).

    By default one list call per connection per interval serves every trigger
    (:class:`SharedStatusPoller`); with ``[xplenty] shared_watcher = False``, one ``GET`` per resource
    per interval.
    """
    cls: type[PollingStatusSource] | type[SharedStatusSource] = (
        SharedStatusSource if shared_watching_enabled() else PollingStatusSource
    )
    return cls(
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
