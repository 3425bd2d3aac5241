"""One budget of API credits per account and process: every request of the hooks goes through it.

The account's hourly credits (``X-RateLimit-Limit``, else ``[xplenty] hourly_credits``) are shared with
whatever else uses the account; Airflow keeps to ``[xplenty] budget_share`` of them. A token bucket
(``share * limit`` credits per hour, at most a quarter of an hour's worth saved up) paces the polls:
requests sent inside :func:`polling`, as the status sources of ``_waiting`` send theirs. Every other
request (creates, stops, their look-ups, a task's own reads) never waits for it and may use the last
``PRIORITY_RESERVE`` of the bucket, so those go first when credits are short. When
``X-RateLimit-Remaining`` falls under ``POLL_FLOOR`` of the limit (the account's other users spend
too), polls go at the bucket's pace whatever is left in it; ``Retry-After`` on a 429 holds polls until
then. At most ``[xplenty] max_concurrent_requests`` requests of an account are in flight per event
loop. When polls must slow down, one warning says so, with the numbers (docs/scale.md).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar

from airflow_provider_xplenty._compat import conf
from airflow_provider_xplenty.hooks._http.config import ClientConfig
from airflow_provider_xplenty.hooks._http.wire import (
    RawResponse,
    TransportFailure,
    rate_limit_remaining,
    retry_after,
)

log = logging.getLogger(__name__)

DEFAULT_HOURLY_CREDITS = 5000
DEFAULT_SHARE = 0.5
DEFAULT_MAX_CONCURRENT = 10

_POLLING: ContextVar[bool] = ContextVar("xplenty_polling", default=False)


@contextmanager
def polling() -> Iterator[None]:
    """Mark the requests sent in this block (and the tasks it starts) as polls: they yield to the others."""
    token = _POLLING.set(True)
    try:
        yield
    finally:
        _POLLING.reset(token)


def _option(name: str, default: float) -> float:
    value = conf.getfloat("xplenty", name, fallback=default)
    if value is None or value <= 0:
        raise ValueError(f"[xplenty] {name} must be a positive number, got {value!r}")
    return float(value)


class AccountBudget:
    """The credit budget of one account in this process (see the module docstring).

    :param hourly_credits: the account's credits per hour (replaced by ``X-RateLimit-Limit`` when seen).
    :param share: the fraction of them Airflow may spend (0 < share <= 1).
    :param max_concurrent: requests in flight at once per event loop.
    """

    BUCKET_SECONDS = 900.0  # the bucket holds at most this many seconds of the hourly share
    PRIORITY_RESERVE = 0.1  # the last 10 % of the bucket is for creates, updates and stops
    RECHECK = 1.0  # seconds: a waiting poll asks again at least this often
    POLL_FLOOR = 0.02  # reads wait while the account has fewer credits left than 2 % of its limit

    def __init__(self, hourly_credits: float, share: float, max_concurrent: int) -> None:
        if not 0 < share <= 1:
            raise ValueError(f"[xplenty] budget_share must be in (0, 1], got {share!r}")
        self.share = share
        self.max_concurrent = max_concurrent
        self._lock = threading.Lock()
        self._set_limit(hourly_credits)
        self.tokens = self.capacity
        self._stamp = time.monotonic()
        self.server_remaining: int | None = None
        self.hold_until = 0.0
        self._next_low = 0.0
        self.slowed_logged = False
        self._semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    def _set_limit(self, hourly_credits: float) -> None:
        self.limit = hourly_credits
        self.rate = self.share * hourly_credits / 3600.0  # credits per second
        self.capacity = max(1.0, self.rate * self.BUCKET_SECONDS)

    def _refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def reserve(self, poll: bool) -> float:
        """Take a credit and return 0 if the request may go now; else how long a poll should wait.

        Others than polls always go (and may run the bucket into debt, which polls then wait out).
        A poll takes nothing until it may go, and asks again after the wait (at most ``RECHECK``
        seconds later: the limit learnt from the next answer may let it go sooner).
        """
        with self._lock:
            now = time.monotonic()
            self._refill(now)
            if not poll:
                self.tokens -= 1
                return 0.0
            floor = self.capacity * self.PRIORITY_RESERVE
            wait = max(0.0, (floor + 1 - self.tokens) / self.rate, self.hold_until - now)
            low = self.server_remaining is not None and self.server_remaining <= self.limit * self.POLL_FLOOR
            if low:
                wait = max(wait, self._next_low - now)
            if wait <= 0:
                self.tokens -= 1
                if low:
                    self._next_low = now + 1.0 / self.rate
                elif self.tokens > self.capacity / 2:
                    self.slowed_logged = False  # recovered: the next slowdown is logged again
                return 0.0
            if not self.slowed_logged:
                self.slowed_logged = True
                log.warning(
                    "Xplenty API budget: polls slow down to %.0f credits/h (budget_share %.2f of %.0f "
                    "credits/h; %.0f of %.0f credits left in Airflow's bucket, %s left on the account, "
                    "Retry-After %.0f s); creates and stops go first",
                    self.rate * 3600,
                    self.share,
                    self.limit,
                    max(self.tokens, 0.0),
                    self.capacity,
                    "?" if self.server_remaining is None else self.server_remaining,
                    max(0.0, self.hold_until - now),
                )
            return wait

    def observe(self, outcome: RawResponse | TransportFailure) -> None:
        """Read ``X-RateLimit-Limit``/``-Remaining`` and ``Retry-After`` from an answer."""
        if not isinstance(outcome, RawResponse):
            return
        with self._lock:
            limit = outcome.headers.get("X-RateLimit-Limit")
            if limit is not None and limit.isdigit() and int(limit) > 0 and int(limit) != self.limit:
                fraction = self.tokens / self.capacity  # the bucket keeps its fill level (not a debt)
                self._set_limit(int(limit))
                self.tokens = fraction * self.capacity if self.tokens > 0 else self.tokens
            remaining = rate_limit_remaining(outcome)
            if remaining is not None and outcome.status < 400:  # a 429 is Retry-After's (and retries')
                if (
                    self.server_remaining is not None
                    and remaining > self.server_remaining + self.max_concurrent
                ):
                    self.tokens = self.capacity  # the account's hour started again
                    self.hold_until = 0.0
                self.server_remaining = remaining
            wait = retry_after(outcome) if outcome.status == 429 else None
            if wait is not None:
                self.hold_until = max(self.hold_until, time.monotonic() + min(wait, 3600.0))

    def semaphore(self) -> asyncio.Semaphore:
        """The bound on requests in flight in the running event loop."""
        loop = asyncio.get_running_loop()
        sem = self._semaphores.get(loop)
        if sem is None:
            sem = self._semaphores[loop] = asyncio.Semaphore(self.max_concurrent)
        return sem

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait for the budget and a free slot, then let one request through."""
        poll = _POLLING.get()
        while (wait := self.reserve(poll)) > 0:
            await asyncio.sleep(min(wait, self.RECHECK))
        async with self.semaphore():
            yield

    def wait_sync(self) -> None:
        """The blocking twin of :meth:`slot` (no concurrency bound: a sync hook sends one at a time)."""
        poll = _POLLING.get()
        while (wait := self.reserve(poll)) > 0:
            time.sleep(min(wait, self.RECHECK))


_budgets: dict[tuple[str, str], AccountBudget] = {}
_budgets_lock = threading.Lock()


def budget_for(cfg: ClientConfig) -> AccountBudget:
    """Return the process's budget of the account ``cfg`` talks to (created on first use)."""
    key = (cfg.base_url, cfg.account_id)
    with _budgets_lock:
        budget = _budgets.get(key)
        if budget is None:
            budget = _budgets[key] = AccountBudget(
                _option("hourly_credits", DEFAULT_HOURLY_CREDITS),
                _option("budget_share", DEFAULT_SHARE),
                int(_option("max_concurrent_requests", DEFAULT_MAX_CONCURRENT)),
            )
        return budget


def reset_budgets() -> None:
    """Forget every account's budget (tests: each starts with a fresh account)."""
    with _budgets_lock:
        _budgets.clear()
