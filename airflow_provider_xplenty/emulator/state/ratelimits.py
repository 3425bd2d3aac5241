"""Hourly API credits per key, and the request log with its totals."""

from __future__ import annotations

from typing import Any

from airflow_provider_xplenty.emulator.state.core import StoreCore


class RateLimits(StoreCore):
    """Charge credits, report and set budgets, log requests."""

    def charge(self, api_key: str, free: bool) -> tuple[bool, int, int]:
        """Charge one credit to ``api_key`` unless ``free``; return (allowed, limit, remaining)."""
        with self.lock:
            now = self.now()
            bucket = self.rate.get(api_key)
            if bucket is None:
                bucket = {
                    "limit": self.rate_default_limit,
                    "remaining": self.rate_default_limit,
                    "window": now,
                }
                self.rate[api_key] = bucket
            if now - bucket["window"] >= 3600:
                bucket["window"] = now
                bucket["remaining"] = bucket["limit"]
            if free:
                return True, int(bucket["limit"]), int(bucket["remaining"])
            if bucket["remaining"] <= 0:
                return False, int(bucket["limit"]), 0
            bucket["remaining"] -= 1
            return True, int(bucket["limit"]), int(bucket["remaining"])

    def rate_status(self, api_key: str) -> tuple[int, int]:
        """Return (limit, remaining) without charging."""
        _, limit, remaining = self.charge(api_key, True)
        return limit, remaining

    def set_rate_limit(self, limit: int | None, remaining: int | None, api_key: str | None) -> dict[str, Any]:
        """Set the hourly budget (and/or what is left of it) for one key or every key."""
        with self.lock:
            keys = [api_key] if api_key else sorted(self.keys)
            if limit is not None and not api_key:
                self.rate_default_limit = limit
            now = self.now()
            for key in keys:
                bucket = self.rate.setdefault(
                    key,
                    {"limit": self.rate_default_limit, "remaining": self.rate_default_limit, "window": now},
                )
                if limit is not None:
                    bucket["limit"] = limit
                    bucket["remaining"] = (
                        min(bucket["remaining"], limit) if remaining is None else bucket["remaining"]
                    )
                    if remaining is None:
                        bucket["remaining"] = limit
                if remaining is not None:
                    bucket["remaining"] = remaining
                bucket["window"] = now
            return {
                "limits": {
                    k: {"limit": int(b["limit"]), "remaining": int(b["remaining"])}
                    for k, b in self.rate.items()
                }
            }

    def log_request(
        self, method: str, path: str, status: int, credit: int, query: str = "", fault: str | None = None
    ) -> None:
        """Append to the request log and update the totals; ``fault`` names a fault that shaped it."""
        with self.lock:
            entry: dict[str, Any] = {
                "method": method,
                "path": path,
                "query": query,
                "status": status,
                "credit": credit,
            }
            if fault is not None:
                entry["fault"] = fault
            self.request_log.append(entry)
            self.totals["count"] += 1
            self.totals["credits"] += credit
            by_status = self.totals["by_status"]
            by_status[str(status)] = by_status.get(str(status), 0) + 1
