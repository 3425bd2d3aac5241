"""The emulator's clock: emulated time = real elapsed time x speed + manual advances."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from functools import lru_cache

DEFAULT_DURATIONS: dict[str, float] = {
    "cluster_pending": 5.0,
    "cluster_creating": 60.0,
    "cluster_terminating": 10.0,
    "job_idle": 2.0,
    "job_pending": 3.0,
    "job_running": 30.0,
    "job_stopping": 3.0,
}


@lru_cache(maxsize=65536)
def _iso_seconds(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso(ts: float | None) -> str | None:
    """Format an epoch timestamp as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC, second precision) or ``None``."""
    if ts is None:
        return None
    return _iso_seconds(int(ts))


def parse_iso(value: str) -> float:
    """Parse an ISO 8601 timestamp (``Z`` or offset; naive means UTC) into epoch seconds."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


class Clock:
    """A controllable clock.

    :param speed: emulated seconds per real second (0 freezes the clock: only :meth:`advance` moves it).
    :param start: emulated epoch seconds at creation (default: the real time now, whole seconds).
    """

    def __init__(self, speed: float = 1.0, start: float | None = None) -> None:
        self._real0 = time.monotonic()
        self._emu0 = float(int(time.time())) if start is None else float(start)
        self.speed = float(speed)

    def now(self) -> float:
        """Return the emulated time in epoch seconds."""
        return self._emu0 + (time.monotonic() - self._real0) * self.speed

    def set_speed(self, speed: float) -> None:
        """Change the speed from now on (emulated time does not jump)."""
        self._emu0 = self.now()
        self._real0 = time.monotonic()
        self.speed = float(speed)

    def advance(self, seconds: float) -> None:
        """Move emulated time forward by ``seconds``."""
        self._emu0 += float(seconds)
