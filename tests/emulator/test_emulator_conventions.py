"""API conventions: routing, auth, Accept, rate limits, bodies, booleans, pagination, filters, errors."""

from __future__ import annotations

import base64
import json
import re

import requests

from airflow_provider_xplenty.emulator.clock import iso, parse_iso

ACCEPT = "application/vnd.xplenty+json; version=2"


def _raw(emu, method, path, *, auth=None, accept=ACCEPT, **kwargs):
    headers = kwargs.pop("headers", {})
    if accept is not None:
        headers["Accept"] = accept
    if auth is not None:
        headers["Authorization"] = auth
    return requests.request(method, emu.url + path, headers=headers, timeout=10, **kwargs)


def _basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


def test_item_01_routes_under_account_and_unknown_account_404(emu, api):
    assert api.get("/packages").status_code == 200
    resp = _raw(emu, "GET", "/nosuch/api/packages", auth=_basic("demo-api-key:"))
    assert resp.status_code == 404
    assert "message" in resp.json()


def test_item_02_basic_auth_both_forms_and_401(emu):
    for cred in ("demo-api-key:", "demo-api-key"):
        assert _raw(emu, "GET", "/demo/api/packages", auth=_basic(cred)).status_code == 200
    for auth in (None, _basic("wrong-key:"), "Bearer demo-api-key", "Basic !!!"):
        resp = _raw(emu, "GET", "/demo/api/packages", auth=auth)
        assert resp.status_code == 401
        assert resp.json()["message"]


def test_item_03_accept_header_variants_and_missing_vendor_type(emu):
    auth = _basic("demo-api-key:")
    for accept in (
        "application/vnd.xplenty+json; version=2",
        "application/vnd.xplenty+json, version=2",
        "application/vnd.xplenty+json version=2",
        "application/vnd.xplenty+json",
        "application/vnd.xplenty+json;version=1",
    ):
        assert _raw(emu, "GET", "/demo/api/packages", auth=auth, accept=accept).status_code == 200, accept
    for accept in (None, "application/json", "*/*"):
        resp = _raw(emu, "GET", "/demo/api/packages", auth=auth, accept=accept)
        assert resp.status_code == 404
        assert "message" in resp.json()
    emu.set_speed(0, accept_status=406)
    assert _raw(emu, "GET", "/demo/api/packages", auth=auth, accept="application/json").status_code == 406


def test_item_04_rate_limit_headers_on_every_response_and_decrement(emu, api):
    first = api.get("/packages")
    second = api.get("/packages/99999")  # an error still carries the headers and costs a credit
    assert second.status_code == 404
    assert first.headers["X-RateLimit-Limit"] == "5000"
    assert int(first.headers["X-RateLimit-Remaining"]) - 1 == int(second.headers["X-RateLimit-Remaining"])
    unauth = _raw(emu, "GET", "/demo/api/packages", auth=None)
    assert "X-RateLimit-Limit" in unauth.headers and "X-RateLimit-Remaining" in unauth.headers


def test_item_05_budget_exhausted_429_until_window_resets(emu, api):
    emu.set_rate_limit(limit=3)
    codes = [api.get("/packages").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    resp = api.get("/packages")
    assert resp.json() == {"message": "Rate Limit Exceeded"}
    assert resp.headers["X-RateLimit-Remaining"] == "0"
    emu.advance(3600)  # the hourly window runs on the emulated clock
    resp = api.get("/packages")
    assert resp.status_code == 200
    assert resp.headers["X-RateLimit-Remaining"] == "2"


def test_item_06_rate_limit_status_is_free_at_both_paths(emu, api):
    api.get("/packages")
    before = api.get("/rate_limit_status")
    assert before.status_code == 200
    body = before.json()
    assert body == {"limits": {"limit": 5000, "remaining": 4999}}
    again = api.get("/rate_limit_status").json()
    assert again == body
    root = _raw(emu, "GET", "/rate_limit_status", auth=_basic("demo-api-key:"))
    assert root.json() == body
    assert emu.requests()["totals"]["credits"] == 1


def test_item_07_four_body_encodings_give_identical_clusters(emu, api):
    fields = ("status", "nodes", "type", "name", "terminate_on_idle", "time_to_idle", "description")
    flat = api.post(
        "/clusters", json={"nodes": 3, "name": "enc", "terminate_on_idle": True, "time_to_idle": 120}
    )
    wrapped = api.post(
        "/clusters",
        json={"cluster": {"nodes": 3, "name": "enc", "terminate_on_idle": True, "time_to_idle": 120}},
    )
    form = api.post(
        "/clusters",
        data="cluster[nodes]=3&cluster[name]=enc&cluster[terminate_on_idle]=1&cluster[time_to_idle]=120",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    query = api.post(
        "/clusters",
        params={
            "cluster[nodes]": "3",
            "cluster[name]": "enc",
            "cluster[terminate_on_idle]": "t",
            "cluster[time_to_idle]": "120",
        },
    )
    results = [r.json() for r in (flat, wrapped, form, query)]
    assert [r.status_code for r in (flat, wrapped, form, query)] == [201] * 4
    views = [{k: r[k] for k in fields} for r in results]
    assert all(v == views[0] for v in views), views
    # jobs: variables in bracket form and wrapped JSON
    cid = results[0]["id"]
    job_form = api.post(
        "/jobs",
        data=f"job[cluster_id]={cid}&job[package_id]=103&job[variables][InputPath]='/in'",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ).json()
    job_json = api.post(
        "/jobs", json={"job": {"cluster_id": cid, "package_id": 103, "variables": {"InputPath": "'/in'"}}}
    ).json()
    assert job_form["variables"] == job_json["variables"] == {"InputPath": "'/in'"}


def test_item_07_get_parameters_from_query_or_json_body(emu, api):
    api.cluster()
    api.cluster(type="sandbox", nodes=1)
    by_query = api.get("/clusters", params={"limit": 1}).json()
    by_body = api.get(
        "/clusters", data=json.dumps({"limit": 1}), headers={"Content-Type": "application/json"}
    ).json()
    assert len(by_query) == len(by_body) == 1
    assert by_query == by_body


def test_item_08_lenient_booleans(emu, api):
    for value, expected in (
        (True, True),
        (False, False),
        (1, True),
        (0, False),
        ("t", True),
        ("f", False),
        ("true", True),
        ("false", False),
        ("1", True),
        ("0", False),
    ):
        got = api.post("/clusters", json={"nodes": 2, "terminate_on_idle": value})
        assert got.status_code == 201
        assert got.json()["terminate_on_idle"] is expected, value
    assert api.post("/clusters", json={"nodes": 2, "terminate_on_idle": "maybe"}).status_code == 422


def _links(resp):
    header = resp.headers.get("Link", "")
    return dict((rel, url) for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', header))


def test_item_09_bare_arrays_pagination_and_link_header(emu, api):
    cluster = api.cluster()
    for _ in range(25):
        api.job(cluster["id"], 101)
    first = api.get("/jobs", params={"status": "all"})
    assert isinstance(first.json(), list) and len(first.json()) == 20  # default limit
    links = _links(first)
    assert "prev" not in links
    assert "offset=20" in links["next"] and "limit=20" in links["next"] and "status=all" in links["next"]
    second = requests.get(links["next"], auth=("demo-api-key", ""), headers={"Accept": ACCEPT}, timeout=10)
    assert len(second.json()) == 5
    assert "next" not in _links(second)
    assert "offset=0" in _links(second)["prev"]
    ids = [j["id"] for j in first.json()] + [j["id"] for j in second.json()]
    assert len(set(ids)) == 25
    clamped = api.get("/jobs", params={"limit": 500})
    assert len(clamped.json()) == 25  # fewer than the clamp of 100
    middle = api.get("/jobs", params={"offset": 10, "limit": 10})
    assert "offset=20" in _links(middle)["next"] and "offset=0" in _links(middle)["prev"]
    for _ in range(80):
        api.job(cluster["id"], 101)
    assert len(api.get("/jobs", params={"limit": 500}).json()) == 100


def test_item_10_filters_sort_direction_and_since(emu, api):
    c1 = api.cluster(name="first")
    emu.advance(10)
    c2 = api.cluster(name="second", type="sandbox", nodes=1)
    emu.advance(100)  # both available
    c3 = api.cluster(name="third")
    names = [c["name"] for c in api.get("/clusters").json()]
    assert names == ["third", "second", "first"]  # created desc by default
    assert [c["name"] for c in api.get("/clusters", params={"direction": "asc"}).json()] == [
        "first",
        "second",
        "third",
    ]
    assert [c["name"] for c in api.get("/clusters", params={"status": "pending"}).json()] == ["third"]
    assert len(api.get("/clusters", params={"status": "all"}).json()) == 3
    emu.advance(1)
    api.put(f"/clusters/{c1['id']}", json={"description": "touched"})
    assert api.get("/clusters", params={"sort": "updated"}).json()[0]["id"] == c1["id"]
    since = api.get(f"/clusters/{c3['id']}").json()["updated_at"]
    recent = {c["id"] for c in api.get("/clusters", params={"since": since}).json()}
    assert recent == {c1["id"], c3["id"]}  # inclusive; c2 was last updated earlier
    assert c2["id"] not in recent
    # jobs: status and package_id filters
    j1 = api.job(c1["id"], 101)
    api.job(c1["id"], 103)
    by_package = api.get("/jobs", params={"package_id": 101}).json()
    assert [j["id"] for j in by_package] == [j1["id"]]
    assert len(api.get("/jobs", params={"status": "idle"}).json()) == 2
    assert api.get("/jobs", params={"status": "completed"}).json() == []
    # schedules filter by status
    sched = {"name": "s", "task": {"packages": [{"package_id": 101}]}}
    api.post("/schedules", json=sched)
    api.post("/schedules", json={**sched, "status": "enabled"})
    assert len(api.get("/schedules", params={"status": "enabled"}).json()) == 1
    assert len(api.get("/schedules", params={"status": "all"}).json()) == 2
    assert api.get("/clusters", params={"direction": "sideways"}).status_code == 422


def test_item_10_since_and_sort_updated_follow_running_progress(emu, api):
    """A running job whose progress moved counts as updated (``running -> running``), so
    ``GET /jobs?sort=updated&since=...`` (what a shared status poller asks) lists it."""
    c = api.ready_cluster()
    a = api.job(c["id"], 101)
    emu.advance(1)
    b = api.job(c["id"], 102)
    emu.advance(5)  # a started 1 s ago, b just now
    start_a = parse_iso(api.get(f"/jobs/{a['id']}").json()["started_at"])
    assert api.get(f"/jobs/{b['id']}").json()["started_at"] == iso(start_a + 1)

    def listed(since):
        got = api.get("/jobs", params={"sort": "updated", "since": iso(since)}).json()
        return [(j["id"], j["updated_at"], j["progress"]) for j in got]

    emu.advance(1)  # start_a + 2: no progress step yet
    assert listed(start_a + 2) == []
    emu.advance(1)  # start_a + 3: a's first step (its status did not change)
    assert listed(start_a + 2) == [(a["id"], iso(start_a + 3), 0.1)]
    emu.advance(1)  # start_a + 4: b's first step, newer than a's
    assert listed(start_a + 2) == [(b["id"], iso(start_a + 4), 0.1), (a["id"], iso(start_a + 3), 0.1)]
    asc = api.get("/jobs", params={"sort": "updated", "direction": "asc"}).json()
    assert [j["id"] for j in asc] == [a["id"], b["id"]]
    assert listed(start_a + 5) == []
    emu.advance(2)  # start_a + 6: a's second step
    assert listed(start_a + 5) == [(a["id"], iso(start_a + 6), 0.2)]
    assert [j["id"] for j in api.get("/jobs", params={"sort": "updated"}).json()] == [a["id"], b["id"]]
    # the default order (created) does not move
    assert [j["id"] for j in api.get("/jobs").json()] == [b["id"], a["id"]]
    # clusters: the job counters are part of the object, so their changes advance updated_at too
    assert api.get(f"/clusters/{c['id']}").json()["updated_at"] == iso(start_a + 1)  # b started
    assert api.get("/clusters", params={"since": iso(start_a + 2)}).json() == []
    emu.advance(24)  # start_a + 30: a completes, running_jobs_count 2 -> 1
    got = api.get("/clusters", params={"since": iso(start_a + 2)}).json()
    assert [(x["id"], x["running_jobs_count"], x["updated_at"]) for x in got] == [
        (c["id"], 1, iso(start_a + 30))
    ]


TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
CLUSTER_KEYS = {
    "id",
    "name",
    "description",
    "status",
    "owner_id",
    "plan_id",
    "nodes",
    "type",
    "created_at",
    "updated_at",
    "available_since",
    "launched_at",
    "terminated_at",
    "idle_since",
    "running_jobs_count",
    "queued_jobs_count",
    "terminate_on_idle",
    "time_to_idle",
    "terminated_on_idle",
    "region",
    "zone",
    "master_instance_type",
    "slave_instance_type",
    "master_spot_price",
    "slave_spot_price",
    "master_spot_percentage",
    "slave_spot_percentage",
    "allow_fallback",
    "stack",
    "bootstrap_actions",
    "url",
    "html_url",
    "creator",
}
JOB_KEYS = {
    "id",
    "status",
    "variables",
    "dynamic_variables",
    "owner_id",
    "progress",
    "outputs_count",
    "outputs",
    "started_at",
    "created_at",
    "updated_at",
    "failed_at",
    "completed_at",
    "cluster_id",
    "package_id",
    "errors",
    "runtime_in_seconds",
    "url",
    "html_url",
    "log_url",
    "creator",
    "attempts",
}


def test_item_11_timestamps_nulls_and_all_keys_present(emu, api):
    cluster = api.cluster()
    job = api.job(cluster["id"])
    assert set(cluster) >= CLUSTER_KEYS
    assert set(job) >= JOB_KEYS
    assert cluster["available_since"] is None and cluster["terminated_at"] is None
    assert job["started_at"] is None and job["failed_at"] is None
    for obj in (cluster, job):
        for key, value in obj.items():
            if key.endswith(("_at", "_since")) and value is not None:
                assert TS.match(value), (key, value)
    pkg = api.get("/packages/103").json()
    assert {"id", "name", "description", "variables", "owner_id", "created_at", "updated_at", "url"} <= set(
        pkg
    )
    assert {
        "html_url",
        "status",
        "flow_type",
        "version",
        "flow_version",
        "package_version",
        "item_id",
    } <= set(pkg)


def test_item_33_unknown_routes_ids_malformed_json_and_validation(emu, api):
    for path in ("/nothing", "/clusters/1/nothing", "/clusters/abc", "/jobs/999999", "/packages/0"):
        resp = api.get(path)
        assert resp.status_code == 404, path
        assert resp.json()["message"]
    resp = api.post("/clusters", data="{not json", headers={"Content-Type": "application/json"})
    assert resp.status_code == 400 and "message" in resp.json()
    resp = api.post("/clusters", data="[1, 2]", headers={"Content-Type": "application/json"})
    assert resp.status_code == 400
    resp = api.post("/clusters", json={"nodes": "many"})
    assert resp.status_code == 422
    assert resp.json()["message"] and "nodes" in resp.json()["errors"]
    resp = api.post("/jobs", json={})
    assert resp.status_code == 422 and "cluster_id" in resp.json()["errors"]
    resp = api.post("/clusters", data="<xml/>", headers={"Content-Type": "application/xml"})
    assert resp.status_code == 415
    assert api.request("PATCH", "/clusters").status_code == 404
    bad_control = requests.post(emu.url + "/_emulator/advance", json={"seconds": -1}, timeout=10)
    assert bad_control.status_code == 422 and "message" in bad_control.json()
    for resp in (api.get("/nothing"), api.post("/clusters", json={"nodes": "x"})):
        assert "Traceback" not in resp.text


def test_item_34_visibility_is_per_account(emu, api):
    other = type(api)(emu, account="other", api_key="other-api-key")
    cluster = api.cluster()
    job = api.job(cluster["id"])
    assert other.get(f"/clusters/{cluster['id']}").status_code == 404
    assert other.get(f"/jobs/{job['id']}").status_code == 404
    assert other.get("/packages/103").status_code == 404
    assert api.get("/packages/201").status_code == 404
    assert other.get("/packages/201").status_code == 200
    assert other.get("/clusters").json() == []
    assert other.post("/jobs", json={"cluster_id": cluster["id"], "package_id": 201}).status_code == 422
    # a key is only valid for its own account
    cross = requests.get(
        emu.url + "/other/api/packages", auth=("demo-api-key", ""), headers={"Accept": ACCEPT}, timeout=10
    )
    assert cross.status_code == 404
