"""Polling one resource: which API errors polling outlives, and when it gives up."""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_xplenty._waiting.sources import PollingStatusSource
from airflow_provider_xplenty._waiting.transient import is_transient
from airflow_provider_xplenty.exceptions import XplentyApiError


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (XplentyApiError(None, "connection reset"), True),
        (XplentyApiError(429, "Rate Limit Exceeded"), True),
        (XplentyApiError(503, "busy"), True),
        (XplentyApiError(404, "Job not found"), False),
        (XplentyApiError(401, "bad key"), False),
        (TimeoutError(), True),
        (ValueError("bug"), False),
    ],
)
def test_transient_classification(error, transient):
    assert is_transient(error) is transient


def test_polling_source_gives_up_after_transient_error_timeout():
    class FailingHook:
        calls = 0

        async def get_job(self, job_id):
            FailingHook.calls += 1
            raise XplentyApiError(503, "busy")

    source = PollingStatusSource("x", poll_interval=0.01, transient_error_timeout=0.1)
    source._hook = FailingHook()

    async def go():
        async for _ in source.watch("job", 1):
            pass

    with pytest.raises(XplentyApiError):
        asyncio.run(go())
    assert FailingHook.calls > 2
