"""Benchmarks (``make bench``): the Xplenty API emulator, then the provider (hook.py, watcher.py).

Starts the emulator in a subprocess with 1,000 jobs stored, then measures requests per second from
one client over loopback (a keep-alive ``requests.Session``) for ``GET /jobs/{id}`` and
``GET /jobs?limit=100``. A baseline is measured in the same run: a minimal FastAPI route returning
``{}`` on the same server stack (uvicorn, access log off), so the figures can be read relative to
what this machine can do at all. Bounded to roughly 20 seconds.

Then the provider: ``hook.py`` (calls/s of ``get_job`` through ``XplentyHook`` and
``XplentyAsyncHook`` beside a raw ``requests`` GET), ``watcher.py`` (N = 1 to 1,000 concurrent job
triggers with ``[xplenty] shared_watcher`` off and on: credits at start-up and per poll, event-loop
block, CPU, RSS, detection latency) and ``import_cost.py`` (import time of the operators and sensors
after ``airflow.sdk``, and what the pytest plugin adds to a pytest start-up). All of it takes about
four minutes.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable

import requests
from _support import configure_airflow

SECONDS_PER_MEASURE = float(os.environ.get("BENCH_SECONDS", "3"))
JOBS = 1000
ACCEPT = "application/vnd.xplenty+json; version=2"

BASELINE_APP = """
import sys, uvicorn
from fastapi import FastAPI
app = FastAPI()
@app.get("/empty")
async def empty():
    return {}
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError(f"server at {url} did not start")


def measure(call: Callable[[], requests.Response], seconds: float) -> tuple[float, float]:
    """Return (requests per second, mean latency in ms) over ``seconds`` of back-to-back calls."""
    for _ in range(30):  # warm-up
        call().raise_for_status()
    count = 0
    start = time.perf_counter()
    end = start + seconds
    while True:
        resp = call()
        if resp.status_code != 200:
            raise RuntimeError(f"unexpected {resp.status_code}: {resp.text[:200]}")
        count += 1
        now = time.perf_counter()
        if now >= end:
            break
    elapsed = now - start
    return count / elapsed, elapsed / count * 1000


def emulator_section() -> int:
    started = time.monotonic()
    emu_port, base_port = free_port(), free_port()
    emulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_xplenty.emulator",
            "--port",
            str(emu_port),
            "--speed",
            "0",
            "--log-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
    )
    baseline = subprocess.Popen([sys.executable, "-c", BASELINE_APP, str(base_port)])
    try:
        emu_url = f"http://127.0.0.1:{emu_port}"
        wait_until_up(emu_url + "/_emulator/clock")
        wait_until_up(f"http://127.0.0.1:{base_port}/empty")
        control = requests.Session()
        control.post(f"{emu_url}/_emulator/rate_limit", json={"limit": 10**9}).raise_for_status()
        api = requests.Session()
        api.auth = ("demo-api-key", "")
        api.headers["Accept"] = ACCEPT
        base = f"{emu_url}/demo/api"
        cluster = api.post(f"{base}/clusters", json={"nodes": 2}).json()
        control.post(f"{emu_url}/_emulator/advance", json={"seconds": 65}).raise_for_status()
        seed_start = time.monotonic()
        job_ids = []
        for n in range(JOBS):
            variables = {"InputPath": f"'/input{n:04d}'", "OutputPath": f"'/output{n:04d}'"}
            resp = api.post(
                f"{base}/jobs", json={"cluster_id": cluster["id"], "package_id": 103, "variables": variables}
            )
            resp.raise_for_status()
            job_ids.append(resp.json()["id"])
        control.post(f"{emu_url}/_emulator/advance", json={"seconds": 40}).raise_for_status()
        seed_time = time.monotonic() - seed_start
        statuses = {j["status"] for j in api.get(f"{base}/jobs", params={"limit": 100}).json()}
        print(
            f"Seeded {JOBS} jobs in {seed_time:.1f} s ({JOBS / seed_time:.0f} POST/s); "
            f"statuses on page 1: {statuses}"
        )

        one_job = job_ids[JOBS // 2]
        baseline_session = requests.Session()
        results = []
        rps_base, ms_base = measure(
            lambda: baseline_session.get(f"http://127.0.0.1:{base_port}/empty"), SECONDS_PER_MEASURE
        )
        results.append(("baseline: FastAPI GET /empty -> {}", rps_base, ms_base))
        rps_one, ms_one = measure(lambda: api.get(f"{base}/jobs/{one_job}"), SECONDS_PER_MEASURE)
        results.append(("emulator: GET /jobs/{id}", rps_one, ms_one))
        rps_list, ms_list = measure(
            lambda: api.get(f"{base}/jobs", params={"limit": 100}), SECONDS_PER_MEASURE
        )
        results.append(("emulator: GET /jobs?limit=100", rps_list, ms_list))

        print()
        print(f"{'endpoint':40} {'req/s':>9} {'ms/req':>8} {'vs baseline':>12}")
        for name, rps, ms in results:
            print(f"{name:40} {rps:9.0f} {ms:8.2f} {rps / rps_base:11.0%}")
        print()
        goal = 500
        verdict = "meets" if rps_one >= goal else "MISSES"
        print(
            f"Goal: >= {goal} req/s for GET /jobs/{{id}} with {JOBS} jobs stored -> "
            f"{rps_one:.0f} req/s ({verdict})"
        )
        print(f"Total benchmark time {time.monotonic() - started:.1f} s")
        return 0
    finally:
        for proc in (emulator, baseline):
            proc.terminate()
        for proc in (emulator, baseline):
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> int:
    started = time.monotonic()
    configure_airflow()  # before anything imports airflow (the provider sections below do)
    emulator_section()
    import hook
    import import_cost
    import watcher

    hook.run()
    watcher.run()
    import_cost.run()
    print()
    print(f"All benchmarks: {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
