"""Multi-call flows on both hooks, against the emulator: stop-and-confirm, terminate-or-expire, clock skew.

The emulator's clock is frozen (``speed=0``) and moved with ``advance``. Two answers the emulator
never gives are put in front of it by wrapping the hook's transport: a refused stop of a job that is
still running, and a ``Date`` header off this machine's clock (uvicorn stamps ``Date`` from the real
clock, not the emulated one).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

import pytest
from hook_support import FAST, Logs
from requests.structures import CaseInsensitiveDict

from airflow_provider_xplenty.exceptions import (
    XplentyApiError,
    XplentyConfigError,
    XplentyNotFoundError,
    XplentyRejectedError,
)
from airflow_provider_xplenty.hooks import xplenty as hook_module
from airflow_provider_xplenty.hooks._http.wire import ApiRequest, RawResponse, TransportFailure
from airflow_provider_xplenty.hooks.xplenty import XplentyAsyncHook, XplentyHook

UNKNOWN = 999_999


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def emu(xplenty_emulator: Any) -> Any:
    """The emulator with a frozen clock."""
    xplenty_emulator.set_speed(0)
    return xplenty_emulator


def call(flavour: str, method: str, *args: Any, **hook_kwargs: Any) -> Any:
    """Call ``method`` on a fresh sync or async hook (retrying fast) and return its result."""
    kwargs = {**FAST, **hook_kwargs}
    if flavour == "sync":
        with XplentyHook(**kwargs) as hook:
            return getattr(hook, method)(*args)

    async def go() -> Any:
        async with XplentyAsyncHook(**kwargs) as hook:
            return await getattr(hook, method)(*args)

    return asyncio.run(go())


Outcome = RawResponse | TransportFailure


def rewrite_transport(
    monkeypatch: pytest.MonkeyPatch, rewrite: Callable[[ApiRequest, Outcome | None], Outcome | None]
) -> None:
    """Wrap both hooks' transports: ``rewrite(request, None)`` may answer instead of the emulator,
    else ``rewrite(request, outcome)`` may replace the emulator's answer (``None``: keep it)."""
    real_sync, real_async = hook_module.requests_exchange, hook_module.httpx_exchange

    def sync(session: Any, cfg: Any, request: ApiRequest) -> Outcome:
        outcome = rewrite(request, None) or real_sync(session, cfg, request)
        return rewrite(request, outcome) or outcome

    async def asynchronous(client: Any, cfg: Any, request: ApiRequest) -> Outcome:
        outcome = rewrite(request, None) or await real_async(client, cfg, request)
        return rewrite(request, outcome) or outcome

    monkeypatch.setattr(hook_module, "requests_exchange", sync)
    monkeypatch.setattr(hook_module, "httpx_exchange", asynchronous)


def refuse(monkeypatch: pytest.MonkeyPatch, method: str, path: str, status: int) -> None:
    """Answer ``method path`` with ``status`` (and an API message) without sending it."""
    body = json.dumps({"message": f"refused by the test with {status}"})

    def rewrite(request: ApiRequest, outcome: Any) -> RawResponse | None:
        if outcome is None and (request.method, request.path) == (method, path):
            return RawResponse(status, CaseInsensitiveDict({"Content-Type": "application/json"}), body)
        return None

    rewrite_transport(monkeypatch, rewrite)


def shift_date(monkeypatch: pytest.MonkeyPatch, skew: timedelta) -> None:
    """Move the ``Date`` header of every answer by ``skew`` (the API's clock runs ``skew`` ahead)."""

    def rewrite(request: ApiRequest, outcome: Any) -> RawResponse | None:
        if not isinstance(outcome, RawResponse):
            return None
        date = parsedate_to_datetime(outcome.headers["Date"]) + skew
        moved = CaseInsensitiveDict({**outcome.headers, "Date": format_datetime(date, usegmt=True)})
        return RawResponse(outcome.status, moved, outcome.text)

    rewrite_transport(monkeypatch, rewrite)


def available_cluster(emu: Any) -> int:
    cluster_id = int(XplentyHook(**FAST).create_cluster(nodes=2).id)
    emu.advance(120)
    return cluster_id


def running_job(emu: Any) -> int:
    job_id = int(XplentyHook(**FAST).run_job(available_cluster(emu), 101).id)
    emu.advance(10)
    assert XplentyHook(**FAST).get_job(job_id).status == "running"
    return job_id


def requests_of(emu: Any) -> list[tuple[str, int]]:
    """The API requests the emulator answered: ``("DELETE jobs/5001", 422)`` ..."""
    root = f"/{emu.account_id}/api/"
    log = emu.requests()["requests"]
    return [(f"{r['method']} {r['path'].removeprefix(root)}", r["status"]) for r in log]


# ---------------------------------------------------------------------------------------------
# stop_job_and_confirm
# ---------------------------------------------------------------------------------------------
def test_stop_job_and_confirm_stops_a_running_job(emu: Any, flavour: str) -> None:
    job_id = running_job(emu)
    emu.control("DELETE", "requests")
    assert call(flavour, "stop_job_and_confirm", job_id) == "pending_stoppage"
    assert requests_of(emu) == [(f"DELETE jobs/{job_id}", 200)]
    emu.advance(5)
    assert [j["status"] for j in emu.jobs()] == ["stopped"]


@pytest.mark.parametrize(("already", "expected"), [(40, "completed"), (0, "pending_stoppage")])
def test_a_stop_refused_because_the_job_is_settled_returns_its_status(
    emu: Any, flavour: str, already: float, expected: str
) -> None:
    """422 for a job that has ended (or is already being stopped): read it, return its status."""
    job_id = running_job(emu)
    if already:
        emu.advance(already)  # the run ends
    else:
        XplentyHook(**FAST).stop_job(job_id)  # someone else stopped it first
    emu.control("DELETE", "requests")
    assert call(flavour, "stop_job_and_confirm", job_id) == expected
    assert requests_of(emu) == [(f"DELETE jobs/{job_id}", 422), (f"GET jobs/{job_id}", 200)]


def test_a_stop_of_a_job_the_api_does_not_know_is_none(emu: Any, flavour: str) -> None:
    assert call(flavour, "stop_job_and_confirm", UNKNOWN) is None
    assert requests_of(emu) == [(f"DELETE jobs/{UNKNOWN}", 404), (f"GET jobs/{UNKNOWN}", 404)]


def test_a_stop_refused_while_the_job_runs_raises_the_refusal(
    emu: Any, flavour: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """422 but the job is still running (not settled): the refusal itself is raised."""
    job_id = running_job(emu)
    refuse(monkeypatch, "DELETE", f"jobs/{job_id}", 422)
    refusal = f"rejected DELETE jobs/{job_id}: refused by the test with 422"
    with pytest.raises(XplentyRejectedError, match=refusal) as exc:
        call(flavour, "stop_job_and_confirm", job_id)
    assert exc.value.status_code == 422 and isinstance(exc.value, XplentyApiError)
    assert [j["status"] for j in emu.jobs()] == ["running"]


@pytest.mark.parametrize(("ended", "expected"), [(True, "completed"), (False, None)])
def test_a_stop_refused_with_404_reads_the_job(
    emu: Any, flavour: str, monkeypatch: pytest.MonkeyPatch, ended: bool, expected: str | None
) -> None:
    """404 on the stop but the job can be read: its settled status is returned, else the 404 is raised."""
    job_id = running_job(emu)
    if ended:
        emu.advance(40)
    refuse(monkeypatch, "DELETE", f"jobs/{job_id}", 404)
    if ended:
        assert call(flavour, "stop_job_and_confirm", job_id) == expected
    else:
        with pytest.raises(XplentyNotFoundError, match=f"Job {job_id} was not found") as exc:
            call(flavour, "stop_job_and_confirm", job_id)
        assert exc.value.status_code == 404


def test_stop_job_and_confirm_checks_the_id_before_any_request(emu: Any, flavour: str) -> None:
    with pytest.raises(XplentyConfigError, match="job_id must be a positive integer id"):
        call(flavour, "stop_job_and_confirm", 0)
    assert requests_of(emu) == []


# ---------------------------------------------------------------------------------------------
# terminate_cluster_or_expire
# ---------------------------------------------------------------------------------------------
def test_terminate_cluster_or_expire_terminates_an_available_cluster(
    emu: Any, flavour: str, logs: Logs
) -> None:
    cluster_id = available_cluster(emu)
    assert call(flavour, "terminate_cluster_or_expire", cluster_id) == "pending_terminate"
    assert f"Terminating Xplenty cluster {cluster_id}: pending_terminate" in logs.text()


def test_terminate_cluster_or_expire_of_an_unknown_cluster_is_none(emu: Any, flavour: str) -> None:
    assert call(flavour, "terminate_cluster_or_expire", UNKNOWN) is None
    assert requests_of(emu) == [(f"DELETE clusters/{UNKNOWN}", 404)]


@pytest.mark.parametrize("started", [0, 10], ids=["pending", "creating"])
def test_a_cluster_not_yet_terminable_is_set_to_expire(
    emu: Any, flavour: str, logs: Logs, started: float
) -> None:
    """422 while provisioning: the cluster is set to terminate itself 60 s after it becomes idle."""
    cluster_id = int(XplentyHook(**FAST).create_cluster(nodes=2, terminate_on_idle=False).id)
    emu.advance(started)
    status = "creating" if started else "pending"
    emu.control("DELETE", "requests")
    assert call(flavour, "terminate_cluster_or_expire", cluster_id) == status
    assert requests_of(emu) == [
        (f"DELETE clusters/{cluster_id}", 422),
        (f"GET clusters/{cluster_id}", 200),
        (f"PUT clusters/{cluster_id}", 200),
    ]
    (cluster,) = emu.clusters()
    assert (cluster["terminate_on_idle"], cluster["time_to_idle"]) == (True, 60)
    assert (
        f"Xplenty cluster {cluster_id} is still {status} and cannot be terminated yet; it is now set to "
        "terminate itself after 60s idle"
    ) in logs.text()
    emu.advance(200)  # available at 65 s, idle 60 s later, then terminated
    assert emu.clusters()[0]["status"] == "terminated"


def test_a_cluster_already_terminating_is_left_as_it_is(emu: Any, flavour: str) -> None:
    """422 because it is already going away: its status is returned, nothing is changed."""
    cluster_id = available_cluster(emu)
    XplentyHook(**FAST).terminate_cluster(cluster_id)
    emu.control("DELETE", "requests")
    assert call(flavour, "terminate_cluster_or_expire", cluster_id) == "pending_terminate"
    assert requests_of(emu) == [(f"DELETE clusters/{cluster_id}", 422), (f"GET clusters/{cluster_id}", 200)]


# ---------------------------------------------------------------------------------------------
# get_server_clock_skew
# ---------------------------------------------------------------------------------------------
def test_clock_skew_is_zero_on_the_same_clock_and_costs_no_credit(emu: Any, flavour: str) -> None:
    assert call(flavour, "get_server_clock_skew") == timedelta(0)
    log = emu.requests()
    assert requests_of(emu) == [("GET rate_limit_status", 200)] and log["totals"]["credits"] == 0


@pytest.mark.parametrize("hours", [1, -1])
def test_clock_skew_is_read_from_the_date_header(
    emu: Any, flavour: str, monkeypatch: pytest.MonkeyPatch, hours: int
) -> None:
    shift_date(monkeypatch, timedelta(hours=hours))
    skew = call(flavour, "get_server_clock_skew")
    assert abs(skew - timedelta(hours=hours)) <= timedelta(seconds=2), skew


def test_clock_skew_within_the_header_resolution_is_zero(
    emu: Any, flavour: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    shift_date(monkeypatch, timedelta(seconds=1))
    assert call(flavour, "get_server_clock_skew") == timedelta(0)


def test_clock_skew_never_raises(emu: Any, flavour: str) -> None:
    emu.add_fault(kind="server_error", status=503, count=10, path_contains="rate_limit_status")
    assert call(flavour, "get_server_clock_skew", retry_limit=1) == timedelta(0)
    assert call(flavour, "get_server_clock_skew", xplenty_conn_id="no_such_conn") == timedelta(0)
