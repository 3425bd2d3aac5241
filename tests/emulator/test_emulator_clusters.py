"""Cluster resource and cluster state machine (checklist items 12-18)."""

from __future__ import annotations

import time

from airflow_provider_xplenty.emulator.clock import iso, parse_iso

CLUSTER_ERROR = "Specified cluster is not available and is in erroneous state."


def _history(emu, kind, ident):
    objs = emu.state()[kind]
    return [h["status"] for h in next(o for o in objs if o["id"] == ident)["history"]]


def test_item_12_create_cluster_defaults(emu, api):
    resp = api.post("/clusters", json={"nodes": 2})
    assert resp.status_code == 201
    c = resp.json()
    assert c["id"] == 1001
    assert c["status"] == "pending"
    assert c["type"] == "production"
    assert c["terminate_on_idle"] is False
    assert c["time_to_idle"] == 3600
    assert c["name"] and "-" in c["name"]
    assert c["region"] == "amazon-web-services::us-east-1"
    assert c["stack"] == "white-everest"
    assert c["running_jobs_count"] == 0
    assert c["url"] == f"{emu.url}/demo/api/clusters/1001"
    assert c["html_url"] == f"{emu.url}/demo/clusters/1001"
    assert c["creator"]["type"] == "User"
    page = api.session.get(c["html_url"], timeout=10)
    assert page.status_code == 200 and "1001" in page.text
    assert api.post("/clusters", json={"nodes": 2}).json()["id"] == 1002


def test_item_13_cluster_validation(emu, api):
    for body in (
        {"nodes": 1},
        {"nodes": 11},
        {},
        {"type": "sandbox", "nodes": 2},
        {"type": "gigantic", "nodes": 2},
        {"nodes": 2, "time_to_idle": -5},
    ):
        resp = api.post("/clusters", json=body)
        assert resp.status_code == 422, body
        assert resp.json()["message"]
    sandbox = api.post("/clusters", json={"type": "sandbox", "nodes": 1}).json()
    assert sandbox["nodes"] == 1
    assert api.post("/clusters", json={"type": "sandbox"}).json()["nodes"] == 1
    assert api.post("/clusters", json={"nodes": 10}).status_code == 201


def test_item_14_provisioning_on_the_clock(emu, api):
    c = api.cluster()
    cid = c["id"]
    emu.advance(4)
    assert api.get(f"/clusters/{cid}").json()["status"] == "pending"
    emu.advance(1)
    got = api.get(f"/clusters/{cid}").json()
    assert got["status"] == "creating" and got["launched_at"] is None
    emu.advance(30)
    got = api.get(f"/clusters/{cid}").json()
    assert got["status"] == "creating" and got["launched_at"] is not None
    emu.advance(30)
    got = api.get(f"/clusters/{cid}").json()
    assert got["status"] == "available"
    assert got["available_since"] >= got["launched_at"]
    assert _history(emu, "clusters", cid) == ["pending", "creating", "available"]
    # durations are configurable
    emu.set_speed(0, durations={"cluster_pending": 1, "cluster_creating": 2})
    fast = api.cluster()
    emu.advance(3)
    assert api.get(f"/clusters/{fast['id']}").json()["status"] == "available"


def test_item_14_speed_runs_transitions_in_real_time(emu, api):
    emu.set_speed(1000)  # 65 emulated seconds take 65 ms
    c = api.cluster(time_to_idle=10**7)  # never idle during the test, however slow the machine is
    deadline = time.monotonic() + 60  # generous: the loop ends as soon as the cluster is available
    status = "pending"
    while status != "available" and time.monotonic() < deadline:
        time.sleep(0.02)
        status = api.get(f"/clusters/{c['id']}").json()["status"]
    assert status == "available"
    assert _history(emu, "clusters", c["id"]) == ["pending", "creating", "available"]


def test_item_10_cluster_updated_at_follows_every_change(emu, api):
    """A cluster's ``updated_at`` is the time of its latest change (status, ``launched_at``, job
    counters, a PUT), so ``since`` finds it; looking at it changes nothing."""
    emu.set_speed(0, max_running_jobs=1)
    c = api.cluster(time_to_idle=100)
    t0 = parse_iso(c["created_at"])
    assert c["updated_at"] == iso(t0)

    def updated():
        return api.get(f"/clusters/{c['id']}").json()["updated_at"]

    emu.advance(20)  # creating since t0 + 5
    assert updated() == iso(t0 + 5)
    emu.advance(20)  # machines launched at t0 + 35 (half of creating)
    got = api.get(f"/clusters/{c['id']}").json()
    assert (got["status"], got["launched_at"], got["updated_at"]) == ("creating", iso(t0 + 35), iso(t0 + 35))
    emu.advance(30)  # available at t0 + 65
    assert updated() == iso(t0 + 65)
    first, second = api.job(c["id"], 101), api.job(c["id"], 102)  # submitted at t0 + 70
    assert updated() == iso(t0 + 70)
    emu.advance(5)  # first running, second queued at t0 + 75: both counters changed
    got = api.get(f"/clusters/{c['id']}").json()
    assert (got["running_jobs_count"], got["queued_jobs_count"], got["updated_at"]) == (1, 1, iso(t0 + 75))
    emu.advance(10)  # the running job's progress is not a change of the cluster
    assert updated() == iso(t0 + 75)
    assert api.get("/clusters", params={"since": iso(t0 + 76)}).json() == []
    emu.advance(20)  # first completes at t0 + 105, second starts: counters change
    got = api.get("/clusters", params={"since": iso(t0 + 76)}).json()
    assert [(x["running_jobs_count"], x["queued_jobs_count"], x["updated_at"]) for x in got] == [
        (1, 0, iso(t0 + 105))
    ]
    emu.advance(30)  # second completes at t0 + 135
    assert updated() == iso(t0 + 135)
    emu.advance(100)  # idle at t0 + 235
    got = api.get(f"/clusters/{c['id']}").json()
    assert (got["status"], got["idle_since"], got["updated_at"]) == ("idle", iso(t0 + 235), iso(t0 + 235))
    emu.advance(5)
    assert api.put(f"/clusters/{c['id']}", json={"description": "x"}).json()["updated_at"] == iso(t0 + 240)
    assert [x["id"] for x in api.get("/clusters", params={"since": iso(t0 + 240)}).json()] == [c["id"]]
    assert [(first["id"], "completed"), (second["id"], "completed")] == [
        (j["id"], api.job_status(j["id"])) for j in (first, second)
    ]


def test_item_15_cluster_failure_fails_jobs(emu, api):
    c = api.cluster()
    job = api.job(c["id"])
    emu.add_fault(kind="cluster_failure", cluster_id=c["id"], message="no capacity")
    got = api.get(f"/clusters/{c['id']}").json()
    assert got["status"] == "error"
    j = api.get(f"/jobs/{job['id']}").json()
    assert j["status"] == "failed"
    assert j["errors"] == CLUSTER_ERROR
    assert j["started_at"] is None
    assert j["failed_at"] == j["completed_at"] is not None
    assert j["progress"] < 1
    # an error cluster can be terminated (the recommended recovery)
    assert api.delete(f"/clusters/{c['id']}").json()["status"] == "pending_terminate"


def test_item_15_next_cluster_fails_provisioning(emu, api):
    emu.add_fault(kind="cluster_failure")
    c = api.cluster()
    job = api.job(c["id"])
    emu.advance(40)
    assert api.get(f"/clusters/{c['id']}").json()["status"] == "creating"
    emu.advance(30)
    assert api.get(f"/clusters/{c['id']}").json()["status"] == "error"
    assert _history(emu, "clusters", c["id"]) == ["pending", "creating", "error"]
    j = api.get(f"/jobs/{job['id']}").json()
    assert (j["status"], j["errors"], j["started_at"]) == ("failed", CLUSTER_ERROR, None)
    assert api.get(f"/clusters/{api.cluster()['id']}").json()["status"] == "pending"  # only one failure


def test_item_16_idle_then_terminate_on_idle(emu, api):
    c = api.ready_cluster(time_to_idle=100)
    emu.advance(99)
    assert api.get(f"/clusters/{c['id']}").json()["status"] == "available"
    emu.advance(1)
    got = api.get(f"/clusters/{c['id']}").json()
    assert got["status"] == "idle" and got["idle_since"] is not None
    # a job submitted to an idle cluster runs, and the cluster is available again
    job = api.job(c["id"])
    assert api.get(f"/clusters/{c['id']}").json()["status"] == "available"
    assert api.get(f"/clusters/{c['id']}").json()["idle_since"] is None
    emu.advance(5)
    assert api.job_status(job["id"]) == "running"
    emu.advance(30)
    assert api.job_status(job["id"]) == "completed"
    emu.advance(100)
    assert api.get(f"/clusters/{c['id']}").json()["status"] == "idle"

    auto = api.ready_cluster(time_to_idle=50, terminate_on_idle=True)
    emu.advance(50)
    got = api.get(f"/clusters/{auto['id']}").json()
    assert got["status"] == "pending_terminate"
    assert got["terminated_on_idle"] is True
    emu.advance(10)
    got = api.get(f"/clusters/{auto['id']}").json()
    assert got["status"] == "terminated" and got["terminated_at"] is not None
    assert _history(emu, "clusters", auto["id"])[-4:] == [
        "idle",
        "pending_terminate",
        "terminating",
        "terminated",
    ]


def test_item_17_terminate_cluster(emu, api):
    c = api.cluster()
    resp = api.delete(f"/clusters/{c['id']}")
    assert resp.status_code == 422  # pending
    emu.advance(10)
    assert api.delete(f"/clusters/{c['id']}").status_code == 422  # creating
    emu.advance(60)
    resp = api.delete(f"/clusters/{c['id']}")
    assert resp.status_code == 200
    assert resp.json()["status"] == "pending_terminate" and resp.json()["terminated_at"] is None
    assert api.delete(f"/clusters/{c['id']}").status_code == 422  # already terminating
    emu.advance(5)
    assert api.get(f"/clusters/{c['id']}").json()["status"] == "terminating"
    emu.advance(5)
    got = api.get(f"/clusters/{c['id']}").json()
    assert got["status"] == "terminated" and got["terminated_at"] is not None
    assert api.delete(f"/clusters/{c['id']}").status_code == 422  # terminated
    assert api.delete("/clusters/424242").status_code == 404
    # an idle cluster can be terminated too
    idle = api.ready_cluster(time_to_idle=10)
    emu.advance(10)
    assert api.delete(f"/clusters/{idle['id']}").json()["status"] == "pending_terminate"


def test_item_17_terminating_cluster_stops_running_jobs(emu, api):
    c = api.ready_cluster()
    job = api.job(c["id"])
    emu.advance(10)
    assert api.job_status(job["id"]) == "running"
    api.delete(f"/clusters/{c['id']}")
    emu.advance(10)
    j = api.get(f"/jobs/{job['id']}").json()
    assert j["status"] == "stopped" and j["completed_at"] is not None


def test_item_18_update_cluster(emu, api):
    c = api.ready_cluster()
    emu.advance(5)
    resp = api.put(
        f"/clusters/{c['id']}",
        json={
            "name": "renamed",
            "description": "d",
            "terminate_on_idle": "t",
            "time_to_idle": 600,
            "nodes": 4,
        },
    )
    assert resp.status_code == 200
    got = resp.json()
    assert (got["name"], got["description"], got["terminate_on_idle"], got["time_to_idle"], got["nodes"]) == (
        "renamed",
        "d",
        True,
        600,
        4,
    )
    assert got["updated_at"] > c["updated_at"]
    assert api.put(f"/clusters/{c['id']}", json={"nodes": 99}).status_code == 422
    sandbox = api.cluster(type="sandbox", nodes=1)
    assert api.put(f"/clusters/{sandbox['id']}", json={"nodes": 2}).status_code == 422
    assert api.put(f"/clusters/{sandbox['id']}", json={"name": "ok"}).status_code == 200
    assert api.put("/clusters/777777", json={"name": "x"}).status_code == 404


def test_cluster_search_watchers_and_instances(emu, api):
    """Cluster watchers, and cluster search (``attr:value``, ``attr:>n``, ``-attr:value``, free text)."""
    a = api.cluster(name="alpha")
    api.cluster(name="beta", nodes=4)
    assert [c["name"] for c in api.get("/clusters/search", params={"q": "name:alpha"}).json()] == ["alpha"]
    assert [c["name"] for c in api.get("/clusters/search", params={"q": "nodes:>3"}).json()] == ["beta"]
    assert [c["name"] for c in api.get("/clusters/search", params={"q": "-name:alpha"}).json()] == ["beta"]
    assert len(api.get("/clusters/search", params={"q": "status:pending"}).json()) == 2
    assert api.get("/clusters/search").status_code == 422
    resp = api.post(f"/clusters/{a['id']}/watchers")
    assert resp.status_code == 200 and resp.json()["cluster_url"].endswith(f"/clusters/{a['id']}")
    assert resp.json()["created_at"]
    assert api.get(f"/clusters/{a['id']}/watchers").json() == [{"id": 1, "display_name": "Demo User"}]
    gone = api.delete(f"/clusters/{a['id']}/watchers")
    assert gone.status_code == 204 and gone.content == b""
    assert api.get(f"/clusters/{a['id']}/watchers").json() == []
    emu.advance(65)
    assert len(api.get(f"/clusters/{a['id']}/instances").json()) == 3
