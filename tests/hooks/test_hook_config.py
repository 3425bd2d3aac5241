"""Connection parsing and argument validation: errors raised before any request is sent."""

from __future__ import annotations

import asyncio
import json

import pytest

from airflow_provider_xplenty.exceptions import XplentyConfigError
from airflow_provider_xplenty.hooks._http import wire
from airflow_provider_xplenty.hooks.xplenty import XplentyAsyncHook, XplentyHook

KEY = "s3cret-config-key"


def _conn(monkeypatch: pytest.MonkeyPatch, conn_id: str = "xp", **fields: object) -> str:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "xplenty", **fields}))
    return conn_id


def test_unknown_connection_id_is_named() -> None:
    with pytest.raises(XplentyConfigError, match="`no_such_conn` is not defined"):
        XplentyHook("no_such_conn").get_cluster(1)
    with pytest.raises(XplentyConfigError, match="`no_such_conn` is not defined"):
        asyncio.run(XplentyAsyncHook("no_such_conn").get_cluster(1))


def test_missing_account_id(monkeypatch: pytest.MonkeyPatch) -> None:
    cid = _conn(monkeypatch, password=KEY)
    with pytest.raises(XplentyConfigError, match="no Xplenty account id") as exc:
        _ = XplentyHook(cid).config
    assert KEY not in str(exc.value)


def test_missing_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    cid = _conn(monkeypatch, login="demo")
    with pytest.raises(XplentyConfigError, match="no Xplenty API key"):
        _ = XplentyHook(cid).config


@pytest.mark.parametrize("host", ["http://api.xplenty.com", "http://10.0.0.5:8080", "http://example.org"])
def test_plain_http_refused_for_remote_hosts(monkeypatch: pytest.MonkeyPatch, host: str) -> None:
    cid = _conn(monkeypatch, host=host, login="demo", password=KEY)
    with pytest.raises(XplentyConfigError, match="only allowed for loopback"):
        _ = XplentyHook(cid).config


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("http://127.0.0.1:8999", "http://127.0.0.1:8999"),
        ("http://127.5.6.7:1", "http://127.5.6.7:1"),
        ("http://localhost:8999/", "http://localhost:8999"),
        ("http://[::1]:8999", "http://[::1]:8999"),
        ("api.xplenty.com", "https://api.xplenty.com"),
        ("https://api.xplenty.com/", "https://api.xplenty.com"),
        ("", "https://api.xplenty.com"),
    ],
)
def test_base_url_forms(monkeypatch: pytest.MonkeyPatch, host: str, expected: str) -> None:
    cid = _conn(monkeypatch, host=host, password=KEY, extra={"account_id": "acme"})
    cfg = XplentyHook(cid).config
    assert cfg.base_url == expected
    assert cfg.url("clusters") == f"{expected}/acme/api/clusters"


def test_schema_and_port_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    cid = _conn(monkeypatch, host="127.0.0.1", schema="http", port=8123, login="acme", password=KEY)
    assert XplentyHook(cid).config.base_url == "http://127.0.0.1:8123"


def test_account_from_extra_wins_over_login_and_timeout_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    cid = _conn(
        monkeypatch,
        login="from-login",
        password=KEY,
        extra={"account_id": "from-extra", "timeout": 7, "api_version": "2", "retry_limit": 2},
    )
    hook = XplentyHook(cid)
    cfg = hook.config
    assert (cfg.account_id, cfg.read_timeout, cfg.connect_timeout, cfg.api_version) == (
        "from-extra",
        7.0,
        7.0,
        2,
    )
    assert hook.policy.retry_limit == 2
    assert XplentyHook(cid, timeout=3, retry_limit=4).config.read_timeout == 3.0
    hook4 = XplentyHook(cid, retry_limit=4)
    _ = hook4.config
    assert hook4.policy.retry_limit == 4


def test_bad_timeout_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    cid = _conn(monkeypatch, login="a", password=KEY, extra={"timeout": "soon"})
    with pytest.raises(XplentyConfigError, match="timeout"):
        _ = XplentyHook(cid).config


def test_bad_retry_arguments() -> None:
    with pytest.raises(XplentyConfigError, match="retry_limit"):
        XplentyHook(retry_limit=-1)
    with pytest.raises(XplentyConfigError, match="retry_backoff"):
        XplentyHook(retry_backoff=-1)


def test_key_not_in_repr_or_config_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    cid = _conn(monkeypatch, login="a", password=KEY)
    hook = XplentyHook(cid)
    assert KEY not in repr(hook)
    assert KEY not in repr(hook.config)
    assert KEY not in hook.config.url("jobs")


def test_headers_accept_user_agent_basic_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    import base64

    cid = _conn(monkeypatch, login="a", password=KEY)
    headers = wire.headers(XplentyHook(cid).config, has_body=True)
    assert headers["Accept"] == "application/vnd.xplenty+json; version=2"
    assert headers["User-Agent"].startswith("airflow-provider-xplenty/")
    assert headers["Content-Type"] == "application/json"
    assert base64.b64decode(headers["Authorization"].split()[1]).decode() == f"{KEY}:"


@pytest.mark.parametrize(
    ("variables", "match"),
    [
        (["a"], "must be a dict"),
        ("InputPath='x'", "must be a dict"),
        ({1: "'x'"}, "variable names must be non-empty strings"),
        ({"": "'x'"}, "variable names must be non-empty strings"),
        ({"a": ["x"]}, "must be a string expression"),
    ],
)
def test_bad_variables_rejected_before_any_request(variables: object, match: str) -> None:
    # The connection does not exist: reaching the network (or even the connection) would fail differently.
    hook = XplentyHook("not_defined_anywhere")
    with pytest.raises(XplentyConfigError, match=match):
        hook.run_job(1001, 101, variables=variables)  # type: ignore[arg-type]
    with pytest.raises(XplentyConfigError, match=match):
        hook.run_job(1001, 101, dynamic_variables=variables)  # type: ignore[arg-type]
    with pytest.raises(XplentyConfigError, match=match):
        asyncio.run(XplentyAsyncHook("not_defined_anywhere").run_job(1001, 101, variables=variables))  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [0, -3, "abc", "1/../2", 1.5, True, None])
def test_bad_ids_rejected(bad: object) -> None:
    hook = XplentyHook("not_defined_anywhere")
    with pytest.raises(XplentyConfigError, match="integer id"):
        hook.get_job(bad)  # type: ignore[arg-type]
    with pytest.raises(XplentyConfigError, match="integer id"):
        hook.run_job(bad, 101)  # type: ignore[arg-type]


def test_other_argument_checks() -> None:
    hook = XplentyHook("not_defined_anywhere")
    with pytest.raises(XplentyConfigError, match="type must be"):
        hook.create_cluster(nodes=2, type="huge")
    with pytest.raises(XplentyConfigError, match="nodes must be"):
        hook.create_cluster(nodes=0)
    with pytest.raises(XplentyConfigError, match="at least one field"):
        hook.update_cluster(1001)
    with pytest.raises(XplentyConfigError, match="non-empty string"):
        hook.search_jobs("")
    with pytest.raises(XplentyConfigError, match="non-empty string"):
        hook.find_package("")
    with pytest.raises(XplentyConfigError, match="xplenty_conn_id"):
        XplentyHook("")
