"""Creates whose outcome is unknown: look-ups that keep going, slow servers, late twins, other callers."""

from __future__ import annotations

import asyncio
import pickle
import threading
import time
from typing import Any

import pytest
from hook_support import FAST, Logs

from airflow_provider_xplenty.exceptions import XplentyAmbiguousMatchWarning, XplentyUnknownOutcomeError
from airflow_provider_xplenty.hooks.xplenty import XplentyAsyncHook, XplentyHook


def _in_thread(call: Any) -> tuple[threading.Thread, dict[str, Any]]:
    """Run ``call`` in a thread; its result or error lands in the returned dict."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["result"] = call()
        except Exception as exc:
            out["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def _cluster(xplenty_emulator: Any) -> int:
    return XplentyHook(**FAST).create_cluster(nodes=2).id


# -- 1. the look-up after an unknown outcome ------------------------------------------------------
def test_unknown_outcome_with_exhausted_budget_raises_typed_error(xplenty_emulator: Any, logs: Logs) -> None:
    """The POST is lost and the hourly budget runs out: the look-ups get 429 until the policy gives up.

    The hook does not re-send blind, and says the job may exist, naming what identifies it.
    """
    cluster_id = _cluster(xplenty_emulator)
    xplenty_emulator.set_rate_limit(remaining=2)  # the floor snapshot and the (lost) POST
    xplenty_emulator.add_fault(kind="lost_response", method="POST", path_contains="jobs", mode="drop")
    with pytest.raises(XplentyUnknownOutcomeError) as caught:
        XplentyHook(**FAST).run_job(cluster_id, 101, variables={"InputPath": "'/in'"})
    error = caught.value
    assert error.resource == "job"
    sent = {"cluster_id": cluster_id, "package_id": 101, "variables": {"InputPath": "'/in'"}}
    assert error.identity == sent
    assert error.floor_id is not None and error.method == "POST"
    assert "may have created a job of package 101" in str(error)
    assert xplenty_emulator.api_key not in str(error) + repr(error.identity)
    assert pickle.loads(pickle.dumps(error)).identity == error.identity  # survives the trip to a triggerer
    requests = xplenty_emulator.requests()["requests"]
    posts = [r for r in requests if r["method"] == "POST" and r["path"].endswith("/jobs")]
    assert len(posts) == 1, "re-sent without knowing whether the first request made a job"
    text = logs.text()
    assert "gave up on POST jobs with its outcome unknown" in text
    assert "Xplenty API GET jobs failed: HTTP 429" in text  # the look-up is named, not the POST


def test_lookup_429_is_retried_within_the_call_budget(xplenty_emulator: Any) -> None:
    """A 429 on the look-up (a short burst) is waited out like one on the create; the job is adopted."""
    cluster_id = _cluster(xplenty_emulator)
    xplenty_emulator.add_fault(kind="slow_response", method="POST", path="/jobs", never=True, count=1)
    thread, out = _in_thread(lambda: XplentyHook(timeout=1.5, **FAST).run_job(cluster_id, 101))
    time.sleep(0.7)  # the POST has landed; its answer never comes
    xplenty_emulator.add_fault(kind="rate_limit", count=4, retry_after=0)
    thread.join(30)
    assert "error" not in out, out.get("error")
    assert [j["id"] for j in xplenty_emulator.jobs()] == [out["result"].id]


# -- 2. slow servers --------------------------------------------------------------------------------
def test_slow_server_job_is_adopted_not_resent(xplenty_emulator: Any, logs: Logs) -> None:
    """The server creates the job at once but answers after the read timeout: the job is found."""
    cluster_id = _cluster(xplenty_emulator)
    xplenty_emulator.add_fault(kind="slow_response", method="POST", path="/jobs", delay=4, count=1)
    job = XplentyHook(timeout=1, **FAST).run_job(cluster_id, 101)
    assert [j["id"] for j in xplenty_emulator.jobs()] == [job.id]
    assert "adopting the existing job" in logs.text()


def test_late_twin_job_is_stopped(xplenty_emulator: Any, logs: Logs) -> None:
    """The server reads the POST and acts 4 s later, after the hook gave up looking and re-sent.

    The hook watches for the late original until the late-create window ends and stops it.
    """
    cluster_id = _cluster(xplenty_emulator)
    xplenty_emulator.add_fault(kind="slow_response", method="POST", path="/jobs", act_after=4, count=1)
    hook = XplentyHook(timeout=1, **{**FAST, "late_create_window": 7.0})
    job = hook.run_job(cluster_id, 101)
    jobs = {j["id"]: j["status"] for j in xplenty_emulator.jobs()}
    assert len(jobs) == 2, "the late original never arrived: the test did not exercise the twin"
    (twin,) = [i for i in jobs if i != job.id]
    assert twin > job.id and jobs[twin] in ("stopping", "stopped")
    assert jobs[job.id] not in ("stopping", "stopped")
    text = logs.text()
    assert f"stopped late duplicate job {twin} created by the lost request" in text
    assert "looking again in" in text  # it looked for a while before re-sending


def test_late_twin_job_is_stopped_by_the_async_hook(xplenty_emulator: Any, logs: Logs) -> None:
    cluster_id = _cluster(xplenty_emulator)
    xplenty_emulator.add_fault(kind="slow_response", method="POST", path="/jobs", act_after=4, count=1)

    async def go() -> int:
        async with XplentyAsyncHook(timeout=1, **{**FAST, "late_create_window": 7.0}) as hook:
            return (await hook.run_job(cluster_id, 101)).id

    job_id = asyncio.run(go())
    (twin,) = [j for j in xplenty_emulator.jobs() if j["id"] != job_id]
    assert twin["status"] in ("stopping", "stopped")
    assert f"stopped late duplicate job {twin['id']} created by the lost request" in logs.text()


def test_late_twin_cluster_is_terminated(xplenty_emulator: Any, logs: Logs) -> None:
    """A twin cluster still provisioning cannot be terminated yet: it is set to terminate once idle."""
    xplenty_emulator.add_fault(kind="slow_response", method="POST", path="/clusters", act_after=4, count=1)
    hook = XplentyHook(timeout=1, **{**FAST, "late_create_window": 7.0})
    cluster = hook.create_cluster(nodes=2)
    (twin,) = [c for c in xplenty_emulator.clusters() if c["id"] != cluster.id]
    assert twin["name"] == cluster.name
    assert twin["status"] in ("terminating", "terminated") or twin["terminate_on_idle"] is True
    assert f"terminated late duplicate cluster {twin['id']} created by the lost request" in logs.text()


# -- 3. never adopt another caller's object --------------------------------------------------------
def test_cluster_lookup_matches_the_description_marker(xplenty_emulator: Any) -> None:
    """Two runs create ``DailyCluster_<date>``; the first run's answer is slow: it adopts its own cluster."""
    xplenty_emulator.add_fault(kind="slow_response", method="POST", path="/clusters", delay=3, count=1)
    mine = {"nodes": 2, "name": "DailyCluster_2025-01-01", "description": "daily [airflow:aaa]"}
    thread, out = _in_thread(lambda: XplentyHook(timeout=1, **FAST).create_cluster(**mine))
    time.sleep(0.5)  # the first run's cluster exists; another process creates the second one
    other = xplenty_emulator.session().post(
        f"{xplenty_emulator.url}/{xplenty_emulator.account_id}/api/clusters",
        json={**mine, "type": "production", "description": "daily [airflow:bbb]"},
        timeout=10,
    )
    assert other.status_code == 201, other.text
    thread.join(30)
    assert "error" not in out, out.get("error")
    assert out["result"].id != other.json()["id"]
    assert out["result"].description == "daily [airflow:aaa]"
    assert len(xplenty_emulator.clusters()) == 2


def _identical_job_from_another_process(xplenty_emulator: Any, cluster_id: int) -> int:
    resp = xplenty_emulator.session().post(
        f"{xplenty_emulator.url}/{xplenty_emulator.account_id}/api/jobs",
        json={"cluster_id": cluster_id, "package_id": 101},
        timeout=10,
    )
    assert resp.status_code == 201, resp.text
    return int(resp.json()["id"])


def test_identical_job_of_another_caller_is_not_adopted(xplenty_emulator: Any, logs: Logs) -> None:
    """Another process submits the same job while this call's response is slow.

    The API cannot tell the two apart: the hook adopts the oldest above its floor (its own, sent
    first) and says that the choice was ambiguous (docs/hook.md, "Creates").
    """
    cluster_id = _cluster(xplenty_emulator)
    xplenty_emulator.add_fault(kind="slow_response", method="POST", path="/jobs", delay=3, count=1)
    with pytest.warns(XplentyAmbiguousMatchWarning, match="adopting the oldest"):
        thread, out = _in_thread(lambda: XplentyHook(timeout=1, **FAST).run_job(cluster_id, 101))
        time.sleep(0.5)
        theirs = _identical_job_from_another_process(xplenty_emulator, cluster_id)
        thread.join(30)
    assert "error" not in out, out.get("error")
    assert out["result"].id < theirs
    assert f"2 objects match the job of package 101 on cluster {cluster_id}" in logs.text()


def test_job_adopted_or_created_by_this_process_is_never_adopted_again(
    xplenty_emulator: Any, logs: Logs
) -> None:
    """Two identical submissions in one process: each caller keeps its own job, without ambiguity."""
    cluster_id = _cluster(xplenty_emulator)
    xplenty_emulator.add_fault(kind="slow_response", method="POST", path="/jobs", delay=3, count=1)
    thread, out = _in_thread(lambda: XplentyHook(timeout=1, **FAST).run_job(cluster_id, 101))
    time.sleep(0.5)
    second = XplentyHook(**FAST).run_job(cluster_id, 101)
    thread.join(30)
    assert "error" not in out, out.get("error")
    assert out["result"].id != second.id
    assert len(xplenty_emulator.jobs()) == 2
    assert "objects match" not in logs.text()
