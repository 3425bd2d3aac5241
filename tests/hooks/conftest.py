"""Fixtures for hook tests: hooks with tiny back-off so retry tests do not wait, and all log output."""

from __future__ import annotations

import logging

import pytest
from hook_support import FAST, Logs

from airflow_provider_xplenty.hooks.xplenty import XplentyAsyncHook, XplentyHook


@pytest.fixture
def hook(xplenty_emulator):  # type: ignore[no-untyped-def]
    """A sync hook on the emulator (xplenty_default), retrying fast."""
    with XplentyHook(**FAST) as h:
        yield h


@pytest.fixture
def ahook(xplenty_emulator):  # type: ignore[no-untyped-def]
    """An async hook on the emulator (xplenty_default), retrying fast."""
    return XplentyAsyncHook(**FAST)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> Logs:
    """Everything the test logs (see :class:`hook_support.Logs`)."""
    caplog.set_level(logging.DEBUG)
    return Logs(caplog, capfd)
