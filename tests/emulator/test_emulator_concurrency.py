"""Two clients at once against one emulator, and the store's lock under concurrent creates.

``POST /clusters`` and ``POST /jobs`` are not idempotent (docs/api-notes.md): two identical requests
in flight together must make two objects, never one shared or a clash of ids.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from airflow_provider_xplenty.emulator.state import Store


def _together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls in threads of their own, released at the same moment; return their results."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        start.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return [f.result(timeout=120) for f in [pool.submit(run, call) for call in calls]]


def test_two_clients_create_clusters_with_one_name(emu, new_api):
    clients = [new_api(), new_api()]  # a session (connection pool) each, as two workers would have
    made = _together([lambda c=c: c.post("/clusters", json={"nodes": 2, "name": "shared"}) for c in clients])
    assert [r.status_code for r in made] == [201, 201]
    ids = sorted(r.json()["id"] for r in made)
    assert ids == [1001, 1002]
    assert sorted((c["id"], c["name"]) for c in emu.clusters()) == [(1001, "shared"), (1002, "shared")]


def test_two_clients_run_the_same_job(emu, api, new_api):
    cluster = api.ready_cluster()
    body = {"cluster_id": cluster["id"], "package_id": 103, "variables": {"InputPath": "'/in'"}}
    clients = [new_api(), new_api()]
    made = _together([lambda c=c: c.post("/jobs", json=body) for c in clients])
    assert [r.status_code for r in made] == [201, 201]
    assert sorted(r.json()["id"] for r in made) == [5001, 5002]
    assert sorted(j["id"] for j in emu.jobs()) == [5001, 5002]


def test_two_clients_many_creates_keep_ids_log_and_credits_consistent(emu, api, new_api):
    cluster = api.ready_cluster()
    emu.control("DELETE", "requests")
    per_client = 15

    job = {"cluster_id": cluster["id"], "package_id": 103}

    def client_work() -> list[int]:
        client = new_api()
        ids = []
        for _ in range(per_client):
            ids.append(client.post("/clusters", json={"nodes": 2}).json()["id"])
            ids.append(client.post("/jobs", json=job).json()["id"])
        return ids

    first, second = _together([client_work, client_work])
    made = first + second
    assert len(set(made)) == len(made) == 4 * per_client
    state = emu.state()
    assert len(state["clusters"]) == 1 + 2 * per_client and len(state["jobs"]) == 2 * per_client
    n = 4 * per_client
    assert emu.requests()["totals"] == {"count": n, "credits": n, "by_status": {"201": n}}


def test_store_creates_from_threads_get_distinct_ids():
    """The store's lock, driven from plain threads (as code holding ``EmulatorServer.store`` may do)."""
    store = Store(speed=0)
    cluster = store.create_cluster("demo", {"nodes": 2})
    per_thread = 200

    def create_many() -> list[tuple[int, int]]:
        return [
            (
                store.create_cluster("demo", {"nodes": 2, "name": "same"}).id,
                store.create_job("demo", {"cluster_id": cluster.id, "package_id": 103}).id,
            )
            for _ in range(per_thread)
        ]

    results = _together([create_many, create_many, create_many])
    clusters = [c for pairs in results for c, _ in pairs]
    jobs = [j for pairs in results for _, j in pairs]
    assert len(set(clusters)) == len(clusters) == 3 * per_thread
    assert len(set(jobs)) == len(jobs) == 3 * per_thread
    assert len(store.clusters) == 3 * per_thread + 1 and len(store.jobs) == 3 * per_thread
    assert len(cluster.active_jobs) == 3 * per_thread
