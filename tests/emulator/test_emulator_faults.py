"""Fault injection and the control routes: 429, 5xx, latency, lost responses, clock, seed, log."""

from __future__ import annotations

import time

import httpx
import pytest
import requests


def test_fault_rate_limit_next_n_requests_with_and_without_retry_after(emu, api):
    """Injected 429 bursts (with and without Retry-After)."""
    emu.add_fault(kind="rate_limit", count=2, retry_after=3)
    first = api.get("/packages")
    assert first.status_code == 429
    assert first.json() == {"message": "Rate Limit Exceeded"}
    assert first.headers["Retry-After"] == "3"
    assert first.headers["X-RateLimit-Remaining"] == "0"
    assert api.get("/packages").status_code == 429
    assert api.get("/packages").status_code == 200
    emu.add_fault(kind="rate_limit")
    plain = api.get("/packages")
    assert plain.status_code == 429 and "Retry-After" not in plain.headers


def _window_fault_opens_then_expires(emu, api, expected, **fault):
    """Add a fault lasting ``seconds`` of *real* time and poll until it has expired.

    Wall-clock time is inherent here (the window is real time by design), so only bounds that hold on
    a slow, busy machine are asserted: a response that arrived before the window could have ended
    must be the fault, a request sent after the window had surely ended must succeed, and the first
    success comes no earlier than the window. If the machine stalls so long that no request finishes
    inside the window, the observation proves nothing and is repeated with a longer window.
    """
    for window in (1.0, 5.0, 25.0):
        opened = time.monotonic()
        emu.add_fault(seconds=window, **fault)
        added = time.monotonic()
        codes = []
        while not codes or codes[-1] != 200:
            assert time.monotonic() < added + window + 120, codes  # a hang, not slowness
            before = time.monotonic()
            resp = api.get("/packages")
            after = time.monotonic()
            assert resp.status_code in (expected, 200), resp.text
            if after < opened + window:
                assert resp.status_code == expected, "the fault window closed early"
            if before > added + window:
                assert resp.status_code == 200, "the fault window outlived its seconds"
            if resp.status_code == expected:
                assert resp.json()["message"]
            codes.append(resp.status_code)
            time.sleep(0.05)
        assert after - opened >= window  # lower bound only
        assert api.get("/packages").status_code == 200  # and it stays expired
        if codes[0] == expected:
            return codes
        emu.clear_faults()
    raise AssertionError("no request got through inside a fault window of 25 s")


def test_fault_rate_limit_for_seconds(emu, api):
    codes = _window_fault_opens_then_expires(emu, api, 429, kind="rate_limit")
    assert codes.count(429) >= 1 and codes[-1] == 200
    assert emu.control("GET", "faults")["faults"] == []


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_fault_server_error_next_n(emu, api, status):
    emu.add_fault(kind="server_error", status=status, count=2, path_contains="/clusters")
    assert api.get("/packages").status_code == 200  # other paths are not affected
    for _ in range(2):
        resp = api.get("/clusters")
        assert resp.status_code == status
        assert resp.json()["message"]
        assert "X-RateLimit-Limit" in resp.headers
    assert api.get("/clusters").status_code == 200


def test_fault_server_error_probability_method_and_window(emu, api):
    emu.add_fault(kind="server_error", status=503, probability=0.5, method="GET")
    codes = [api.get("/packages").status_code for _ in range(40)]
    assert 5 < codes.count(503) < 35 and codes.count(200) + codes.count(503) == 40
    assert api.post("/clusters", json={"nodes": 2}).status_code == 201  # POST unaffected
    emu.clear_faults()
    assert all(api.get("/packages").status_code == 200 for _ in range(5))
    codes = _window_fault_opens_then_expires(emu, api, 502, kind="server_error", status=502)
    assert codes[0] == 502 and codes[-1] == 200


def test_fault_latency(emu, api):
    """Which requests are delayed is read from the fault's use count (not from wall-clock upper bounds,
    which a busy machine breaks); the delay itself is real time, so only its lower bound is asserted."""

    def remaining():
        return [f["remaining"] for f in emu.control("GET", "faults")["faults"]]

    emu.add_fault(kind="latency", seconds=0.3, path_contains="/jobs", count=1)
    assert api.get("/packages").status_code == 200
    assert remaining() == [1]  # another path: the fault did not fire, nothing was delayed
    start = time.monotonic()
    assert api.get("/jobs").status_code == 200
    assert time.monotonic() - start >= 0.3
    assert remaining() == []  # count=1 used up: later requests are not delayed
    assert api.get("/jobs").status_code == 200
    assert [(r["path"], r["status"]) for r in emu.requests()["requests"]] == [
        ("/demo/api/packages", 200),
        ("/demo/api/jobs", 200),
        ("/demo/api/jobs", 200),
    ]


def test_fault_lost_response_drop_creates_job(emu, api):
    c = api.ready_cluster()
    emu.add_fault(kind="lost_response", method="POST", path_contains="jobs", mode="drop")
    with pytest.raises(requests.exceptions.ConnectionError):
        api.post("/jobs", json={"cluster_id": c["id"], "package_id": 103})
    jobs = api.get("/jobs").json()
    assert len(jobs) == 1 and jobs[0]["package_id"] == 103  # the server acted
    # httpx sees a transport error too
    emu.add_fault(kind="lost_response", method="POST", path_contains="clusters", mode="drop")
    with pytest.raises(httpx.TransportError):
        httpx.post(
            f"{api.base}/clusters",
            json={"nodes": 2},
            auth=("demo-api-key", ""),
            headers={"Accept": "application/vnd.xplenty+json; version=2"},
            timeout=30,
        )
    assert len(api.get("/clusters").json()) == 2
    assert api.get("/packages").status_code == 200  # the server is fine afterwards
    log = emu.requests()["requests"]
    assert {"method": "POST", "path": "/demo/api/jobs", "query": "", "status": 0, "credit": 1} in log


def test_fault_lost_response_504_creates_cluster(emu, api):
    emu.add_fault(kind="lost_response", method="POST", path_contains="clusters", mode="504", count=2)
    for _ in range(2):
        resp = api.post("/clusters", json={"nodes": 2})
        assert resp.status_code == 504 and resp.json()["message"]
    assert len(api.get("/clusters").json()) == 2  # both requests changed state
    assert api.post("/clusters", json={"nodes": 2}).status_code == 201


def test_control_reset_clock_advance_and_state_history(emu, api):
    clock = emu.control("GET", "clock")
    assert clock["speed"] == 0 and clock["durations"]["cluster_creating"] == 60
    c = api.cluster()
    before = emu.control("GET", "clock")["now"]
    after = emu.advance(65)["now"]
    assert after > before
    requests.post(f"{emu.url}/_emulator/advance?seconds=10", timeout=10).raise_for_status()
    state = emu.state()
    assert set(state) >= {"now", "clusters", "jobs", "packages", "schedules", "hooks"}
    cluster = state["clusters"][0]
    assert cluster["id"] == c["id"] and cluster["account_id"] == "demo"
    assert [h["status"] for h in cluster["history"]] == ["pending", "creating", "available"]
    assert all(h["at"] for h in cluster["history"])
    assert {p["id"] for p in state["packages"]} == {101, 102, 103, 104, 201}
    emu.set_speed(2.5, durations={"job_running": 5})
    assert emu.control("GET", "clock")["speed"] == 2.5
    assert emu.control("GET", "clock")["durations"]["job_running"] == 5
    emu.reset(speed=0)
    assert emu.state()["clusters"] == []
    assert emu.control("GET", "clock")["durations"]["job_running"] == 30
    assert api.cluster()["id"] == 1001  # counters restart with the seed state
    bad = requests.post(f"{emu.url}/_emulator/clock", json={"durations": {"nope": 1}}, timeout=10)
    assert bad.status_code == 422


def test_control_seed_accounts_and_packages(emu):
    emu.seed(
        accounts=[{"account_id": "acme", "api_key": "acme-key", "max_nodes": 3}],
        packages=[{"account_id": "acme", "id": 700, "name": "acme_pkg", "variables": {"X": "'1'"}}],
    )
    acme = requests.Session()
    acme.auth = ("acme-key", "")
    acme.headers["Accept"] = "application/vnd.xplenty+json"
    pkgs = acme.get(f"{emu.url}/acme/api/packages", timeout=10).json()
    assert [p["id"] for p in pkgs] == [700]
    assert acme.post(f"{emu.url}/acme/api/clusters", json={"nodes": 4}, timeout=10).status_code == 422
    # a second key for the demo account
    emu.seed(accounts=[{"account_id": "demo", "api_key": "second-key"}])
    second = requests.get(
        f"{emu.url}/demo/api/packages/103",
        auth=("second-key", ""),
        headers={"Accept": "application/vnd.xplenty+json"},
        timeout=10,
    )
    assert second.status_code == 200


def test_control_request_log_totals_and_credits(emu, api):
    api.get("/packages?status=archived&limit=5")
    api.get("/packages/999")
    api.get("/rate_limit_status")
    requests.get(f"{emu.url}/demo/api/packages", timeout=10)  # no auth -> 401, no credit
    log = emu.requests()
    assert [(r["method"], r["path"], r["query"], r["status"], r["credit"]) for r in log["requests"]] == [
        ("GET", "/demo/api/packages", "status=archived&limit=5", 200, 1),
        ("GET", "/demo/api/packages/999", "", 404, 1),
        ("GET", "/demo/api/rate_limit_status", "", 200, 0),
        ("GET", "/demo/api/packages", "", 401, 0),
    ]
    assert log["totals"] == {"count": 4, "credits": 2, "by_status": {"200": 2, "404": 1, "401": 1}}


def test_control_rate_limit_budget(emu, api):
    emu.set_rate_limit(limit=100, remaining=1)
    resp = api.get("/packages")
    assert resp.headers["X-RateLimit-Limit"] == "100" and resp.headers["X-RateLimit-Remaining"] == "0"
    assert api.get("/packages").status_code == 429
    assert api.get("/rate_limit_status").json() == {"limits": {"limit": 100, "remaining": 0}}


def test_fault_validation(emu):
    for body in (
        {"kind": "meteor"},
        {"kind": "server_error", "status": 418},
        {"kind": "latency"},
        {"kind": "job_failure", "job_id": 424242},
    ):
        resp = requests.post(f"{emu.url}/_emulator/faults", json=body, timeout=10)
        assert resp.status_code == 422, body
        assert resp.json()["message"]
    assert emu.add_fault(kind="server_error", status=503) > 0
    listed = emu.control("GET", "faults")["faults"]
    assert listed and listed[0]["kind"] == "server_error"


def test_fault_path_is_path_contains_by_another_name(emu, api):
    emu.add_fault(kind="server_error", status=503, count=5, path="/clusters")
    assert api.get("/packages").status_code == 200  # not every path, as an ignored key would make it
    assert api.get("/clusters").status_code == 503
    assert emu.control("GET", "faults")["faults"][0]["path"] == "/clusters"
