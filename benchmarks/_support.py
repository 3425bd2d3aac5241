"""Helpers shared by the provider-level benchmarks (``hook.py``, ``watcher.py``, ``triggerer.py``).

* :func:`request_kind` classifies the emulator's request log (list calls, direct ``GET``s, the rest).

* :func:`configure_airflow` sets a throwaway ``AIRFLOW_HOME`` (and the settings ``tests/conftest.py``
  uses) before anything imports Airflow (unset, Airflow writes its logs under ``~/airflow``; see
  docs/api-notes.md, "Airflow quirks the code works around").
* :class:`EmulatorProcess` runs :class:`airflow_provider_xplenty.testing.EmulatorServer` in a child
  process, so the emulator does not share the GIL with the client being measured, and exports
  ``AIRFLOW_CONN_XPLENTY_DEFAULT`` pointing at it.
"""

from __future__ import annotations

import atexit
import inspect
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import requests

ACCEPT = "application/vnd.xplenty+json; version=2"

# The child prints the connection JSON, then serves until its stdin is closed.
EMULATOR_SERVER = """
import sys
from airflow_provider_xplenty.testing import EmulatorServer
with EmulatorServer(speed=float(sys.argv[1])) as emu:
    print(emu.connection_json(), flush=True)
    sys.stdin.read()
"""


def configure_airflow() -> None:
    """Point Airflow at a throwaway home (must run before ``airflow`` is imported)."""
    if "airflow" in sys.modules:
        raise RuntimeError("configure_airflow() must run before airflow is imported")
    home = pathlib.Path(tempfile.mkdtemp(prefix="xplenty-bench-af-home-"))
    atexit.register(shutil.rmtree, home, True)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        }
    )


def request_kind(entry: dict[str, Any]) -> str:
    """Classify an emulator request-log entry: ``list`` (GET jobs/clusters), ``get`` (one), ``other``."""
    path = entry["path"].split("?")[0].rstrip("/")
    if entry["method"] == "GET" and path.endswith(("/jobs", "/clusters")):
        return "list"
    if entry["method"] == "GET" and ("/jobs/" in path or "/clusters/" in path):
        return "get"
    return "other"


class EmulatorProcess:
    """``EmulatorServer`` in a child process; control routes and the API over loopback HTTP.

    :param speed: emulated seconds per real second (0 freezes the clock).
    """

    def __init__(self, speed: float = 1.0) -> None:
        self.speed = speed
        self.proc: subprocess.Popen[str] | None = None
        self.conn: dict[str, Any] = {}
        self.http = requests.Session()

    def __enter__(self) -> EmulatorProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", EMULATOR_SERVER, str(self.speed)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the emulator process did not start")
        self.conn = json.loads(line)
        os.environ["AIRFLOW_CONN_XPLENTY_DEFAULT"] = line.strip()
        self.set_rate_limit(10**9)  # credits are counted from the request log, not the budget
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()
        if self.proc is None:
            return
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    @property
    def url(self) -> str:
        return str(self.conn["host"])

    @property
    def api_url(self) -> str:
        return f"{self.url}/{self.conn['extra']['account_id']}/api"

    def session(self) -> requests.Session:
        """A ``requests.Session`` with the API's auth and Accept header."""
        session = requests.Session()
        session.auth = (self.conn["password"], "")
        session.headers["Accept"] = ACCEPT
        return session

    def control(self, method: str, path: str, body: Any = None) -> Any:
        resp = self.http.request(method, f"{self.url}/_emulator/{path}", json=body, timeout=30)
        resp.raise_for_status()
        return resp.json() if resp.content else None

    def set_rate_limit(self, limit: int) -> None:
        self.control("POST", "rate_limit", {"limit": limit, "remaining": limit})

    def advance(self, seconds: float) -> None:
        self.control("POST", "advance", {"seconds": seconds})

    def requests_log(self) -> dict[str, Any]:
        return dict(self.control("GET", "requests"))

    def clear_requests_log(self) -> None:
        self.control("DELETE", "requests")


async def measure_interleaved(
    calls: list[Callable[[], Any]], seconds: float, rounds: int = 20, warmup: int = 30
) -> list[tuple[float, float]]:
    """Return (calls per second, client CPU ms per call) for each call, measured in interleaved rounds.

    Each call may be sync or return an awaitable (awaited in turn in the running loop). ``seconds``
    per call are split into ``rounds`` slices taken in turn, so a load change on the machine hits
    all calls alike; the rate is the median over the rounds. The CPU time is this process's
    (``time.process_time``: the client's own work, not the server's, nor other processes' load).
    """

    async def once(call: Callable[[], Any]) -> None:
        result = call()
        if inspect.isawaitable(result):
            await result

    for call in calls:
        for _ in range(warmup):
            await once(call)
    rates: list[list[float]] = [[] for _ in calls]
    cpu = [0.0 for _ in calls]
    counts = [0 for _ in calls]
    slice_seconds = seconds / rounds
    for _ in range(rounds):
        for index, call in enumerate(calls):
            count = 0
            cpu_start = time.process_time()
            start = time.perf_counter()
            end = start + slice_seconds
            while True:
                await once(call)
                count += 1
                now = time.perf_counter()
                if now >= end:
                    break
            cpu[index] += time.process_time() - cpu_start
            counts[index] += count
            rates[index].append(count / (now - start))
    return [
        (statistics.median(per_round), cpu_s / n * 1000)
        for per_round, cpu_s, n in zip(rates, cpu, counts, strict=True)
    ]
