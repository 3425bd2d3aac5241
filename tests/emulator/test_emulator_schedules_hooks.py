"""Schedules, watchers and hooks, including web hook delivery (checklist items 29-32)."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

SCHEDULE = {
    "name": "nightly",
    "start_at": "2030-01-01T00:00:00Z",
    "interval_amount": 1,
    "interval_unit": "days",
    "task": {
        "nodes": 2,
        "packages": [{"package_id": 101}, {"package_id": 103, "variables": {"InputPath": "'/s'"}}],
    },
}


class Receiver:
    """A tiny web hook receiver on 127.0.0.1."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.event = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                outer.calls.append({"headers": dict(self.headers), "body": body})
                outer.event.set()
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, n: int, timeout: float = 30.0) -> list[dict]:
        """Wait (generously: it returns as soon as ``n`` calls arrived) for ``n`` deliveries."""
        deadline = time.monotonic() + timeout
        while len(self.calls) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.calls

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_item_29_schedule_lifecycle(emu, api):
    resp = api.post("/schedules", json=SCHEDULE)
    assert resp.status_code == 201
    s = resp.json()
    assert s["status"] == "disabled" and s["execution_count"] == 0
    assert s["task"]["packages"][1] == {"package_id": 103, "variables": {"InputPath": "'/s'"}}
    sid = s["id"]
    assert api.get(f"/schedules/{sid}").json()["name"] == "nightly"
    assert [x["id"] for x in api.get("/schedules").json()] == [sid]
    assert [x["id"] for x in api.get("/schedules/search", params={"q": "name:nightly"}).json()] == [sid]
    upd = api.put(f"/schedules/{sid}", json={"status": "enabled", "start_at": "2030-02-01T00:00:00Z"})
    assert upd.status_code == 200
    assert upd.json()["status"] == "enabled" and upd.json()["start_at"] == "2030-02-01T00:00:00Z"
    clone = api.post(f"/schedules/{sid}/clone")
    assert clone.status_code == 201 and clone.json()["name"] == "Copy of nightly"
    assert clone.json()["id"] != sid
    run = api.post(f"/schedules/{sid}/run")
    assert run.status_code == 200
    assert run.json()["execution_count"] == 1 and run.json()["last_run_at"] is not None
    jobs = api.get("/jobs").json()
    assert sorted(j["package_id"] for j in jobs) == [101, 103]
    assert all(j["creator"]["type"] == "Schedule" for j in jobs)
    assert api.put(f"/schedules/{sid}", json={"start_at": "2031-01-01T00:00:00Z"}).status_code == 422
    assert api.put(f"/schedules/{sid}", json={"name": "still ok"}).status_code == 200
    gone = api.delete(f"/schedules/{sid}")
    assert gone.status_code == 200 and gone.json()["id"] == sid
    assert api.get(f"/schedules/{sid}").status_code == 404
    # validation
    assert api.post("/schedules", json={"name": "x"}).status_code == 422  # no task packages
    bad_unit = {**SCHEDULE, "interval_unit": "fortnights"}
    assert api.post("/schedules", json=bad_unit).status_code == 422
    # JAR style: wrapped body and packages keyed by index
    jar = {"schedule": {**SCHEDULE, "task": {"packages": {"0": {"package_id": "102"}}}}}
    created = api.post("/schedules", json=jar)
    assert created.status_code == 201 and created.json()["task"]["packages"][0]["package_id"] == 102


def test_item_30_watchers(emu, api):
    s = api.post("/schedules", json=SCHEDULE).json()
    c = api.cluster()
    j = api.job(c["id"])
    for kind, ident, code in (
        ("clusters", c["id"], 200),
        ("jobs", j["id"], 201),
        ("schedules", s["id"], 200),
    ):
        # the creator watches by default
        assert api.get(f"/{kind}/{ident}/watchers").json() == [{"id": 1, "display_name": "Demo User"}]
        resp = api.delete(f"/{kind}/{ident}/watchers")
        assert resp.status_code == 204 and resp.content == b""
        assert api.get(f"/{kind}/{ident}/watchers").json() == []
        resp = api.post(f"/{kind}/{ident}/watchers")
        assert resp.status_code == code
        body = resp.json()
        assert body["created_at"] and body[f"{kind[:-1]}_url"].endswith(f"/{kind}/{ident}")
    assert api.post("/jobs/99999/watchers").status_code == 404


def test_item_31_hooks_crud(emu, api):
    body = {"type": "web", "events": ["job.completed"], "settings": {"url": "http://127.0.0.1:9/x"}}
    resp = api.post("/hooks", json=body)
    assert resp.status_code == 201
    hook = resp.json()
    assert len(hook["salt"]) == 64 and hook["active"] is True and hook["name"]
    hid = hook["id"]
    assert api.get(f"/hooks/{hid}").json()["events"] == ["job.completed"]
    upd = api.put(f"/hooks/{hid}", json={"events": ["job.failed", "cluster"], "active": False})
    assert upd.status_code == 200 and upd.json()["events"] == ["job.failed", "cluster"]
    assert upd.json()["active"] is False
    salt = api.put(f"/hooks/{hid}/reset_salt")
    assert salt.status_code == 200 and salt.json()["salt"] != hook["salt"] and len(salt.json()["salt"]) == 64
    assert [h["id"] for h in api.get("/hooks").json()] == [hid]
    assert [h["id"] for h in api.get("/hooks", params={"type": "email,slack"}).json()] == []
    assert len(api.get("/hooks/types").json()) == 5
    gone = api.delete(f"/hooks/{hid}")
    assert gone.status_code == 200 and gone.json()["id"] == hid
    assert api.get(f"/hooks/{hid}").status_code == 404
    assert api.post("/hooks", json={**body, "events": ["job.exploded"]}).status_code == 422
    assert api.post("/hooks", json={**body, "type": "carrier-pigeon"}).status_code == 422


def test_item_32_web_hook_delivery_and_signature(emu, api, receiver):
    hook = api.post(
        "/hooks",
        json={"type": "web", "events": ["job", "cluster.available"], "settings": {"url": receiver.url}},
    ).json()
    api.post(
        "/hooks",
        json={"type": "web", "events": ["job"], "settings": {"url": receiver.url}, "active": False},
    )
    c = api.cluster()
    emu.advance(65)  # cluster.available
    job = api.job(c["id"])  # job.submitted
    emu.advance(40)  # job.started, job.completed
    calls = receiver.wait_for(4)
    events = [call["body"]["event"] for call in calls]
    assert sorted(events) == sorted(["cluster.available", "job.submitted", "job.started", "job.completed"])
    assert len(calls) == 4  # the inactive hook sent nothing; cluster.requested was not subscribed
    for call in calls:
        body = call["body"]
        expected = hashlib.sha1(
            f"{body['id']}{body['event']}{body['url']}{hook['salt']}".encode()
        ).hexdigest()
        assert call["headers"]["X-Hook-Signature"] == expected
        assert body["hook_id"] == hook["id"]
    # each body shows the object as it was at its transition, though advance(40) jumped past it
    started = next(c for c in calls if c["body"]["event"] == "job.started")["body"]["data"]
    assert (started["status"], started["progress"], started["runtime_in_seconds"]) == ("running", 0, 0)
    assert started["updated_at"] == started["started_at"]
    done = next(c for c in calls if c["body"]["event"] == "job.completed")["body"]
    assert done["id"] == job["id"] and done["data"]["status"] == "completed"
    assert done["url"].endswith(f"/jobs/{job['id']}")


def test_item_32_ping_records_last_response(emu, api, receiver):
    hook = api.post(
        "/hooks", json={"type": "web", "events": ["job.failed"], "settings": {"url": receiver.url}}
    )
    resp = api.get(f"/hooks/{hook.json()['id']}/ping")
    assert resp.status_code == 200
    ev = resp.json()["events"][0]
    assert ev["id"] == "job.failed"
    assert ev["last_response"]["code"] == 200
    assert ev["last_trigger_status"] == "success" and ev["last_trigger_time"]
    assert receiver.wait_for(1)[0]["body"]["event"] == "job.failed"
