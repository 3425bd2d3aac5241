"""Retries, injected faults and the no-duplicate guarantee, on both hooks."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

import pytest
from hook_support import FAST, Logs

from airflow_provider_xplenty.exceptions import XplentyApiError
from airflow_provider_xplenty.hooks.xplenty import XplentyAsyncHook, XplentyHook


def _sync_get(hook: XplentyHook) -> int:
    return hook.get_package(101).id


def _async_get(hook: XplentyAsyncHook) -> int:
    async def go() -> int:
        async with hook:
            return (await hook.get_package(101)).id

    return asyncio.run(go())


GETTERS: dict[str, tuple[Any, Any]] = {
    "sync": (XplentyHook, _sync_get),
    "async": (XplentyAsyncHook, _async_get),
}


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried(xplenty_emulator, flavour: str, status: int, logs: Logs) -> None:  # type: ignore[no-untyped-def]
    cls, get = GETTERS[flavour]
    xplenty_emulator.add_fault(kind="server_error", status=status, count=2, path_contains="packages")
    assert get(cls(**FAST)) == 101
    lines = logs.retry_lines()
    assert len(lines) == 2 and f"HTTP {status}" in lines[0] and "GET packages/101" in lines[0]
    assert "retry 1 of 5 in" in lines[0] and "retry 2 of 5" in lines[1]


def test_server_errors_exhaust_attempts(xplenty_emulator, flavour: str) -> None:  # type: ignore[no-untyped-def]
    cls, get = GETTERS[flavour]
    xplenty_emulator.add_fault(kind="server_error", status=503, count=50, path_contains="packages")
    with pytest.raises(XplentyApiError, match=r"gave up after 3 attempt\(s\)") as exc:
        get(cls(retry_limit=2, **FAST))
    assert exc.value.status_code == 503 and exc.value.path == "packages/101"
    assert xplenty_emulator.requests()["totals"]["by_status"].get("503") == 3


def test_rate_limit_retry_after_honoured(xplenty_emulator, flavour: str, logs: Logs) -> None:  # type: ignore[no-untyped-def]
    cls, get = GETTERS[flavour]
    xplenty_emulator.add_fault(kind="rate_limit", count=1, retry_after=1)
    started = time.monotonic()
    assert get(cls(**FAST)) == 101
    assert time.monotonic() - started >= 0.95  # waited Retry-After, not the 1 ms back-off
    assert "HTTP 429 rate limited (hourly credits used up); retry 1 of 5 in 1.00 s" in logs.retry_lines()[0]


def test_rate_limit_without_retry_after_backs_off(xplenty_emulator, flavour: str, logs: Logs) -> None:  # type: ignore[no-untyped-def]
    cls, get = GETTERS[flavour]
    xplenty_emulator.add_fault(kind="rate_limit", count=3, retry_after=None)
    assert get(cls(**FAST)) == 101
    assert len(logs.retry_lines()) == 3


def test_retry_after_beyond_budget_gives_up_at_once(xplenty_emulator, flavour: str) -> None:  # type: ignore[no-untyped-def]
    cls, get = GETTERS[flavour]
    xplenty_emulator.add_fault(kind="rate_limit", count=1, retry_after=30)
    started = time.monotonic()
    with pytest.raises(XplentyApiError, match="Rate limit exceeded for account `demo`") as exc:
        get(cls(retry_backoff=0.001, retry_max_seconds=5))
    assert exc.value.status_code == 429
    assert time.monotonic() - started < 3


def test_hourly_budget_exhausted(xplenty_emulator, flavour: str) -> None:  # type: ignore[no-untyped-def]
    cls, get = GETTERS[flavour]
    xplenty_emulator.set_rate_limit(remaining=0)
    with pytest.raises(XplentyApiError) as exc:
        get(cls(retry_limit=1, **FAST))
    assert exc.value.status_code == 429


def test_read_timeout_on_get_is_retried(xplenty_emulator, flavour: str, logs: Logs) -> None:  # type: ignore[no-untyped-def]
    cls, get = GETTERS[flavour]
    xplenty_emulator.add_fault(kind="latency", seconds=1.0, count=1, path_contains="packages")
    assert get(cls(timeout=0.3, **FAST)) == 101
    assert "read timeout" in logs.retry_lines()[0]


def test_connection_refused(monkeypatch: pytest.MonkeyPatch, flavour: str, logs: Logs) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    conn = {
        "conn_type": "xplenty",
        "host": f"http://127.0.0.1:{port}",
        "password": "k-123456",
        "login": "demo",
    }
    monkeypatch.setenv("AIRFLOW_CONN_XP_DOWN", json.dumps(conn))
    cls, get = GETTERS[flavour]
    with pytest.raises(XplentyApiError, match="connect") as exc:
        get(cls("xp_down", retry_limit=2, **FAST))
    assert exc.value.status_code is None
    assert len(logs.retry_lines()) == 2


# ---------------------------------------------------------------------------------------------
# No duplicates
# ---------------------------------------------------------------------------------------------
def _run_job(flavour: str, cluster_id: int, variables: dict[str, Any]) -> int:
    if flavour == "sync":
        return XplentyHook(**FAST).run_job(cluster_id, 101, variables=variables).id

    async def go() -> int:
        async with XplentyAsyncHook(**FAST) as hook:
            return (await hook.run_job(cluster_id, 101, variables=variables)).id

    return asyncio.run(go())


def _create_cluster(flavour: str, **kw: object) -> int:
    if flavour == "sync":
        return XplentyHook(**FAST).create_cluster(nodes=2, **kw).id  # type: ignore[arg-type]

    async def go() -> int:
        async with XplentyAsyncHook(**FAST) as hook:
            return (await hook.create_cluster(nodes=2, **kw)).id  # type: ignore[arg-type]

    return asyncio.run(go())


@pytest.mark.parametrize("mode", ["drop", "504"])
def test_lost_job_response_runs_exactly_one_job(
    xplenty_emulator: Any, flavour: str, mode: str, logs: Logs
) -> None:
    cluster_id = XplentyHook(**FAST).create_cluster(nodes=2).id
    # an older job with the same parameters must not be adopted
    earlier = XplentyHook(**FAST).run_job(cluster_id, 101, variables={"InputPath": "'/other'"}).id
    xplenty_emulator.add_fault(kind="lost_response", method="POST", path_contains="jobs", mode=mode)
    job_id = _run_job(flavour, cluster_id, {"InputPath": "'/lost'"})
    jobs = [j for j in xplenty_emulator.jobs() if j["id"] != earlier]
    assert [j["id"] for j in jobs] == [job_id]
    assert "adopting the existing job of package 101" in logs.text()


@pytest.mark.parametrize("mode", ["drop", "504"])
@pytest.mark.parametrize(
    ("variables", "stored"),
    [
        ({"N": 10}, {"N": "10"}),
        ({"N": 10, "Flag": True, "Ratio": 0.5}, {"N": "10", "Flag": "True", "Ratio": "0.5"}),
    ],
)
def test_lost_job_response_with_non_string_variables_runs_exactly_one_job(
    xplenty_emulator: Any,
    flavour: str,
    mode: str,
    variables: dict[str, Any],
    stored: dict[str, str],
    logs: Logs,
) -> None:
    """Numbers and booleans are stored as strings; the look-up still recognises the job as ours."""
    cluster_id = XplentyHook(**FAST).create_cluster(nodes=2).id
    xplenty_emulator.add_fault(kind="lost_response", method="POST", path_contains="jobs", mode=mode)
    job_id = _run_job(flavour, cluster_id, variables)
    jobs = xplenty_emulator.jobs()
    assert [j["id"] for j in jobs] == [job_id]
    assert jobs[0]["variables"] == stored
    assert "adopting the existing job of package 101" in logs.text()


@pytest.mark.parametrize("speed", [1, 0, 500])
def test_older_identical_job_is_never_adopted(xplenty_emulator, flavour: str, speed: float) -> None:  # type: ignore[no-untyped-def]
    """A 503 from a server that did nothing, right after an identical job: send again, do not adopt.

    Runs on a normal, a frozen and a very fast emulator clock (the hook uses no client clock).
    """
    xplenty_emulator.set_speed(speed)
    cluster_id = XplentyHook(**FAST).create_cluster(nodes=2).id
    old = XplentyHook(**FAST).run_job(cluster_id, 101, variables={"InputPath": "'/same'"}).id
    xplenty_emulator.add_fault(kind="server_error", status=503, count=1, method="POST", path_contains="jobs")
    job_id = _run_job(flavour, cluster_id, {"InputPath": "'/same'"})
    assert job_id != old
    assert sorted(j["id"] for j in xplenty_emulator.jobs()) == [old, job_id]


@pytest.mark.parametrize("speed", [0, 500])
def test_lost_response_with_odd_clocks(xplenty_emulator, flavour: str, speed: float) -> None:  # type: ignore[no-untyped-def]
    xplenty_emulator.set_speed(speed)
    cluster_id = XplentyHook(**FAST).create_cluster(nodes=2).id
    old = XplentyHook(**FAST).run_job(cluster_id, 101, variables={"InputPath": "'/same'"}).id
    xplenty_emulator.add_fault(kind="lost_response", method="POST", path_contains="jobs", mode="drop")
    job_id = _run_job(flavour, cluster_id, {"InputPath": "'/same'"})
    assert sorted(j["id"] for j in xplenty_emulator.jobs()) == sorted([old, job_id]) and job_id != old
    xplenty_emulator.add_fault(kind="lost_response", method="POST", path_contains="clusters", mode="504")
    other = _create_cluster(flavour, name="same-name")
    xplenty_emulator.add_fault(kind="lost_response", method="POST", path_contains="clusters", mode="504")
    again = _create_cluster(flavour, name="same-name")  # an older cluster with the same name is not adopted
    assert other != again
    assert sorted(c["id"] for c in xplenty_emulator.clusters()) == sorted([cluster_id, other, again])


@pytest.mark.parametrize("mode", ["drop", "504"])
def test_lost_cluster_response_creates_exactly_one_cluster(xplenty_emulator, flavour: str, mode: str) -> None:  # type: ignore[no-untyped-def]
    xplenty_emulator.add_fault(kind="lost_response", method="POST", path_contains="clusters", mode=mode)
    cluster_id = _create_cluster(flavour)
    assert [c["id"] for c in xplenty_emulator.clusters()] == [cluster_id]
    xplenty_emulator.add_fault(kind="lost_response", method="POST", path_contains="clusters", mode=mode)
    named = _create_cluster(flavour, name="etl-main")
    clusters = xplenty_emulator.clusters()
    assert sorted(c["id"] for c in clusters) == sorted([cluster_id, named])
    assert {c["name"] for c in clusters if c["id"] == named} == {"etl-main"}


def test_server_error_before_create_resends(xplenty_emulator, flavour: str) -> None:  # type: ignore[no-untyped-def]
    """A 503 from a server that did nothing: nothing to adopt, so the job is sent again (once)."""
    cluster_id = XplentyHook(**FAST).create_cluster(nodes=2).id
    xplenty_emulator.add_fault(kind="server_error", status=503, count=2, method="POST", path_contains="jobs")
    job_id = _run_job(flavour, cluster_id, {"InputPath": "'/x'"})
    assert [j["id"] for j in xplenty_emulator.jobs()] == [job_id]


def test_schedule_create_is_not_retried_blindly(xplenty_emulator) -> None:  # type: ignore[no-untyped-def]
    xplenty_emulator.add_fault(
        kind="server_error", status=502, count=1, method="POST", path_contains="schedules"
    )
    task = {"packages": [{"package_id": 101}]}
    with pytest.raises(XplentyApiError) as exc:
        XplentyHook(**FAST).create_schedule(name="s", task=task)
    assert exc.value.status_code == 502
    posts = [r for r in xplenty_emulator.requests()["requests"] if r["method"] == "POST"]
    assert len(posts) == 1


def test_lost_delete_is_accepted_when_already_done(xplenty_emulator) -> None:  # type: ignore[no-untyped-def]
    hook = XplentyHook(**FAST)
    cluster = hook.create_cluster(nodes=2)
    xplenty_emulator.advance(120)
    job = hook.run_job(cluster.id, 101)
    xplenty_emulator.add_fault(kind="lost_response", method="DELETE", path_contains="jobs", mode="504")
    assert hook.stop_job(job.id).status in {"pending_stoppage", "stopping", "stopped"}
    xplenty_emulator.add_fault(kind="lost_response", method="DELETE", path_contains="clusters", mode="drop")
    assert hook.terminate_cluster(cluster.id).status in {"pending_terminate", "terminating", "terminated"}


def test_last_credit_is_signalled(xplenty_emulator, logs: Logs) -> None:  # type: ignore[no-untyped-def]
    xplenty_emulator.set_rate_limit(remaining=1)
    assert XplentyHook(**FAST).get_package(101).id == 101
    assert "no credits left in this hour's budget" in logs.text()


def test_retries_off_still_never_duplicates(xplenty_emulator: Any, flavour: str) -> None:
    """retry_limit=0: a 503 fails at once, but a lost create is still looked up (and adopted)."""
    cls, get = GETTERS[flavour]
    xplenty_emulator.add_fault(kind="server_error", status=503, count=1, path_contains="packages")
    with pytest.raises(XplentyApiError, match=r"gave up after 1 attempt\(s\)"):
        get(cls(retry_limit=0))
    cluster_id = XplentyHook(**FAST).create_cluster(nodes=2).id
    xplenty_emulator.add_fault(kind="lost_response", method="POST", path_contains="jobs", mode="drop")
    if flavour == "sync":
        job_id = XplentyHook(retry_limit=0).run_job(cluster_id, 101).id
    else:
        job_id = asyncio.run(XplentyAsyncHook(retry_limit=0).run_job(cluster_id, 101)).id
    assert [j["id"] for j in xplenty_emulator.jobs()] == [job_id]
