"""The account's credit budget (hooks/_http/budget.py): pacing, priority, log-once, requests in flight."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from airflow_provider_xplenty.hooks._http.budget import AccountBudget, budget_for, polling, reset_budgets
from airflow_provider_xplenty.hooks.xplenty import XplentyAsyncHook


@pytest.fixture()
def small_account(xplenty_emulator, monkeypatch):
    """3,600 credits/h, half for Airflow: 0.5 credit/s, a bucket of 10 (one reserved for writes)."""
    monkeypatch.setattr(AccountBudget, "BUCKET_SECONDS", 20.0)
    monkeypatch.setenv("AIRFLOW__XPLENTY__HOURLY_CREDITS", "3600")
    xplenty_emulator.set_rate_limit(limit=3600, remaining=3600)
    reset_budgets()
    return xplenty_emulator


def test_polls_slow_down_creates_go_first_and_one_warning_says_so(small_account, caplog):
    caplog.set_level(logging.WARNING, logger="airflow_provider_xplenty.hooks._http.budget")

    async def go():
        hook = XplentyAsyncHook()
        done: dict[str, float] = {}
        started = time.monotonic()

        async def poll(i):
            with polling():  # as the status sources of _waiting mark their reads
                await hook.get_package(101)
            done[f"get{i}"] = time.monotonic() - started

        async def create():
            await asyncio.sleep(0.2)  # the polls are queued already
            await hook.create_cluster(nodes=2)
            done["create"] = time.monotonic() - started

        await asyncio.gather(*(poll(i) for i in range(13)), create())
        await hook.close()
        return done

    done = asyncio.run(go())
    gets = sorted(v for k, v in done.items() if k.startswith("get"))
    assert gets[8] < 1.0  # the bucket's 9 read credits go at once
    assert gets[-1] >= 4 * 2.0 * 0.9  # then one read per 2 s (0.5 credit/s)
    assert done["create"] < 1.0  # the create did not queue behind the polls
    slow = [r for r in caplog.records if "polls slow down" in r.getMessage()]
    assert len(slow) == 1, [r.getMessage() for r in slow]
    assert "1800 credits/h" in slow[0].getMessage() and "budget_share 0.50 of 3600" in slow[0].getMessage()


def test_requests_in_flight_are_bounded(xplenty_emulator, monkeypatch):
    """40 concurrent calls through one async hook: at most max_concurrent_requests in flight."""
    monkeypatch.setenv("AIRFLOW__XPLENTY__MAX_CONCURRENT_REQUESTS", "4")
    reset_budgets()
    xplenty_emulator.add_fault(kind="latency", seconds=0.2, count=40, path_contains="packages")

    async def go():
        hook = XplentyAsyncHook()
        started = time.monotonic()
        await asyncio.gather(*(hook.get_package(101) for _ in range(40)))
        await hook.close()
        return time.monotonic() - started

    assert asyncio.run(go()) >= 40 / 4 * 0.2 * 0.9  # 10 waves of 0.2 s, not one


def test_the_budget_follows_the_account_limit_header(xplenty_emulator):
    xplenty_emulator.set_rate_limit(limit=7200, remaining=7200)

    async def go():
        hook = XplentyAsyncHook()
        await hook.get_package(101)
        await hook.close()
        return budget_for(await hook.get_config())

    budget = asyncio.run(go())
    assert budget.limit == 7200 and budget.rate == pytest.approx(1.0)
    assert budget.server_remaining is not None and budget.server_remaining < 7200


def test_a_bad_share_is_refused_with_the_option_name(xplenty_emulator, monkeypatch):
    monkeypatch.setenv("AIRFLOW__XPLENTY__BUDGET_SHARE", "2")
    with pytest.raises(ValueError, match=r"\[xplenty\] budget_share must be in \(0, 1\]"):
        AccountBudget(5000, 2.0, 10)
