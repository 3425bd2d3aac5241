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
            if body.kind == "latency" and body.seconds is None:
                raise ApiError(422, "latency needs seconds.", {"seconds": ["is required"]})
            if body.kind == "lost_response" and body.method is None:
                body.method = "POST"
            count = body.count
            until = None
            window = None if body.kind == "latency" else body.seconds
            if window is not None:
                until = time.monotonic() + window
            if count is None and until is None and body.probability is None:
                count = 1
            st.faults.add(
                Fault(
                    id=fid,
                    kind=body.kind,
                    count=count,
                    until=until,
                    probability=body.probability,
                    path_contains=body.path_contains,
                    method=body.method,
                    status=body.status,
                    seconds=body.seconds or 0.0,
                    retry_after=body.retry_after,
                    mode=body.mode,
                    spec=body.model_dump(exclude_none=True),
                )
            )
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
