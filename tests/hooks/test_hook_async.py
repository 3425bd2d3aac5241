"""Every XplentyAsyncHook method against the emulator over HTTP (asyncio.run inside sync tests)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import pytest

from airflow_provider_xplenty.exceptions import XplentyApiError, XplentyConfigError
from airflow_provider_xplenty.hooks.xplenty import XplentyAsyncHook
from airflow_provider_xplenty.models import Cluster, Job, JobOutput, Package, RateLimitStatus, Schedule

T = TypeVar("T")


async def alist(items: AsyncIterator[T]) -> list[T]:
    return [item async for item in items]


def test_connection_rate_limit_and_packages(ahook: XplentyAsyncHook, xplenty_emulator) -> None:  # type: ignore[no-untyped-def]
    async def go() -> None:
        async with ahook:
            ok, message = await ahook.test_connection()
            assert ok and "account `demo`" in message
            status = await ahook.get_rate_limit_status()
            assert isinstance(status, RateLimitStatus) and status.limit > 0
            pkg = await ahook.get_package(102)
            assert isinstance(pkg, Package) and pkg.name == "enrich_orders"
            active = await alist(ahook.list_packages(flow_type="all", sort="name", direction="asc"))
            assert {p.id for p in active} >= {101, 102, 103} and 104 not in {p.id for p in active}
            assert [p.id for p in await alist(ahook.list_packages(status="archived"))] == [104]
            assert 103 in {p.id for p in await alist(ahook.search_packages("rollup"))}
            assert (await ahook.find_package("enrich_orders")).id == 102
            with pytest.raises(XplentyConfigError, match="'enrich_orders' \\(id 102\\)"):
                await ahook.find_package("enrich")
            with pytest.raises(XplentyApiError, match="Package 999 was not found in account `demo`"):
                await ahook.get_package(999)

    asyncio.run(go())


def test_bad_key_and_account(xplenty_emulator, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    conn = xplenty_emulator.connection()
    monkeypatch.setenv("AIRFLOW_CONN_XP_BAD", json.dumps({**conn, "password": "wrong-key-456"}))
    monkeypatch.setenv("AIRFLOW_CONN_XP_ACCT", json.dumps({**conn, "extra": {"account_id": "nope"}}))

    async def go() -> None:
        ok, message = await XplentyAsyncHook("xp_bad").test_connection()
        assert (
            not ok
            and "check the API key of connection `xp_bad`" in message
            and "wrong-key-456" not in message
        )
        with pytest.raises(XplentyApiError, match="check the account id `nope`"):
            await alist(XplentyAsyncHook("xp_acct").list_clusters())

    asyncio.run(go())


def test_clusters_and_jobs(ahook: XplentyAsyncHook, xplenty_emulator) -> None:  # type: ignore[no-untyped-def]
    async def go() -> None:
        async with ahook:
            cluster = await ahook.create_cluster(nodes=2, description="async")
            assert isinstance(cluster, Cluster) and cluster.status == "pending" and cluster.name
            assert (await ahook.get_cluster(cluster.id)).description == "async"
            assert [c.id for c in await alist(ahook.list_clusters(status="pending", sort="created"))] == [
                cluster.id
            ]
            assert [c.id for c in await alist(ahook.search_clusters(cluster.name or ""))] == [cluster.id]
            with pytest.raises(XplentyApiError) as exc:
                await ahook.terminate_cluster(cluster.id)
            assert exc.value.status_code == 422
            xplenty_emulator.advance(120)
            assert (await ahook.update_cluster(cluster.id, description="changed")).description == "changed"

            job = await ahook.run_job(cluster.id, 101, {"InputPath": "'/a'"}, {"NOW": "CurrentTime()"})
            assert isinstance(job, Job) and job.status == "idle"
            since = datetime.now(timezone.utc) - timedelta(hours=1)
            assert [j.id for j in await alist(ahook.list_jobs(package_id=101, since=since))] == [job.id]
            assert [j.id for j in await alist(ahook.search_jobs(str(job.id)))] == [job.id]
            with_cluster = await ahook.get_job(job.id, include="cluster")
            assert with_cluster.cluster is not None and with_cluster.cluster.id == cluster.id
            xplenty_emulator.advance(60)
            done = await ahook.get_job(job.id)
            assert done.is_successful and done.outputs
            assert (await ahook.get_job_variables(job.id))["InputPath"] == "'/a'"
            assert isinstance(await ahook.get_job_log(job.id), str)
            output = await ahook.get_job_output(job.id, done.outputs[0].id)
            assert isinstance(output, JobOutput)
            assert await ahook.preview_output(job.id, output.id)
            assert await alist(ahook.list_job_children(job.id, status="all")) == []
            with pytest.raises(XplentyApiError) as exc:
                await ahook.stop_job(job.id)
            assert exc.value.status_code == 422
            running = await ahook.run_job(cluster.id, 102)
            assert (await ahook.stop_job(running.id)).status == "pending_stoppage"
            with pytest.raises(XplentyApiError, match="Job 424242 was not found in account `demo`"):
                await ahook.get_job(424242)
            assert (await ahook.terminate_cluster(cluster.id)).status == "pending_terminate"

    asyncio.run(go())


def test_schedules(ahook: XplentyAsyncHook) -> None:
    async def go() -> None:
        async with ahook:
            task: dict[str, Any] = {"nodes": 2, "packages": [{"package_id": 101, "variables": {}}]}
            sched = await ahook.create_schedule(name="hourly", interval_unit="hours", task=task)
            assert isinstance(sched, Schedule) and sched.name == "hourly"
            assert (await ahook.get_schedule(sched.id)).id == sched.id
            assert [s.id for s in await alist(ahook.list_schedules(status="all"))] == [sched.id]
            assert (await ahook.update_schedule(sched.id, status="enabled")).status == "enabled"
            clone = await ahook.clone_schedule(sched.id)
            assert clone.id != sched.id
            assert (await ahook.run_schedule(sched.id)).id == sched.id
            assert (await ahook.delete_schedule(clone.id)).id == clone.id
            with pytest.raises(XplentyApiError, match=f"Schedule {clone.id} was not found"):
                await ahook.get_schedule(clone.id)

    asyncio.run(go())


def test_pagination_and_client_reuse_across_loops(ahook: XplentyAsyncHook, xplenty_emulator) -> None:  # type: ignore[no-untyped-def]
    cluster_id = asyncio.run(ahook.create_cluster(nodes=2)).id  # first loop: the hook is not closed

    async def run_jobs() -> None:
        for i in range(100):
            await ahook.run_job(cluster_id, 102, variables={"I": f"'{i}'"})

    asyncio.run(run_jobs())  # second loop: a fresh client
    before = len(xplenty_emulator.requests()["requests"])

    async def listing() -> list[int]:
        async with ahook:
            return [j.id async for j in ahook.list_jobs(package_id=102)]

    ids = asyncio.run(listing())
    assert len(ids) == 100 == len(set(ids))
    pages = xplenty_emulator.requests()["requests"][before:]
    assert len(pages) == 2  # a full page of 100, then an empty one
