"""Shared watching: one poll loop per connection serves every trigger watching clusters or jobs.

On by default (``[xplenty] shared_watcher``, read in :mod:`.seam`). Each poll lists the recently
updated jobs and/or clusters (``sort=updated``, ``since=``), so the API credits spent per interval do
not grow with the number of waiting tasks.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from airflow_provider_xplenty._waiting.events import ResourceKind, StatusSnapshot
from airflow_provider_xplenty._waiting.sources import PollingStatusSource
from airflow_provider_xplenty._waiting.transient import TransientErrors, is_transient


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
        self._starting = 0  # watchers still reading their first snapshot (not subscribed yet)

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
        self._starting += 1
        try:
            first = await self._first_snapshot(kind, resource_id, poll_interval, transient_error_timeout)
        except BaseException:
            self._starting -= 1
            await self._release_if_idle()  # registered by for_connection, but nobody is watching
            raise
        self._starting -= 1
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
        await self._release_if_idle()

    async def _release_if_idle(self) -> None:
        """Leave the registry and close the HTTP client once nobody watches through this poller."""
        if not self._subs and not self._starting:
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
    """The :class:`~.sources.StatusSource` handle a trigger gets when shared watching is on.

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
