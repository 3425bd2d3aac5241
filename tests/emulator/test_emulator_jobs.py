"""Job resource and job state machine, outputs and packages (checklist items 19-28)."""

from __future__ import annotations

from airflow_provider_xplenty.emulator.clock import iso, parse_iso

VARS = {"InputPath": "'/input20250101'", "OutputPath": "'/output20250101'"}


def _history(emu, job_id):
    job = next(j for j in emu.jobs() if j["id"] == job_id)
    return [h["status"] for h in job["history"]]


def test_item_19_run_job_response_and_validation(emu, api):
    c = api.ready_cluster()
    resp = api.post("/jobs", json={"cluster_id": c["id"], "package_id": 103, "variables": VARS})
    assert resp.status_code == 201
    job = resp.json()
    assert job["id"] == 5001
    assert job["status"] == "idle"
    assert job["variables"] == VARS
    assert job["progress"] == 0
    assert job["outputs"] == []
    assert (job["cluster_id"], job["package_id"]) == (c["id"], 103)
    assert job["log_url"].endswith("/jobs/5001/log")
    # no idempotency
    again = api.post("/jobs", json={"cluster_id": c["id"], "package_id": 103, "variables": VARS}).json()
    assert again["id"] == 5002
    for body in (
        {"package_id": 103},
        {"cluster_id": c["id"]},
        {"cluster_id": 999999, "package_id": 103},
        {"cluster_id": c["id"], "package_id": 999},
    ):
        resp = api.post("/jobs", json=body)
        assert resp.status_code == 422, body
        assert resp.json()["message"]
    api.delete(f"/clusters/{c['id']}")
    assert (
        api.post("/jobs", json={"cluster_id": c["id"], "package_id": 103}).status_code == 422
    )  # terminating
    emu.advance(10)
    assert api.post("/jobs", json={"cluster_id": c["id"], "package_id": 103}).status_code == 422  # terminated


def test_item_20_job_waits_for_cluster_then_runs(emu, api):
    c = api.cluster()
    job = api.job(c["id"], variables=VARS)
    emu.advance(64)
    assert api.job_status(job["id"]) == "idle"
    emu.advance(1)  # cluster available at 65; job idle at least job_idle=2 -> pending at 65
    assert api.job_status(job["id"]) == "pending"
    emu.advance(3)
    j = api.get(f"/jobs/{job['id']}").json()
    assert j["status"] == "running" and j["started_at"] is not None
    assert _history(emu, job["id"]) == ["idle", "pending", "running"]


def test_item_20_queued_when_cluster_concurrency_exceeded(emu, api):
    emu.set_speed(0, max_running_jobs=1)
    c = api.ready_cluster()
    first = api.job(c["id"], 101)
    second = api.job(c["id"], 102)
    emu.advance(5)
    assert api.job_status(first["id"]) == "running"
    assert api.job_status(second["id"]) == "queued"
    cluster = api.get(f"/clusters/{c['id']}").json()
    assert (cluster["running_jobs_count"], cluster["queued_jobs_count"]) == (1, 1)
    emu.advance(30)
    assert api.job_status(first["id"]) == "completed"
    assert api.job_status(second["id"]) == "running"
    assert _history(emu, second["id"]) == ["idle", "pending", "queued", "running"]


def test_item_21_progress_monotonic_and_running_count(emu, api):
    c = api.ready_cluster()
    jobs = [api.job(c["id"], 101), api.job(c["id"], 102)]
    emu.advance(5)
    last = [0.0, 0.0]
    runtimes = [-1, -1]
    for _ in range(6):
        cluster = api.get(f"/clusters/{c['id']}").json()
        got = [api.get(f"/jobs/{j['id']}").json() for j in jobs]
        running = sum(1 for j in got if j["status"] == "running")
        assert cluster["running_jobs_count"] == running
        for i, j in enumerate(got):
            assert 0 <= j["progress"] <= 1
            assert j["progress"] >= last[i]
            assert j["runtime_in_seconds"] >= runtimes[i]
            last[i], runtimes[i] = j["progress"], j["runtime_in_seconds"]
        emu.advance(6)
    assert last == [1.0, 1.0]
    assert api.get(f"/clusters/{c['id']}").json()["running_jobs_count"] == 0


def test_item_21_running_job_updated_at_advances_with_progress(emu, api):
    """``running -> running``: progress rises in tenths of the run, and ``updated_at`` is the
    emulated time of the latest step, whenever it is observed."""
    c = api.ready_cluster()
    job = api.job(c["id"])
    emu.advance(5)  # idle 2 + pending 3
    j = api.get(f"/jobs/{job['id']}").json()
    assert j["status"] == "running" and j["progress"] == 0
    assert j["updated_at"] == j["started_at"]
    started = parse_iso(j["started_at"])
    emu.advance(2.9)  # not yet a tenth of the 30 s run: nothing moved
    j = api.get(f"/jobs/{job['id']}").json()
    assert (j["progress"], j["updated_at"]) == (0, iso(started))
    emu.advance(0.1)
    for step in range(1, 10):
        j = api.get(f"/jobs/{job['id']}").json()
        assert j["status"] == "running"
        assert j["progress"] == step / 10
        assert j["updated_at"] == iso(started + 3 * step)
        assert j["runtime_in_seconds"] == 3 * step
        emu.advance(1.5)  # looked at half-way to the next step: still the time of the last one
        j = api.get(f"/jobs/{job['id']}").json()
        assert (j["progress"], j["updated_at"]) == (step / 10, iso(started + 3 * step))
        assert j["runtime_in_seconds"] == 3 * step + 1
        emu.advance(1.5)
    j = api.get(f"/jobs/{job['id']}").json()
    assert j["status"] == "completed" and j["progress"] == 1.0
    assert j["updated_at"] == j["completed_at"] == iso(started + 30)
    # a job looked at only once, long after its steps, shows the same deterministic step time
    late = api.job(c["id"])
    emu.advance(5 + 17)
    j = api.get(f"/jobs/{late['id']}").json()
    assert (j["progress"], j["updated_at"]) == (0.5, iso(parse_iso(j["started_at"]) + 15))
    # a stop freezes progress; updated_at is then the time of the stop request
    emu.advance(1)
    stopped = api.delete(f"/jobs/{late['id']}").json()
    assert (stopped["progress"], stopped["updated_at"]) == (0.6, iso(parse_iso(j["started_at"]) + 18))


def test_item_22_completed_job_outputs(emu, api):
    c = api.ready_cluster()
    job = api.job(c["id"], variables=VARS)
    emu.advance(2 + 3 + 30)
    j = api.get(f"/jobs/{job['id']}").json()
    assert j["status"] == "completed"
    assert j["progress"] == 1.0
    assert j["completed_at"] is not None and j["failed_at"] is None
    assert j["errors"] in (None, "")
    assert j["runtime_in_seconds"] == 30
    assert j["outputs_count"] == len(j["outputs"]) == 2
    for out in j["outputs"]:
        assert {"id", "name", "records_count", "component", "preview_url", "url"} <= set(out)
        assert out["records_count"] > 0
        assert out["url"].endswith(f"/jobs/{job['id']}/outputs/{out['id']}")
    assert j["outputs"][0]["id"] == 9001
    single = api.get(f"/jobs/{job['id']}/outputs/{j['outputs'][0]['id']}")
    assert single.status_code == 200 and single.json()["id"] == 9001


def test_item_23_job_failure_injection(emu, api):
    c = api.ready_cluster()
    job = api.job(c["id"])
    emu.add_fault(kind="job_failure", job_id=job["id"], message="Boom: bad input")
    emu.advance(40)
    j = api.get(f"/jobs/{job['id']}").json()
    assert j["status"] == "failed"
    assert j["errors"] == "Boom: bad input"
    assert j["failed_at"] == j["completed_at"] is not None
    assert j["progress"] < 1
    assert j["started_at"] is not None


def test_item_23_next_jobs_of_a_package_fail(emu, api):
    c = api.ready_cluster()
    emu.add_fault(kind="job_failure", package_id=101, count=2)
    ok = api.job(c["id"], 103)
    bad = [api.job(c["id"], 101), api.job(c["id"], 101)]
    fine = api.job(c["id"], 101)
    emu.advance(40)
    assert api.job_status(ok["id"]) == "completed"
    for j in bad:
        got = api.get(f"/jobs/{j['id']}").json()
        assert got["status"] == "failed" and got["errors"] == "Package failed to execute."
    assert api.job_status(fine["id"]) == "completed"
    # a running job fails when the fault arrives after its half-way point
    late = api.job(c["id"], 102)
    emu.advance(25)
    emu.add_fault(kind="job_failure", job_id=late["id"])
    assert api.job_status(late["id"]) == "failed"


def test_item_24_stop_job(emu, api):
    c = api.ready_cluster()
    job = api.job(c["id"])
    emu.advance(10)
    resp = api.delete(f"/jobs/{job['id']}")
    assert resp.status_code == 200 and resp.json()["status"] == "pending_stoppage"
    emu.advance(1.5)
    assert api.job_status(job["id"]) == "stopping"
    emu.advance(1.5)
    j = api.get(f"/jobs/{job['id']}").json()
    assert j["status"] == "stopped" and j["completed_at"] is not None
    assert _history(emu, job["id"])[-3:] == ["pending_stoppage", "stopping", "stopped"]
    assert api.delete(f"/jobs/{job['id']}").status_code == 422  # already stopped
    done = api.job(c["id"])
    emu.advance(40)
    assert api.delete(f"/jobs/{done['id']}").status_code == 422  # completed
    assert api.delete("/jobs/123456").status_code == 404
    idle = api.job(c["id"])
    assert api.delete(f"/jobs/{idle['id']}").json()["status"] == "pending_stoppage"


def test_item_25_preview_deterministic_from_variables(emu, api):
    c = api.ready_cluster()
    job = api.job(c["id"], variables=VARS)
    twin = api.job(c["id"], variables=VARS)
    other = api.job(c["id"], variables={"InputPath": "'/input20250102'"})
    emu.advance(40)
    previews = []
    for j in (job, twin, other):
        got = api.get(f"/jobs/{j['id']}").json()
        resp = api.get(f"/jobs/{j['id']}/outputs/{got['outputs'][0]['id']}/preview")
        assert resp.status_code == 200
        body = resp.json()
        assert set(body) == {"preview", "url"}
        assert body["url"].endswith("/preview")
        lines = body["preview"].split("\n")
        assert 1 < len(lines) <= 100
        previews.append(lines)
    assert previews[0][0] == "InputPath=/input20250101\tOutputPath=/output20250101"
    assert previews[0] == previews[1]  # deterministic
    assert previews[2][0] == "InputPath=/input20250102\tOutputPath=/output"  # package default filled in
    assert previews[2][2:] != previews[0][2:]
    assert "\t" in previews[0][2]
    assert api.get(f"/jobs/{job['id']}/outputs/1/preview").status_code == 404


def test_item_26_variables_log_children(emu, api):
    c = api.ready_cluster()
    job = api.job(c["id"], 102, variables={"InputPath": "'/x'"}, dynamic_variables={"Now": "CurrentTime()"})
    merged = api.get(f"/jobs/{job['id']}/variables").json()
    assert merged == {"InputPath": "'/x'", "OutputPath": "'/orders_enriched'", "Now": "CurrentTime()"}
    log = api.get(f"/jobs/{job['id']}/log").json()
    assert set(log) == {"body", "url"} and log["url"].endswith(f"/jobs/{job['id']}/log")
    children = api.get(f"/jobs/{job['id']}/children")
    assert children.status_code == 200 and children.json() == []
    assert api.get("/jobs/99999/variables").status_code == 404


def test_item_27_include_cluster_and_package(emu, api):
    c = api.ready_cluster()
    job = api.job(c["id"])
    plain = api.get(f"/jobs/{job['id']}").json()
    assert "cluster" not in plain and "package" not in plain
    full = api.get(f"/jobs/{job['id']}", params={"include": "cluster,package"}).json()
    assert full["cluster"]["id"] == c["id"] and full["cluster"]["status"] == "available"
    assert full["package"]["id"] == 103 and full["package"]["variables"]
    only = api.get(f"/jobs/{job['id']}", params={"include": "cluster"}).json()
    assert "cluster" in only and "package" not in only


def test_list_jobs_items_embed_cluster_and_package(emu, api):
    """As the list-jobs examples show: every item embeds both objects, with or without ``include``."""
    c = api.ready_cluster()
    job = api.job(c["id"])
    for params in ({}, {"include": "package"}, {"include": "cluster,package"}, {"status": "idle"}):
        (item,) = api.get("/jobs", params=params).json()
        assert item["cluster"] == api.get(f"/clusters/{c['id']}").json()
        assert item["package"]["id"] == 103 and item["package"]["name"] == "daily_rollup"
        assert item["package"]["variables"] == {"InputPath": "'/input'", "OutputPath": "'/output'"}
        assert {k: v for k, v in item.items() if k not in ("cluster", "package")} == job
    assert set(api.get(f"/jobs/{job['id']}").json()) == set(job)  # GET jobs/{id} embeds only on request


def test_hook_reads_list_jobs_items_with_embeds(emu, api):
    from airflow_provider_xplenty.hooks.xplenty import XplentyHook
    from airflow_provider_xplenty.models import Cluster, Package

    c = api.ready_cluster()
    job = api.job(c["id"], variables={"InputPath": "'/x'"})
    with XplentyHook() as hook:
        (listed,) = hook.list_jobs()
        got = hook.get_job(job["id"])
    assert listed.id == job["id"] and listed.variables == {"InputPath": "'/x'"}
    assert isinstance(listed.cluster, Cluster) and listed.cluster.id == c["id"]
    assert listed.cluster.status == "available"
    assert isinstance(listed.package, Package) and listed.package.name == "daily_rollup"
    assert got.cluster is None and got.package is None


def test_item_28_packages(emu, api):
    active = api.get("/packages").json()
    assert {p["id"] for p in active} == {101, 102, 103}
    archived = api.get("/packages", params={"status": "archived"}).json()
    assert [p["id"] for p in archived] == [104]
    p = api.get("/packages/103").json()
    assert p["name"] == "daily_rollup"
    assert p["variables"] == {"InputPath": "'/input'", "OutputPath": "'/output'"}
    assert api.get("/packages/999").status_code == 404
    resp = api.delete("/packages/101")
    assert resp.status_code == 200 and resp.json()["status"] == "archived"
    assert {p["id"] for p in api.get("/packages").json()} == {102, 103}
    by_name = api.get("/packages", params={"sort": "name", "direction": "asc", "status": "archived"}).json()
    assert [p["name"] for p in by_name] == ["legacy_export", "load_customers"]
    found = api.get("/packages/search", params={"q": 'name:"daily_rollup"'}).json()
    assert [p["id"] for p in found] == [103]
    created = api.post("/packages", json={"name": "new_pkg", "variables": {"A": "'1'"}})
    assert created.status_code == 201
    updated = api.put(f"/packages/{created.json()['id']}", json={"description": "changed"})
    assert updated.status_code == 200 and updated.json()["description"] == "changed"


def test_job_search_and_watchers(emu, api):
    """Job watchers (201 on create) and job search."""
    c = api.ready_cluster()
    job = api.job(c["id"], 101)
    api.job(c["id"], 103)
    found = api.get("/jobs/search", params={"q": "package:load_customers"}).json()
    assert [j["id"] for j in found] == [job["id"]]
    assert len(api.get("/jobs/search", params={"q": "status:idle"}).json()) == 2
    resp = api.post(f"/jobs/{job['id']}/watchers")
    assert resp.status_code == 201 and resp.json()["job_url"].endswith(f"/jobs/{job['id']}")
    assert api.get(f"/jobs/{job['id']}/watchers").json() == [{"id": 1, "display_name": "Demo User"}]
    assert api.delete(f"/jobs/{job['id']}/watchers").status_code == 204


def test_item_24_stopping_a_running_job_frees_its_slot(emu, api):
    """A stop frees the slot for a queued job, but stopping a queued one does not."""
    emu.set_speed(0, max_running_jobs=1)
    c = api.ready_cluster()
    first, second, third = api.job(c["id"], 101), api.job(c["id"], 102), api.job(c["id"], 103)
    emu.advance(5)
    assert [api.job_status(j["id"]) for j in (first, second, third)] == ["running", "queued", "queued"]
    api.delete(f"/jobs/{third['id']}")
    assert api.job_status(second["id"]) == "queued"
    api.delete(f"/jobs/{first['id']}")
    assert api.job_status(second["id"]) == "running"
    emu.advance(3)
    assert [api.job_status(j["id"]) for j in (first, second, third)] == ["stopped", "running", "stopped"]


def test_variables_are_stored_as_strings(emu, api):
    """Variables are string -> string: numbers and booleans come back as ``str(value)``."""
    c = api.ready_cluster()
    sent = {"N": 10, "Ratio": 0.5, "Flag": True, "Path": "'/in'"}
    as_text = {"N": "10", "Ratio": "0.5", "Flag": "True", "Path": "'/in'"}
    job = api.job(c["id"], variables=sent, dynamic_variables={"Limit": 5})
    assert job["variables"] == as_text and job["dynamic_variables"] == {"Limit": "5"}
    assert api.get(f"/jobs/{job['id']}").json()["variables"] == as_text
    assert api.get(f"/jobs/{job['id']}/variables").json()["N"] == "10"
    listed = api.get("/jobs", params={"package_id": 103}).json()
    assert next(j for j in listed if j["id"] == job["id"])["variables"] == as_text
    nested = api.post("/jobs", json={"cluster_id": c["id"], "package_id": 103, "variables": {"X": {"a": 1}}})
    assert nested.status_code == 422
    pkg = api.post("/packages", json={"name": "numbers", "variables": {"Days": 7}}).json()
    assert pkg["variables"] == {"Days": "7"}
