"""Concurrency, v1-style aliases, package extras, search language details, web pages."""

from __future__ import annotations

import threading

import requests


def test_concurrent_requests_get_unique_ids_and_consistent_counts(emu, api):
    """Ids stay unique and counts consistent under parallel requests."""
    cluster = api.ready_cluster()
    ids: list[int] = []
    errors: list[str] = []

    def worker() -> None:
        session = emu.session()
        for _ in range(10):
            resp = session.post(
                f"{emu.api_url}/jobs", json={"cluster_id": cluster["id"], "package_id": 101}, timeout=30
            )
            if resp.status_code != 201:
                errors.append(resp.text)
            else:
                ids.append(resp.json()["id"])
            session.get(f"{emu.api_url}/clusters/{cluster['id']}", timeout=30)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(ids) == len(set(ids)) == 60
    emu.advance(6)
    assert api.get(f"/clusters/{cluster['id']}").json()["running_jobs_count"] == 60
    assert emu.requests()["totals"]["count"] >= 120


def test_item_07_v1_form_job_id_alias_and_query_brackets(emu, api):
    cluster = api.cluster()
    resp = api.post(
        "/jobs",
        params={"job[cluster_id]": str(cluster["id"]), "job[job_id]": "102", "job[variables][A]": "'x'"},
    )
    assert resp.status_code == 201
    assert resp.json()["package_id"] == 102 and resp.json()["variables"] == {"A": "'x'"}


def test_packages_include_flow_copy_export(emu, api):
    listed = api.get("/packages", params={"include": "flow"}).json()
    assert all("data_flow_json" in p for p in listed)
    assert "data_flow_json" not in api.get("/packages").json()[0]
    copy = api.post("/packages", json={"name": "copy", "source_package_id": 103})
    assert copy.status_code == 201 and copy.json()["variables"] == {
        "InputPath": "'/input'",
        "OutputPath": "'/output'",
    }
    export = api.get("/packages/103/export").json()
    assert export["name"] == "daily_rollup" and export["variables"]
    assert [p["id"] for p in api.get("/packages", params={"flow_type": "workflow"}).json()] == []


def test_search_language_dates_and_free_text(emu, api):
    api.cluster(name="red-one")
    emu.advance(100)
    later = api.cluster(name="blue-two")
    created = later["created_at"]
    assert [c["name"] for c in api.get("/clusters/search", params={"q": f"created:>{created}"}).json()] == [
        "blue-two"
    ]
    assert [c["name"] for c in api.get("/clusters/search", params={"q": "red"}).json()] == ["red-one"]
    both = api.get("/clusters/search", params={"q": "name:red name:blue"}).json()  # same attribute: OR
    assert len(both) == 2
    assert (
        api.get("/clusters/search", params={"q": "name:red status:available"}).json()[0]["name"] == "red-one"
    )


def test_job_include_log_summary(emu, api):
    cluster = api.ready_cluster()
    job = api.job(cluster["id"])
    emu.add_fault(kind="job_failure", job_id=job["id"], message="disk full")
    emu.advance(40)
    got = api.get(f"/jobs/{job['id']}", params={"include": "log_summary"}).json()
    assert got["log_summary"]["error_summary"] == "disk full"
    assert "failed" in api.get(f"/jobs/{job['id']}/log").json()["body"]


def test_html_pages_and_index(emu, api):
    cluster = api.cluster()
    job = api.job(cluster["id"])
    assert "Job" in requests.get(job["html_url"], timeout=10).text
    assert requests.get(f"{emu.url}/demo/jobs/1", timeout=10).status_code == 404
    assert requests.get(f"{emu.url}/", timeout=10).json()["emulator"] == "xplenty"


def test_delete_requests_log(emu, api):
    api.get("/packages")
    assert emu.control("DELETE", "requests")["ok"] is True
    assert emu.requests()["totals"]["count"] == 0
