"""Connection settings: parse an Airflow connection into a :class:`ClientConfig`, with clear errors.

The base URL rules keep the API key off the network in clear text: ``http://`` is only accepted for
loopback hosts (see docs/api-notes.md, Base URL and account; Authentication).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from airflow_provider_xplenty.exceptions import XplentyConfigError

DEFAULT_HOST = "https://api.xplenty.com"
DEFAULT_API_VERSION = 2
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 60.0


@dataclass(frozen=True)
class ClientConfig:
    """Everything needed to talk to one account; the API key is kept out of ``repr``."""

    conn_id: str
    base_url: str
    account_id: str
    api_key: str = field(repr=False)
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    api_version: int = DEFAULT_API_VERSION

    @property
    def api_root(self) -> str:
        """Return ``<base>/<account>/api/``."""
        return f"{self.base_url}/{quote(self.account_id, safe='')}/api/"

    def url(self, path: str) -> str:
        """Return the absolute URL of ``path`` (relative to the account's API root)."""
        return self.api_root + path


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _positive_float(value: Any, what: str, conn_id: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise XplentyConfigError(
            f"{what} of connection `{conn_id}` must be a number, got {value!r}"
        ) from None
    if number <= 0:
        raise XplentyConfigError(f"{what} of connection `{conn_id}` must be positive, got {value!r}")
    return number


def parse_base_url(host: str | None, schema: str | None, port: int | None, conn_id: str) -> str:
    """Return ``scheme://host[:port][/prefix]`` from a connection's host, schema and port fields.

    :param host: the connection host (``api.xplenty.com``, ``https://api.xplenty.com``, ``http://127.0.0.1:8999``).
    :param schema: the connection schema field, used as the scheme when it is ``http`` or ``https``.
    :param port: the connection port field, used when the host has none.
    :param conn_id: connection id, for error messages.
    """
    raw = (host or "").strip() or DEFAULT_HOST
    if "://" not in raw:
        scheme = schema.lower() if schema and schema.lower() in ("http", "https") else "https"
        raw = f"{scheme}://{raw}"
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise XplentyConfigError(
            f"Host of connection `{conn_id}` must use http:// or https://, got scheme {parts.scheme!r}"
        )
    hostname = parts.hostname
    if not hostname:
        raise XplentyConfigError(f"Host of connection `{conn_id}` has no host name: {host!r}")
    if parts.username or parts.password:
        raise XplentyConfigError(
            f"Host of connection `{conn_id}` must not contain credentials; put the API key in the password"
        )
    if scheme == "http" and not _is_loopback(hostname):
        raise XplentyConfigError(
            f"Connection `{conn_id}` uses http:// for {hostname!r}; plain HTTP would send the API key in "
            "clear text and is only allowed for loopback hosts (127.0.0.0/8, localhost, ::1). Use https://."
        )
    try:
        url_port = parts.port
    except ValueError:
        raise XplentyConfigError(f"Host of connection `{conn_id}` has an invalid port: {host!r}") from None
    netloc = f"[{hostname}]" if ":" in hostname else hostname
    if url_port is not None:
        netloc += f":{url_port}"
    elif port:
        netloc += f":{int(port)}"
    prefix = parts.path.rstrip("/")
    return f"{scheme}://{netloc}{prefix}"


def _extra_value(extra: Mapping[str, Any], name: str) -> Any:
    value = extra.get(name)
    if value in (None, ""):
        value = extra.get(f"extra__xplenty__{name}")
    return None if value == "" else value


def config_from_connection(conn: Any, conn_id: str, timeout: float | None = None) -> ClientConfig:
    """Build a :class:`ClientConfig` from an Airflow connection, with clear errors for bad fields.

    :param conn: an Airflow ``Connection`` (anything with host, schema, port, login, password, extra_dejson).
    :param conn_id: its id, for error messages.
    :param timeout: read timeout override in seconds (the hook's ``timeout`` argument).
    """
    extra: Mapping[str, Any] = getattr(conn, "extra_dejson", None) or {}
    account_id = _extra_value(extra, "account_id") or (conn.login or "").strip() or None
    if not account_id:
        raise XplentyConfigError(
            f"Connection `{conn_id}` has no Xplenty account id: set the `account_id` extra "
            "(the slug in https://api.xplenty.com/<account_id>/api/) or the login field"
        )
    api_key = conn.password or _extra_value(extra, "api_key")
    if not api_key:
        raise XplentyConfigError(f"Connection `{conn_id}` has no Xplenty API key: set it as the password")
    base_url = parse_base_url(conn.host, getattr(conn, "schema", None), getattr(conn, "port", None), conn_id)
    read_timeout = DEFAULT_READ_TIMEOUT
    if timeout is not None:
        read_timeout = _positive_float(timeout, "timeout", conn_id)
    elif _extra_value(extra, "timeout") is not None:
        read_timeout = _positive_float(_extra_value(extra, "timeout"), "The `timeout` extra", conn_id)
    api_version = DEFAULT_API_VERSION
    if _extra_value(extra, "api_version") is not None:
        try:
            api_version = int(_extra_value(extra, "api_version"))
        except (TypeError, ValueError):
            raise XplentyConfigError(
                f"The `api_version` extra of connection `{conn_id}` must be an integer"
            ) from None
    return ClientConfig(
        conn_id=conn_id,
        base_url=base_url,
        account_id=str(account_id),
        api_key=str(api_key),
        connect_timeout=min(DEFAULT_CONNECT_TIMEOUT, read_timeout),
        read_timeout=read_timeout,
        api_version=api_version,
    )


def retry_settings_from_extra(conn: Any) -> dict[str, float]:
    """Read optional ``retry_limit`` / ``retry_max_seconds`` / ``retry_backoff`` connection extras."""
    extra: Mapping[str, Any] = getattr(conn, "extra_dejson", None) or {}
    out: dict[str, float] = {}
    for name in ("retry_limit", "retry_max_seconds", "retry_backoff"):
        value = _extra_value(extra, name)
        if value is not None:
            try:
                out[name] = float(value)
            except (TypeError, ValueError):
                raise XplentyConfigError(f"The `{name}` extra must be a number, got {value!r}") from None
    return out
