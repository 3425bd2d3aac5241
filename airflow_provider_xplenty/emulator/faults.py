"""Transport-level fault injection (429, 5xx, latency, lost and slow responses).

Job and cluster failures change the state machines and live in :mod:`.state.failures`. Time
windows given in ``seconds`` here are measured in *real* seconds (so a client's retry loop can
outlast them even with a frozen emulated clock).
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Fault:
    """One transport fault.

    ``count`` None means unlimited (bounded by ``until`` if set); ``until`` is a monotonic deadline.
    ``delay``, ``act_after`` and ``never`` shape a ``slow_response`` (see :mod:`..late`).
    """

    id: int
    kind: str
    count: int | None = None
    until: float | None = None
    probability: float | None = None
    path_contains: str | None = None
    method: str | None = None
    status: int = 500
    seconds: float = 0.0
    retry_after: int | None = None
    mode: str = "drop"
    delay: float = 0.0
    act_after: float = 0.0
    never: bool = False
    spec: dict[str, Any] = field(default_factory=dict)

    def expired(self) -> bool:
        """Return whether the fault can no longer fire."""
        if self.count is not None and self.count <= 0:
            return True
        return self.until is not None and time.monotonic() > self.until

    def matches(self, method: str, path: str) -> bool:
        """Return whether the fault applies to this request."""
        if self.expired():
            return False
        if self.method and self.method.upper() != method.upper():
            return False
        return not (self.path_contains and self.path_contains not in path)


class FaultRegistry:
    """Thread-safe list of active transport faults."""

    def __init__(self, lock: threading.RLock | None = None) -> None:
        self._lock = lock if lock is not None else threading.RLock()
        self._faults: list[Fault] = []
        self._rng = random.Random(1234)

    def add(self, fault: Fault) -> None:
        """Register a fault."""
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        """Drop every fault."""
        with self._lock:
            self._faults.clear()

    def describe(self) -> list[dict[str, Any]]:
        """Return the active faults as dicts."""
        with self._lock:
            self._faults = [f for f in self._faults if not f.expired()]
            return [dict(f.spec, id=f.id, remaining=f.count) for f in self._faults]

    def take(self, kind: str, method: str, path: str) -> Fault | None:
        """Return (and consume one use of) the first fault of ``kind`` matching the request."""
        with self._lock:
            if not self._faults:
                return None
            for fault in self._faults:
                if fault.kind != kind or not fault.matches(method, path):
                    continue
                if fault.probability is not None and self._rng.random() >= fault.probability:
                    continue
                if fault.count is not None:
                    fault.count -= 1
                return fault
            return None
