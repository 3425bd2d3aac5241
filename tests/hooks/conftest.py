"""Fixtures for hook tests: hooks with tiny back-off so retry tests do not wait."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_xplenty.hooks.xplenty import XplentyAsyncHook, XplentyHook

FAST: dict[str, Any] = {"retry_backoff": 0.001, "retry_max_seconds": 10.0}


@pytest.fixture
def hook(xplenty_emulator):  # type: ignore[no-untyped-def]
    """A sync hook on the emulator (xplenty_default), retrying fast."""
    with XplentyHook(**FAST) as h:
        yield h


@pytest.fixture
def ahook(xplenty_emulator):  # type: ignore[no-untyped-def]
    """An async hook on the emulator (xplenty_default), retrying fast."""
    return XplentyAsyncHook(**FAST)
