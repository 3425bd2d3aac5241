"""Which errors met while polling are worth polling again, and for how long."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from airflow_provider_xplenty.exceptions import XplentyApiError

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
