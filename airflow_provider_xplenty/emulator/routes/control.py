"""Control routes under ``/_emulator/`` (reset, seed, clock, faults, rate limits, inspection).

They are not part of the real API: no auth, no credits, not in the request log (the gate lets
them through).
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import Response

from airflow_provider_xplenty.emulator import schemas
from airflow_provider_xplenty.emulator.faults import Fault
from airflow_provider_xplenty.emulator.params import read_params, validate
from airflow_provider_xplenty.emulator.responses import FastJSON
from airflow_provider_xplenty.emulator.state import ApiError, Store


def transport_fault(fid: int, body: schemas.FaultIn) -> Fault:
    """Check a transport fault's body and build the fault (``path`` is ``path_contains`` by another name)."""
    if body.path is not None and body.path_contains not in (None, body.path):
        raise ApiError(422, "Give path or path_contains, not both.", {"path": ["conflicts"]})
    if body.kind == "latency" and body.seconds is None:
        raise ApiError(422, "latency needs seconds.", {"seconds": ["is required"]})
    if body.kind == "slow_response" and body.delay is None and body.act_after is None and not body.never:
        raise ApiError(
            422,
            "slow_response needs delay (answer late), act_after (act late) or never (no answer).",
            {"delay": ["is required without act_after or never"]},
        )
    method = body.method
    if body.kind in ("lost_response", "slow_response") and method is None:
        method = "POST"
    count = body.count
    # latency's seconds is its delay; for every other kind it is how long the fault stays active.
    window = None if body.kind == "latency" else body.seconds
    until = None if window is None else time.monotonic() + window
    if count is None and until is None and body.probability is None:
        count = 1
    spec = body.model_dump(exclude_none=True)
    if method is not None:
        spec["method"] = method
    return Fault(
        id=fid,
        kind=body.kind,
        count=count,
        until=until,
        probability=body.probability,
        path_contains=body.path_contains or body.path,
        method=method,
        status=body.status,
        seconds=body.seconds or 0.0,
        retry_after=body.retry_after,
        mode=body.mode,
        delay=body.delay or 0.0,
        act_after=body.act_after or 0.0,
        never=body.never,
        spec=spec,
    )


def build_router(st: Store) -> APIRouter:
    """Return the ``/_emulator/`` routes."""
    ctl = APIRouter(prefix="/_emulator")

    @ctl.post("/reset")
    async def reset(request: Request) -> Response:
        body = validate(schemas.ResetIn, await read_params(request))
        st.reset(body.speed)
        return FastJSON({"ok": True, **st.clock_info()})

    @ctl.post("/seed")
    async def seed(request: Request) -> Response:
        body = validate(schemas.SeedIn, await read_params(request))
        result = st.seed(
            [a.model_dump() for a in body.accounts],
            [p.model_dump(exclude_none=True) for p in body.packages],
        )
        return FastJSON(result)

    @ctl.get("/clock")
    async def clock_get() -> Response:
        return FastJSON(st.clock_info())

    @ctl.post("/clock")
    async def clock_set(request: Request) -> Response:
        body = validate(schemas.ClockIn, await read_params(request))
        return FastJSON(st.set_clock(body.speed, body.durations, body.max_running_jobs, body.accept_status))

    @ctl.post("/advance")
    async def advance(request: Request) -> Response:
        body = validate(schemas.AdvanceIn, await read_params(request))
        return FastJSON(st.advance(body.seconds))

    @ctl.post("/faults")
    async def add_fault(request: Request) -> Response:
        spec = await read_params(request)
        body = validate(schemas.FaultIn, spec)
        with st.lock:
            st.fault_counter += 1
            fid = st.fault_counter
        if body.kind == "job_failure":
            st.add_job_failure(body.job_id, body.package_id, body.message, body.count or 1)
        elif body.kind == "cluster_failure":
            st.add_cluster_failure(body.cluster_id, body.message)
        else:
            st.faults.add(transport_fault(fid, body))
        return FastJSON({"id": fid})

    @ctl.get("/faults")
    async def list_faults() -> Response:
        return FastJSON({"faults": st.faults.describe()})

    @ctl.delete("/faults")
    async def clear_faults() -> Response:
        st.faults.clear()
        with st.lock:
            st.job_failures.clear()
            st.cluster_failures.clear()
        return FastJSON({"ok": True})

    @ctl.post("/rate_limit")
    async def rate_limit(request: Request) -> Response:
        body = validate(schemas.RateLimitIn, await read_params(request))
        return FastJSON(st.set_rate_limit(body.limit, body.remaining, body.api_key))

    @ctl.get("/state")
    async def state() -> Response:
        return FastJSON(st.snapshot())

    @ctl.get("/requests")
    async def requests_log() -> Response:
        with st.lock:
            totals = {
                "count": st.totals["count"],
                "credits": st.totals["credits"],
                "by_status": dict(st.totals["by_status"]),
            }
            return FastJSON({"requests": list(st.request_log), "totals": totals})

    @ctl.delete("/requests")
    async def clear_requests() -> Response:
        with st.lock:
            st.request_log.clear()
            st.totals = {"count": 0, "credits": 0, "by_status": {}}
        return FastJSON({"ok": True})

    return ctl
