"""The ``slow_response`` fault: the server acts on a request and answers late, never, or acts late.

A client's read timeout must not undo what the server did: these tests time out on purpose and then
look at the emulator's state and request log. Waits on real time assert lower bounds only (a busy
machine is slow, never fast); what must happen before a deadline is checked only when the test's own
steps provably ran before it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from airflow_provider_xplenty.testing import EmulatorServer

SHORT = (10, 0.5)  # (connect, read) timeout of an impatient client


def _until(what: Callable[[], Any], timeout: float = 60) -> Any:
    """Poll ``what`` until it is truthy (bounded, for work the server does in the background)."""
    deadline = time.monotonic() + timeout
    while not (value := what()):
        assert time.monotonic() < deadline, "the server never did it"
        time.sleep(0.05)
    return value


def _slow_entries(emu: EmulatorServer) -> list[dict[str, Any]]:
    return [r for r in emu.requests()["requests"] if r.get("fault") == "slow_response"]


def test_slow_response_acts_at_once_while_the_client_times_out(emu, api):
    c = api.ready_cluster()
    emu.add_fault(kind="slow_response", method="POST", path="/jobs", delay=30, count=1)
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.post("/jobs", json={"cluster_id": c["id"], "package_id": 103}, timeout=SHORT)
    entry = {"method": "POST", "path": "/demo/api/jobs", "query": "", "status": 201, "credit": 1}
    assert _until(lambda: _slow_entries(emu)) == [dict(entry, fault="slow_response")]
    jobs = api.get("/jobs").json()
    assert [(j["id"], j["package_id"], j["status"]) for j in jobs] == [(5001, 103, "idle")]
    assert emu.control("GET", "faults")["faults"] == []  # count=1 used up
    again = api.post("/jobs", json={"cluster_id": c["id"], "package_id": 103})
    assert again.status_code == 201 and again.json()["id"] == 5002  # later requests are answered at once


def test_slow_response_answers_a_patient_client_late(emu, api):
    emu.add_fault(kind="slow_response", method="POST", path="/clusters", delay=0.5)
    start = time.monotonic()
    resp = api.post("/clusters", json={"nodes": 2, "name": "late"}, timeout=60)
    assert time.monotonic() - start >= 0.5
    assert resp.status_code == 201 and resp.json()["name"] == "late"
    assert resp.headers["X-RateLimit-Limit"] and resp.headers["X-RateLimit-Remaining"]
    assert [c["id"] for c in emu.clusters()] == [resp.json()["id"]]


def test_slow_response_matches_method_and_path(emu, api):
    emu.add_fault(kind="slow_response", method="POST", path="/jobs", delay=30)
    assert api.get("/jobs", timeout=SHORT).status_code == 200  # GET /jobs: another method
    assert api.post("/clusters", json={"nodes": 2}, timeout=SHORT).status_code == 201  # another path
    assert [f["remaining"] for f in emu.control("GET", "faults")["faults"]] == [1]
    # path_contains works too, and method defaults to POST as for lost_response
    emu.clear_faults()
    emu.add_fault(kind="slow_response", path_contains="clusters", delay=30)
    assert emu.control("GET", "faults")["faults"][0]["method"] == "POST"
    assert api.get("/clusters", timeout=SHORT).status_code == 200


def test_slow_response_act_after_creates_a_late_twin(emu, api):
    """The client times out, looks the job up and finds nothing, re-sends; the original acts later."""
    act_after = 3.0
    c = api.ready_cluster()
    emu.add_fault(kind="slow_response", method="POST", path="/jobs", act_after=act_after)
    body = {"cluster_id": c["id"], "package_id": 103}
    sent = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.post("/jobs", json=body, timeout=SHORT)
    looked = api.get("/jobs").json()
    resent = api.post("/jobs", json=body).json()
    if time.monotonic() - sent < act_after:  # our look-up and re-send surely came before the late act
        assert looked == []
        assert resent["id"] == 5001
    jobs = _until(lambda: len(api.get("/jobs").json()) == 2 and api.get("/jobs").json())
    assert time.monotonic() - sent >= act_after
    assert sorted(j["id"] for j in jobs) == [5001, 5002]  # two jobs for one intent: the twin
    log = [(r["method"], r["status"], r.get("fault")) for r in emu.requests()["requests"]]
    late = log.index(("POST", 201, "slow_response"))
    assert log.index(("POST", 201, None)) < late  # the re-send is logged before the late original


def test_slow_response_act_after_with_a_patient_client(emu, api):
    emu.add_fault(kind="slow_response", method="POST", path="/clusters", act_after=0.5, delay=0.5)
    start = time.monotonic()
    resp = api.post("/clusters", json={"nodes": 2}, timeout=60)
    assert time.monotonic() - start >= 1.0
    assert resp.status_code == 201 and [c["id"] for c in emu.clusters()] == [resp.json()["id"]]


def test_slow_response_never_answers(emu, api):
    emu.add_fault(kind="slow_response", method="POST", path="/clusters", never=True)
    with pytest.raises(requests.exceptions.ReadTimeout):  # held open without a byte, not dropped
        api.post("/clusters", json={"nodes": 2}, timeout=(10, 1))
    _until(lambda: _slow_entries(emu))
    assert [(c["id"], c["status"]) for c in emu.clusters()] == [(1001, "pending")]
    assert api.get("/clusters").status_code == 200  # the server is fine


def test_slow_response_never_with_delay_drops_the_connection(emu, api):
    emu.add_fault(kind="slow_response", method="POST", path="/clusters", never=True, delay=0.3)
    start = time.monotonic()
    with pytest.raises(requests.exceptions.ConnectionError):
        api.post("/clusters", json={"nodes": 2}, timeout=60)
    assert time.monotonic() - start >= 0.3
    assert len(emu.clusters()) == 1
    assert _slow_entries(emu)[0]["status"] == 201


def test_slow_response_cut_short_by_a_reset(emu, api):
    """Work pending when the emulator is reset never lands in the new state (the next test's)."""
    emu.add_fault(kind="slow_response", method="POST", path="/clusters", act_after=1.0)
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.post("/clusters", json={"nodes": 2, "name": "stale"}, timeout=(10, 0.2))
    emu.reset(speed=0)
    time.sleep(1.5)
    assert emu.clusters() == [] and emu.requests()["requests"] == []


def test_slow_response_pending_answers_do_not_hold_up_a_stop():
    """A stop drops answers still waiting for their delay, so the server thread ends at once."""
    server = EmulatorServer(speed=0).start()
    try:
        server.add_fault(kind="slow_response", method="POST", path="/clusters", delay=600)
        with pytest.raises(requests.exceptions.ReadTimeout):
            server.session().post(f"{server.api_url}/clusters", json={"nodes": 2}, timeout=(10, 0.2))
        _until(lambda: _slow_entries(server))
    finally:
        server.stop()
    assert server._thread is not None and not server._thread.is_alive()


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "slow_response"},
        {"kind": "slow_response", "method": "POST", "path": "/jobs"},
        {"kind": "slow_response", "delay": -1},
        {"kind": "slow_response", "act_after": -1},
        {"kind": "slow_response", "delay": 1, "path": "/jobs", "path_contains": "/clusters"},
    ],
)
def test_slow_response_validation(emu, body):
    resp = requests.post(f"{emu.url}/_emulator/faults", json=body, timeout=10)
    assert resp.status_code == 422, resp.text
    assert resp.json()["message"]


def test_latency_differs_from_slow_response(emu, api):
    """``latency`` delays a request before the server reads it: a client that gives up leaves nothing."""
    emu.add_fault(kind="latency", seconds=1.0, method="POST", path="/clusters")
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.post("/clusters", json={"nodes": 2}, timeout=(10, 0.2))
    log = _until(lambda: emu.requests()["requests"])
    assert emu.clusters() == []
    assert [(r["method"], r["status"]) for r in log] == [("POST", 499)]  # client closed the request
