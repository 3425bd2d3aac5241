"""Hook overhead: calls/s of ``get_job(id)`` through the hooks vs. a raw HTTP GET, same run.

The emulator (``EmulatorServer``) runs in a child process with one completed job. Measured with
back-to-back calls over keep-alive connections, half of ``BENCH_SECONDS`` (default 3) per call,
in 20 interleaved slices (the median slice rate is reported, and the client process's CPU time per
call, which other load on the machine hardly disturbs):

* baseline: ``requests.Session().get`` of the job's URL with the hook's own headers (auth, Accept,
  User-Agent), checking the status code only;
* ``XplentyHook.get_job(id)`` (requests; URL building, retry wrapper, JSON + pydantic parsing);
* reference: ``httpx.AsyncClient.get`` of the same URL, awaited in turn in one event loop;
* ``XplentyAsyncHook.get_job(id)`` (httpx), awaited in turn in one event loop.

Call :func:`run` after :func:`_support.configure_airflow`.
"""

from __future__ import annotations

import asyncio
import os
import time

import requests
from _support import EmulatorProcess, measure_interleaved

SECONDS = max(1.0, float(os.environ.get("BENCH_SECONDS", "3")) / 2)  # per call, in 20 interleaved slices


def run() -> None:
    """Measure and print the hook-overhead table."""
    import httpx

    from airflow_provider_xplenty.hooks._http.wire import headers as api_headers
    from airflow_provider_xplenty.hooks.xplenty import XplentyAsyncHook, XplentyHook

    started = time.monotonic()
    with EmulatorProcess(speed=0) as emu:
        api = emu.session()
        cluster = api.post(f"{emu.api_url}/clusters", json={"nodes": 2}).json()
        emu.advance(65)
        job = api.post(f"{emu.api_url}/jobs", json={"cluster_id": cluster["id"], "package_id": 103}).json()
        emu.advance(60)
        job_id = int(job["id"])

        hook = XplentyHook()
        cfg = hook.config
        url = cfg.url(f"jobs/{job_id}")
        headers = api_headers(cfg, has_body=False)
        assert hook.get_job(job_id).status == "completed"

        raw = requests.Session()

        def raw_get() -> None:
            resp = raw.get(url, headers=headers, timeout=(cfg.connect_timeout, cfg.read_timeout))
            if resp.status_code != 200:
                raise RuntimeError(f"unexpected {resp.status_code}: {resp.text[:200]}")

        async def measure() -> list[tuple[float, float]]:
            timeout = httpx.Timeout(cfg.read_timeout, connect=cfg.connect_timeout)
            async with httpx.AsyncClient(timeout=timeout) as client, XplentyAsyncHook() as ahook:

                async def httpx_get() -> None:
                    resp = await client.get(url, headers=headers)
                    if resp.status_code != 200:
                        raise RuntimeError(f"unexpected {resp.status_code}: {resp.text[:200]}")

                return await measure_interleaved(
                    [raw_get, lambda: hook.get_job(job_id), httpx_get, lambda: ahook.get_job(job_id)],
                    SECONDS,
                )

        (raw_rps, raw_cpu), (sync_rps, sync_cpu), (httpx_rps, httpx_cpu), (async_rps, async_cpu) = (
            asyncio.run(measure())
        )
        hook.close()
        rows = [
            ("baseline: requests.Session().get", raw_rps, raw_cpu),
            ("XplentyHook.get_job(id)", sync_rps, sync_cpu),
            ("reference: httpx.AsyncClient.get", httpx_rps, httpx_cpu),
            ("XplentyAsyncHook.get_job(id)", async_rps, async_cpu),
        ]
        log = emu.requests_log()["totals"]

    print()
    print("Hook overhead: GET jobs/{id} against the emulator (child process), one client, keep-alive")
    print(
        f"{'call':34} {'calls/s':>8} {'ms/call':>8} {'vs baseline':>12} {'+ms/call':>9} "
        f"{'client CPU ms':>14} {'+CPU ms':>8}"
    )
    for name, rps, cpu in rows:
        print(
            f"{name:34} {rps:8.0f} {1000 / rps:8.2f} {rps / raw_rps:11.0%} "
            f"{1000 / rps - 1000 / raw_rps:+9.2f} {cpu:14.3f} {cpu - raw_cpu:+8.3f}"
        )
    print(
        f"-> XplentyHook = {sync_rps / raw_rps:.0%} of raw requests throughput, "
        f"{sync_cpu - raw_cpu:+.3f} ms client CPU per call; XplentyAsyncHook = {async_rps / raw_rps:.0%} "
        f"of raw requests ({async_rps / httpx_rps:.0%} of raw httpx), {async_cpu - raw_cpu:+.3f} ms CPU per "
        f"call ({async_cpu - httpx_cpu:+.3f} vs httpx)"
    )
    print(
        f"   (emulator log: {log['count']} requests, statuses {log['by_status']}; "
        f"section time {time.monotonic() - started:.1f} s)"
    )
