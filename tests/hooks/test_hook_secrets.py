"""The API key never shows up in logs, stdout/stderr, exception text, repr or URLs."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from typing import Any

import pytest

from airflow_provider_xplenty.exceptions import XplentyError
from airflow_provider_xplenty.hooks.xplenty import XplentyAsyncHook, XplentyHook

FAST: dict[str, Any] = {
    "retry_backoff": 0.001,
    "retry_max_seconds": 10.0,
    "retry_limit": 2,
    "late_create_window": 1.0,
}


def test_api_key_never_leaks(xplenty_emulator, monkeypatch, caplog, capfd) -> None:  # type: ignore[no-untyped-def]
    key = xplenty_emulator.api_key
    forbidden = [key, base64.b64encode(f"{key}:".encode()).decode()]
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "httpx", "httpcore", "airflow", "airflow_provider_xplenty"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    # A second connection with the same key but an unknown account, and one with a remote http host.
    conn = xplenty_emulator.connection()
    monkeypatch.setenv("AIRFLOW_CONN_XP_ACCT", json.dumps({**conn, "extra": {"account_id": "nope"}}))
    monkeypatch.setenv("AIRFLOW_CONN_XP_HTTP", json.dumps({**conn, "host": "http://example.com"}))
    texts: list[str] = []

    def collect(exc: BaseException) -> None:
        texts.extend([str(exc), repr(exc), repr(exc.args)])

    hook = XplentyHook(**FAST)
    texts += [repr(hook), repr(hook.config), hook.config.url("jobs"), str(vars(hook))]
    assert hook.test_connection()[0]
    cluster = hook.create_cluster(nodes=2)
    xplenty_emulator.add_fault(kind="server_error", status=503, count=10)
    xplenty_emulator.add_fault(kind="rate_limit", count=1, retry_after=0)
    xplenty_emulator.add_fault(kind="lost_response", method="POST", path_contains="jobs", mode="drop")
    for call in (
        lambda: hook.get_job(1),
        lambda: hook.run_job(cluster.id, 101),
        lambda: hook.get_job(123456),
        lambda: hook.terminate_cluster(cluster.id),
        lambda: list(XplentyHook("xp_acct", **FAST).list_jobs()),
        lambda: XplentyHook("xp_http").get_job(1),
        lambda: hook.run_job(cluster.id, 101, variables=["x"]),  # type: ignore[arg-type]
    ):
        try:
            call()
        except XplentyError as exc:
            collect(exc)
    xplenty_emulator.clear_faults()
    job = hook.run_job(cluster.id, 101)
    texts.append(job.model_dump_json())

    async def go() -> None:
        ahook = XplentyAsyncHook(**FAST)
        async with ahook:
            texts.append(repr(ahook))
            assert (await ahook.test_connection())[0]
            xplenty_emulator.add_fault(kind="server_error", status=502, count=10)
            try:
                await ahook.get_job(job.id)
            except XplentyError as exc:
                collect(exc)
            xplenty_emulator.clear_faults()
            xplenty_emulator.add_fault(kind="lost_response", method="POST", path_contains="jobs", mode="504")
            await ahook.run_job(cluster.id, 101)

    asyncio.run(go())
    out, err = capfd.readouterr()
    everything = "\n".join([caplog.text, out, err, *texts])
    assert "retry 1 of 2" in everything  # the retries were logged, and captured here
    assert "adopting the existing job" in everything
    for secret in forbidden:
        assert secret not in everything


@pytest.mark.parametrize("cls", [XplentyHook, XplentyAsyncHook])
def test_test_connection_reports_config_errors(cls, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AIRFLOW_CONN_XP_NOKEY", json.dumps({"conn_type": "xplenty", "login": "demo"}))
    hook = cls("xp_nokey")
    result = hook.test_connection()
    ok, message = asyncio.run(result) if asyncio.iscoroutine(result) else result
    assert not ok and "no Xplenty API key" in message
