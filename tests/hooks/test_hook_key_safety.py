"""The API key in every form is masked, never echoed from a misfilled connection; timeouts and loopback."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any
from urllib.parse import quote

import pytest
from hook_support import FAST, Logs

from airflow_provider_xplenty.exceptions import XplentyConfigError
from airflow_provider_xplenty.hooks.xplenty import XplentyHook

#: The shape of a real Xplenty API key (20 letters and digits).
REAL_KEY = "V4eyfgNqYcSasXGhzNxS"


def _conn(monkeypatch: pytest.MonkeyPatch, conn_id: str = "xp_safety", **fields: object) -> str:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "xplenty", **fields}))
    return conn_id


def test_every_form_of_the_key_is_masked(xplenty_emulator: Any, logs: Logs) -> None:
    """With HTTP debug logging on, what the masker lets through holds no form of the key."""
    from _airflow_compat import redact

    for name in ("urllib3", "httpx", "httpcore", "airflow_provider_xplenty"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    key = xplenty_emulator.api_key
    hook = XplentyHook(**FAST)
    assert hook.get_package(101).id == 101
    token = base64.b64encode(f"{key}:".encode()).decode()
    forms = [key, token, f"Basic {token}", base64.b64encode(key.encode()).decode(), quote(key, safe="")]
    # What a debug line of the request would show (the header is never logged by the hook itself).
    line = f"{logs.text()}\nsend: Authorization: Basic {token}\nurl: https://x/{quote(key, safe='')}/api"
    masked = str(redact(line))
    for form in forms:
        assert form not in masked, f"the API key form {form[:4]}... is not registered with the masker"


@pytest.mark.parametrize(
    "host",
    [
        f"https://{REAL_KEY}@api.xplenty.com",
        f"https://{REAL_KEY}:@api.xplenty.com",
        f"https://{REAL_KEY}",
        REAL_KEY,
        f"{REAL_KEY}:443",
    ],
)
def test_key_in_host_is_refused_without_echoing_it(monkeypatch: pytest.MonkeyPatch, host: str) -> None:
    cid = _conn(monkeypatch, host=host, login="acme", password=REAL_KEY)
    with pytest.raises(XplentyConfigError, match="contains credentials") as exc:
        _ = XplentyHook(cid).config
    assert REAL_KEY not in str(exc.value) and "password field" in str(exc.value)


def test_key_as_host_name_without_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """The key pasted as the host (which would be sent to DNS) is refused even with another password."""
    cid = _conn(monkeypatch, host=f"https://{REAL_KEY}", login="acme", password="other-password")
    with pytest.raises(XplentyConfigError, match="contains credentials") as exc:
        _ = XplentyHook(cid).config
    assert REAL_KEY not in str(exc.value)


def test_login_and_password_swapped(monkeypatch: pytest.MonkeyPatch) -> None:
    cid = _conn(monkeypatch, login=REAL_KEY, password="sample-account-1")
    with pytest.raises(XplentyConfigError, match="swapped") as exc:
        _ = XplentyHook(cid).config
    assert REAL_KEY not in str(exc.value) and "sample-account-1" not in str(exc.value)


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf", "NaN"])
@pytest.mark.parametrize("extra", ["timeout", "retry_max_seconds", "retry_backoff", "late_create_window"])
def test_non_finite_extras_refused_at_config(monkeypatch: pytest.MonkeyPatch, extra: str, bad: str) -> None:
    cid = _conn(monkeypatch, login="acme", password=REAL_KEY, extra={extra: bad})
    with pytest.raises(XplentyConfigError, match=extra):
        _ = XplentyHook(cid).config


def test_non_finite_timeout_argument_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    cid = _conn(monkeypatch, login="acme", password=REAL_KEY)
    with pytest.raises(XplentyConfigError, match="timeout"):
        _ = XplentyHook(cid, timeout=float("nan")).config


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [("127.1", "127.0.0.1"), ("2130706433", "127.0.0.1"), ("0x7f.0.0.1", "127.0.0.1"), ("localhost", None)],
)
def test_loopback_spellings_accepted(
    xplenty_emulator: Any, monkeypatch: pytest.MonkeyPatch, spelling: str, canonical: str | None
) -> None:
    port = xplenty_emulator.url.rsplit(":", 1)[1]
    conn = {**xplenty_emulator.connection(), "host": f"http://{spelling}:{port}"}
    conn.pop("conn_type")
    hook = XplentyHook(_conn(monkeypatch, **conn), **FAST)
    assert hook.config.base_url == f"http://{canonical or spelling}:{port}"
    assert hook.get_package(101).id == 101


def test_ipv6_loopback_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    cid = _conn(monkeypatch, host="http://[::1]:8999", login="acme", password=REAL_KEY)
    assert XplentyHook(cid).config.base_url == "http://[::1]:8999"
