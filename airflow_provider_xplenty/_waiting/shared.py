"""Shared watching: one poll loop per account serves every trigger watching clusters or jobs.

On by default (``[xplenty] shared_watcher``, read in :mod:`.seam`). Each poll lists the recently
updated jobs and/or clusters (``sort=updated``, ``since=``), so the API credits spent per interval do
not grow with the number of waiting tasks, at start-up included (docs/scale.md).
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

from airflow_provider_xplenty._waiting.events import ResourceKind, StatusSnapshot
from airflow_provider_xplenty._waiting.heap import freeze_startup_heap
from airflow_provider_xplenty._waiting.sources import PollingStatusSource
from airflow_provider_xplenty._waiting.transient import is_transient
from airflow_provider_xplenty.hooks._http.budget import polling

_KINDS: tuple[ResourceKind, ...] = ("job", "cluster")


class _Subscriber:
    """One watcher: its settings and the snapshots (or an error) not handed to it yet.

    A deque and a future while it waits, not an ``asyncio.Queue`` (six containers with its deques and
    event): a triggerer holds one per waiting task, and every full garbage collection walks them.
    """

    __slots__ = ("_items", "_waiter", "poll_interval", "started", "transient_error_timeout")

    def __init__(self, poll_interval: float, transient_error_timeout: float) -> None:
        self.poll_interval = poll_interval
        self.transient_error_timeout = transient_error_timeout
        self.started = time.monotonic()
        self._items: deque[StatusSnapshot | BaseException] = deque()
        self._waiter: asyncio.Future[None] | None = None

    def put(self, item: StatusSnapshot | BaseException) -> None:
        """Hand over a snapshot or an error; wake the watcher if it waits."""
        self._items.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def get(self) -> StatusSnapshot | BaseException:
        """The next snapshot or error, waiting for one."""
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.popleft()


def _same_state(a: StatusSnapshot, b: StatusSnapshot) -> bool:
    """Whether two snapshots of a resource show the same thing (only the time they were taken differs)."""
    return (a.status, a.progress, a.errors, a.html_url) == (b.status, b.progress, b.errors, b.html_url)


def merge_hook_params(current: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Return the most patient of two sets of hook parameters: the larger of each number, else the first."""
    merged = dict(current)
    for name, value in new.items():
        old = merged.get(name)
        if old is None or (isinstance(value, (int, float)) and isinstance(old, (int, float)) and value > old):
            merged[name] = value
    return merged


class SharedStatusPoller:
    """One poll loop per account (and event loop) for every trigger watching clusters or jobs.

    One poller per connection receives the watchers; the first one of an account lists it, and the
    pollers of other connections to the same account (base URL and account id) hand their watchers
    to it.

    Each poll lists the recently updated jobs and/or clusters (``sort=updated``, ``since=`` the later
    of the newest ``updated_at`` seen and the API's clock at the previous list, minus a margin; the
    clock comes from the free ``rate_limit_status`` call) and hands each watcher the snapshot of its
    resource. A new watcher's first snapshot comes from the list too: while some watcher waits for
    its first one, the list reads back ``FIRST_LOOKBACK`` further (and stops paging once every new
    resource is found); one not found there gets a direct ``GET``, at most ``MAX_FIRST_GETS_PER_POLL``
    per poll. A resource
    absent from the lists for ``REFRESH_EVERY`` polls gets a direct ``GET`` too (a safety net, at most
    ``MAX_REFRESH_PER_POLL`` per poll, round robin). So the credits per poll are bounded whatever the
    number of watchers.

    The list runs every *median* ``poll_interval`` of the current watchers (so one impatient watcher
    cannot make it run more often for all of them), at least ``MIN_LIST_INTERVAL`` apart; when new
    resources arrive it runs once they stop arriving for ``START_DELAY`` (one list for the triggers a
    triggerer starts together), at most one interval (or ``START_GAP``, if longer) after the first of
    them, and not sooner than ``START_GAP`` (or the interval, if shorter) after the previous list.
    """

    REFRESH_EVERY = 10
    MAX_REFRESH_PER_POLL = 2
    MAX_FIRST_GETS_PER_POLL = 5
    SINCE_MARGIN = timedelta(seconds=2)
    CLOCK_MARGIN = timedelta(seconds=5)  # the Date header's 1 s resolution and the skew's 2 s rounding
    FIRST_LOOKBACK = timedelta(minutes=15)
    MIN_LIST_INTERVAL = 0.05
    START_DELAY = 0.1
    START_GAP = 1.0
    YIELD_EVERY = 20  # list items handled between two yields to the event loop
    _registry: ClassVar[dict[tuple[int, str], SharedStatusPoller]] = {}
    #: (event loop, base URL, account id) -> the poller that lists that account for every connection to it
    _by_account: ClassVar[dict[tuple[int, str, str], SharedStatusPoller]] = {}

    def __init__(self, xplenty_conn_id: str, hook_params: dict[str, Any], log: Any, key: tuple[int, str]):
        self.direct = PollingStatusSource(
            xplenty_conn_id, poll_interval=1.0, hook_params=hook_params, log=log
        )
        self._log = log
        self._key = key
        self._subs: dict[tuple[ResourceKind, int], list[_Subscriber]] = {}
        self._latest: dict[tuple[ResourceKind, int], StatusSnapshot] = {}
        self._pending: dict[tuple[ResourceKind, int], float] = {}  # no snapshot yet -> since when
        self._not_listed: set[tuple[ResourceKind, int]] = set()  # pending and absent from a full list
        self._since: dict[ResourceKind, datetime] = {}
        self._last_seen: dict[tuple[ResourceKind, int], float] = {}
        self._failing_since: dict[ResourceKind, float] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._last_poll: float | None = None  # when the previous list started (None: none yet)
        self._last_arrival = 0.0  # when the newest watcher without a snapshot arrived
        self._account: asyncio.Task[SharedStatusPoller] | None = None  # resolves the account's poller

    @classmethod
    def for_connection(
        cls, xplenty_conn_id: str, hook_params: dict[str, Any], log: Any
    ) -> SharedStatusPoller:
        """Return the poller of this connection in the running event loop (created on first use).

        One poller per connection whatever the watchers' ``hook_params``: it uses the most patient
        of them (:func:`merge_hook_params`) as long as its HTTP client is not open yet.
        """
        key = (id(asyncio.get_running_loop()), xplenty_conn_id)
        poller = cls._registry.get(key)
        if poller is None:
            freeze_startup_heap()  # once per process: full collections skip the imports (heap.py)
            poller = cls._registry[key] = cls(xplenty_conn_id, dict(hook_params), log, key)
        elif poller.direct._hook is None:
            poller.direct.hook_params = merge_hook_params(poller.direct.hook_params, hook_params)
        return poller

    @property
    def watched(self) -> list[tuple[ResourceKind, int]]:
        """The resources somebody is watching."""
        return list(self._subs)

    async def watch(
        self, kind: ResourceKind, resource_id: int, *, poll_interval: float, transient_error_timeout: float
    ) -> AsyncIterator[StatusSnapshot]:
        """Yield the resource's snapshot from the shared loop's next list, then every change it sees.

        ``poll_interval`` and ``transient_error_timeout`` are this watcher's own: the list runs at the
        median interval of the watchers, and an error reaches this watcher once transient errors have
        lasted its ``transient_error_timeout``.
        """
        lister = await self._account_poller()
        if lister is not self:  # another connection to the same account already lists it
            try:
                async for snapshot in lister.watch(
                    kind,
                    resource_id,
                    poll_interval=poll_interval,
                    transient_error_timeout=transient_error_timeout,
                ):
                    yield snapshot
            finally:
                await self._release_if_idle()
            return
        key = (kind, resource_id)
        sub = _Subscriber(poll_interval, transient_error_timeout)
        self._subs.setdefault(key, []).append(sub)
        latest = self._latest.get(key)
        if latest is not None:
            sub.put(latest)
        else:
            self._last_arrival = time.monotonic()
            self._pending.setdefault(key, self._last_arrival)
            self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        try:
            while True:
                item = await sub.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            await self._unsubscribe(key, sub)

    async def _account_poller(self) -> SharedStatusPoller:
        """The poller that lists this connection's account in this event loop: this one, or the poller
        of the first connection to the same account (base URL and account id).

        Jobs and clusters belong to the account, whichever key reads them: two connections to one
        account share one list per poll (the first one's settings), as they share its credit budget.
        Resolving it reads the connection once (no API call).
        """
        if self._account is None:
            self._account = asyncio.get_running_loop().create_task(self._claim_account())
        try:
            lister = await asyncio.shield(self._account)
        except BaseException:
            self._account = None  # the connection could not be read: the next watcher tries again
            raise
        if lister is not self and self._registry.get(lister._key) is not lister:  # it was released
            self._account = None
            return await self._account_poller()
        return lister

    async def _claim_account(self) -> SharedStatusPoller:
        hook = self.direct._hook
        if hook is None:  # a config-only hook: the poller's own is built at its first request
            from airflow_provider_xplenty.hooks.xplenty import XplentyAsyncHook

            hook = XplentyAsyncHook(self.direct.xplenty_conn_id, **self.direct.hook_params)
        cfg = await hook.get_config()
        key = (self._key[0], str(cfg.base_url), str(cfg.account_id))
        lister = self._by_account.get(key)
        if lister is None or self._registry.get(lister._key) is not lister:
            lister = self._by_account[key] = self
        return lister

    async def _unsubscribe(self, key: tuple[ResourceKind, int], sub: _Subscriber) -> None:
        subs = self._subs.get(key, [])
        if sub in subs:
            subs.remove(sub)
        if not subs:
            self._subs.pop(key, None)
            self._latest.pop(key, None)
            self._pending.pop(key, None)
            self._last_seen.pop(key, None)
            self._not_listed.discard(key)
        await self._release_if_idle()

    async def _release_if_idle(self) -> None:
        """Leave the registry and close the HTTP client once nobody watches through this poller."""
        if not self._subs:
            if self._registry.get(self._key) is self:
                self._registry.pop(self._key, None)
            for account, lister in list(self._by_account.items()):
                if lister is self:
                    self._by_account.pop(account, None)
            self._account = None
            task, self._task = self._task, None
            if task is not None and task is not asyncio.current_task():
                task.cancel()
            await self.direct.close()

    def _publish(self, snapshot: StatusSnapshot) -> None:
        """Hand a snapshot to the resource's watchers, unless they already have one just like it."""
        key = (snapshot.kind, snapshot.resource_id)
        self._last_seen[key] = time.monotonic()
        self._pending.pop(key, None)
        self._not_listed.discard(key)
        previous = self._latest.get(key)
        if previous is not None and _same_state(previous, snapshot):
            return  # read again (the list's margin, a safety-net GET): no watcher wakes up for it
        self._latest[key] = snapshot
        for sub in self._subs.get(key, []):
            sub.put(snapshot)

    def _error_to(self, subs: list[_Subscriber], error: BaseException, since: float, transient: bool) -> None:
        now = time.monotonic()
        for sub in subs:
            if not transient or now - max(since, sub.started) >= sub.transient_error_timeout:
                sub.put(error)

    def _fail(self, kind: ResourceKind, error: BaseException, *, transient: bool) -> None:
        started = self._failing_since.setdefault(kind, time.monotonic())
        for (k, _rid), subs in list(self._subs.items()):
            if k == kind:
                self._error_to(subs, error, started, transient)

    def list_interval(self) -> float:
        """Seconds between two list calls: the median of the watchers' intervals, floored."""
        intervals = [sub.poll_interval for subs in self._subs.values() for sub in subs]
        return max(self.MIN_LIST_INTERVAL, statistics.median_low(intervals) if intervals else 1.0)

    async def _list_updates(self, kind: ResourceKind) -> None:
        """List what changed since the cursor, reading back further while new watchers wait."""
        with polling():  # for the account's credit budget: creates and stops go first
            await self._list_pages(kind)

    async def _server_now(self) -> datetime | None:
        """The API's clock now (the free ``rate_limit_status`` call's ``Date``), or None if unknown."""
        measure = getattr(self.direct.hook, "get_server_clock_skew", None)
        if measure is None:
            return None
        started = datetime.now(timezone.utc)
        return started + await measure()

    async def _list_pages(self, kind: ResourceKind) -> None:
        hook = self.direct.hook
        server_now = await self._server_now()
        cursor = self._since.get(kind)
        pending = {rid for (k, rid) in self._pending.keys() - self._not_listed if k == kind}
        lister = hook.list_jobs if kind == "job" else hook.list_clusters
        since = cursor - self.FIRST_LOOKBACK if pending and cursor is not None else cursor
        newest: datetime | None = cursor + self.SINCE_MARGIN if cursor is not None else None
        floor: datetime | None = since
        count = 0
        async for item in lister(sort="updated", direction="desc", since=since):
            updated = item.updated_at
            if updated is not None:
                if newest is None or updated > newest:
                    newest = updated
                if floor is None:
                    floor = updated - self.FIRST_LOOKBACK
                if not pending and (cursor is None or updated < cursor):
                    break  # everything newer than the cursor is read and no new watcher is left
                if updated < floor:
                    break
            if (kind, item.id) in self._subs:
                self._publish(self.direct.snapshot(kind, item))
            pending.discard(item.id)
            count += 1
            if count % self.YIELD_EVERY == 0:
                await asyncio.sleep(0)  # let the triggers just woken run: the loop never stalls long
        self._not_listed.update((kind, rid) for rid in pending if (kind, rid) in self._pending)
        if newest is not None:
            self._since[kind] = newest - self.SINCE_MARGIN
        if server_now is not None and kind in self._since:
            # Whatever changes after this list has a later updated_at: a burst of changes made in
            # one second is not re-read every poll until something newer comes.
            self._since[kind] = max(self._since[kind], server_now - self.CLOCK_MARGIN)

    async def _run(self) -> None:
        try:
            await self._poll_forever()
        except Exception as error:  # a bug must not leave watchers waiting forever
            for subs in self._subs.values():
                for sub in subs:
                    sub.put(error)

    async def _next_poll(self) -> None:
        """Sleep until the next list: one interval after the last, or once new watchers stop arriving."""
        interval = self.list_interval()
        last = self._last_poll
        while True:
            now = time.monotonic()
            due = math.inf if last is None else last + interval
            new = self._pending.keys() - self._not_listed
            if new:
                # a triggerer creates its triggers one per loop turn: one list for the whole batch,
                # START_DELAY after the last arrival but at most an interval after the first one (as
                # a deferring operator's first_poll_at: it read the status just before)
                first = min(self._pending[key] for key in new)
                settled = min(self._last_arrival + self.START_DELAY, first + max(interval, self.START_GAP))
                due = min(
                    due, settled if last is None else max(settled, last + min(interval, self.START_GAP))
                )
            if now >= due:
                return
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=None if due == math.inf else due - now)
            except asyncio.TimeoutError:
                return

    async def _poll_forever(self) -> None:
        while self._subs:
            await self._next_poll()
            self._last_poll = time.monotonic()
            interval = self.list_interval()
            for kind in _KINDS:
                if not any(k == kind for (k, _rid) in self._subs):
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
                await self._direct_gets(kind, time.monotonic() - self.REFRESH_EVERY * interval)

    async def _direct_gets(self, kind: ResourceKind, stale_before: float) -> None:
        """GET a bounded number of resources the lists did not give: new ones first, then stale ones.

        New resources absent from a list that read ``FIRST_LOOKBACK`` back: at most
        ``MAX_FIRST_GETS_PER_POLL``, oldest first. Resources unseen since ``stale_before`` (a resource
        absent from a complete ``since`` list has not changed, so this is only a net): at most
        ``MAX_REFRESH_PER_POLL``, round robin. Only resources still watched now count: a watcher that
        fired while the list was paging is gone and is not fetched again.
        """
        first = sorted((key for key in self._not_listed if key[0] == kind), key=self._pending.__getitem__)
        watched = [key for key in self._subs if key[0] == kind and key in self._latest]
        stale = sorted(
            (key for key in watched if self._last_seen.get(key, 0.0) < stale_before),
            key=lambda key: self._last_seen.get(key, 0.0),
        )
        batch = first[: self.MAX_FIRST_GETS_PER_POLL] + stale[: self.MAX_REFRESH_PER_POLL]
        results = await asyncio.gather(
            *(self.direct.fetch(k, rid) for k, rid in batch), return_exceptions=True
        )
        for key, result in zip(batch, results, strict=True):
            if key not in self._subs:  # stopped watching meanwhile
                continue
            if isinstance(result, StatusSnapshot):
                self._publish(result)
                continue
            self._last_seen[key] = time.monotonic()  # round robin: the others go first
            transient = is_transient(result)
            if transient and self._log is not None:
                self._log.warning("Transient error while polling %s %s (shared poll): %s", *key, result)
            since = self._pending.get(key, time.monotonic())
            self._error_to(self._subs[key], result, since, transient)


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
