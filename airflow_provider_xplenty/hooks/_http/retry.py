"""Retries: the one classifier of failed attempts, the policy's bounds and back-off, the tenacity controller.

:func:`classify` says whether a failed attempt may be retried (for both transports), and whether the
server may have acted on it. :meth:`RetryPolicy.retrying` returns the ``tenacity.Retrying`` that
decides when to stop and how long to wait; the plans only ask it for decisions and hand each wait to
the hook's driver (docs/api-notes.md, Rate limits; Creates and idempotency).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, Protocol

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_before_delay

from airflow_provider_xplenty.exceptions import XplentyApiError, XplentyConfigError
from airflow_provider_xplenty.hooks._http.endpoints import Endpoint
from airflow_provider_xplenty.hooks._http.wire import (
    ApiRequest,
    RawResponse,
    TransportFailure,
    rate_limit_remaining,
    retry_after,
)

#: Longest single back-off step when no ``Retry-After`` is given.
MAX_BACKOFF_STEP = 60.0
SERVER_ERROR_STATUSES = frozenset({500, 502, 503, 504})
#: Added to the read timeout for the default late-create window: a server slower than the read
#: timeout is assumed to act within this many more seconds.
LATE_CREATE_MARGIN = 10.0


class Log(Protocol):
    """The part of a logger the retry loop and the plans use (the hook's ``self.log``)."""

    def info(self, msg: Any, /, *args: Any) -> Any: ...

    def warning(self, msg: Any, /, *args: Any) -> Any: ...

    def error(self, msg: Any, /, *args: Any) -> Any: ...


@dataclass(frozen=True)
class Decision:
    """Whether (and how) to retry a failed attempt.

    :param retry: retry at all.
    :param reason: human text for the log.
    :param unknown_outcome: the server may have acted (look for what a create call made first).
    :param retry_after: server-requested wait in seconds.
    :param budget_exhausted: ``X-RateLimit-Remaining: 0`` was seen.
    """

    retry: bool
    reason: str
    unknown_outcome: bool = False
    retry_after: float | None = None
    budget_exhausted: bool = False


def classify(endpoint: Endpoint, outcome: RawResponse | TransportFailure) -> Decision:
    """Decide whether a failed attempt may be retried (the only retry classifier)."""
    if isinstance(outcome, TransportFailure):
        reason = f"{outcome.kind.replace('_', ' ')} ({outcome.detail})"
        if not outcome.maybe_sent:
            return Decision(True, reason)
        if endpoint.idempotent:
            return Decision(True, reason)
        if endpoint.reconcilable:
            return Decision(True, reason, unknown_outcome=True)
        return Decision(False, reason, unknown_outcome=True)
    status = outcome.status
    remaining = rate_limit_remaining(outcome)
    if status == 429:
        return Decision(
            True,
            "HTTP 429 rate limited" + (" (hourly credits used up)" if remaining == 0 else ""),
            retry_after=retry_after(outcome),
            budget_exhausted=remaining == 0,
        )
    if status in SERVER_ERROR_STATUSES:
        reason = f"HTTP {status}"
        if endpoint.idempotent:
            return Decision(True, reason, retry_after=retry_after(outcome))
        if endpoint.reconcilable:
            return Decision(True, reason, unknown_outcome=True, retry_after=retry_after(outcome))
        return Decision(False, reason, unknown_outcome=True)
    return Decision(False, f"HTTP {status}")


class RetryableError(Exception):
    """Raised inside a retry loop for a failed attempt that the classifier allows to retry."""

    def __init__(self, error: XplentyApiError, decision: Decision) -> None:
        super().__init__(str(error))
        self.error = error
        self.decision = decision


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds and back-off of retries.

    :param retry_limit: retries after the first attempt (0 disables retries).
    :param retry_max_seconds: total time budget; a retry whose wait would pass it is not made.
    :param retry_backoff: first back-off step in seconds; doubles per retry (capped at 60 s), jittered.
    :param late_create_window: how long after a create's unknown outcome the server may still act on
        it (seconds; ``None``: the read timeout + :data:`LATE_CREATE_MARGIN`). The hook looks for the
        object before re-sending, and after a re-send watches this long for a late duplicate.
    """

    retry_limit: int = 5
    retry_max_seconds: float = 120.0
    retry_backoff: float = 1.0
    late_create_window: float | None = None

    def __post_init__(self) -> None:
        for name in ("retry_limit", "retry_max_seconds", "retry_backoff", "late_create_window"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise XplentyConfigError(f"{name} must be a finite number >= 0, got {value!r}")

    def late_window(self, read_timeout: float) -> float:
        """Seconds after an unknown create outcome during which the server may still create the object."""
        if self.late_create_window is not None:
            return self.late_create_window
        return read_timeout + LATE_CREATE_MARGIN

    def wait(self, decision: Decision, attempt_number: int) -> float:
        """Seconds to wait before retry number ``attempt_number`` (1-based)."""
        if decision.retry_after is not None:
            return decision.retry_after
        step = min(MAX_BACKOFF_STEP, self.retry_backoff * (2 ** (attempt_number - 1)))
        if decision.budget_exhausted:
            # Out of hourly credits: more retries soon would only burn the next window.
            step = min(MAX_BACKOFF_STEP, step * 4)
        return step * random.uniform(0.5, 1.0)

    def retrying(self, request: ApiRequest, log: Log) -> Retrying:
        """Return the tenacity controller that decides retries of ``request`` (one per call: it keeps state).

        Bounded in attempts (``1 + retry_limit``) and total time (a retry whose wait would pass
        ``retry_max_seconds`` is not made). It is only asked for decisions (``Plans.retried``); it
        never sleeps itself.

        :param request: the request whose attempts it decides on (for log lines).
        :param log: where each retry is logged.
        """

        def wait(state: RetryCallState) -> float:
            # Retry-After when the failed attempt carried one, else back-off with jitter (RetryPolicy.wait).
            exc = state.outcome.exception() if state.outcome else None
            return self.wait(exc.decision, state.attempt_number) if isinstance(exc, RetryableError) else 0.0

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            # The failed request: the call's own, or a look-up made inside the attempt (after a lost create).
            failed = exc.error if isinstance(exc, RetryableError) and exc.error.method else request
            log.warning(
                "Xplenty API %s %s failed: %s; retry %d of %d in %.2f s",
                failed.method,
                failed.path,
                exc.decision.reason if isinstance(exc, RetryableError) else repr(exc),
                state.attempt_number,
                self.retry_limit,
                state.upcoming_sleep,
            )

        return Retrying(
            stop=stop_after_attempt(self.retry_limit + 1) | stop_before_delay(self.retry_max_seconds),
            wait=wait,
            # classify() already decided: an attempt raises RetryableError only when it may be retried.
            retry=retry_if_exception(lambda exc: isinstance(exc, RetryableError) and exc.decision.retry),
            before_sleep=before_sleep,
            reraise=True,
        )
