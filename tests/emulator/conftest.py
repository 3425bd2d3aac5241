"""Fixtures for the emulator tests: a frozen clock and a small API client over real HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from airflow_provider_xplenty.testing import EmulatorServer

# Durations (emulated seconds) used by the helpers below: pending 5 + creating 60 = available at 65.
CLUSTER_READY_AFTER = 65
JOB_DONE_AFTER = 2 + 3 + 30


class Api:
    """Thin requests wrapper: paths are relative to ``/<account>/api``."""

    def __init__(self, emu: EmulatorServer, account: str = "demo", api_key: str | None = None) -> None:
        self.emu = emu
        self.base = f"{emu.url}/{account}/api"
        self.session = emu.session(api_key)

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, self.base + path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    # shortcuts -------------------------------------------------------------
    def cluster(self, **fields: Any) -> dict[str, Any]:
        body = {"nodes": 2, **fields}
        resp = self.post("/clusters", json=body)
        assert resp.status_code == 201, resp.text
        return dict(resp.json())

    def ready_cluster(self, **fields: Any) -> dict[str, Any]:
        cluster = self.cluster(**fields)
        self.emu.advance(CLUSTER_READY_AFTER)
        got = self.get(f"/clusters/{cluster['id']}").json()
        assert got["status"] == "available"
        return dict(got)

    def job(self, cluster_id: int, package_id: int = 103, **fields: Any) -> dict[str, Any]:
        resp = self.post("/jobs", json={"cluster_id": cluster_id, "package_id": package_id, **fields})
        assert resp.status_code == 201, resp.text
        return dict(resp.json())

    def job_status(self, job_id: int) -> str:
        return str(self.get(f"/jobs/{job_id}").json()["status"])


@pytest.fixture
def emu(xplenty_emulator: EmulatorServer) -> EmulatorServer:
    """The emulator with a frozen clock (move it with ``emu.advance``)."""
    xplenty_emulator.reset(speed=0)
    return xplenty_emulator


@pytest.fixture
def api(emu: EmulatorServer) -> Api:
    """A client for the demo account."""
    return Api(emu)


@pytest.fixture
def new_api(emu: EmulatorServer) -> Callable[[], Api]:
    """Make another client for the demo account (its own session), e.g. one per thread."""
    return lambda: Api(emu)
