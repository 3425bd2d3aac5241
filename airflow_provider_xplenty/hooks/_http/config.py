"""Connection settings: parse an Airflow connection into a :class:`ClientConfig`, with clear errors.

The base URL rules keep the API key off the network in clear text: ``http://`` is only accepted for
loopback hosts (see docs/api-notes.md, Base URL and account; Authentication).
"""

from __future__ import annotations

import ipaddress
import math
import re
import socket
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


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Return the address a host name spells as a literal (``127.1``, ``0x7f.1``, ``::1``), without DNS."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:  # the legacy IPv4 spellings resolvers accept without DNS: 127.1, 2130706433, 0x7f.0.0.1
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


def _is_loopback(host: str) -> bool:
    if host.lower().rstrip(".") == "localhost":
        return True
    address = _ip_literal(host)
    return address is not None and address.is_loopback


#: What an Xplenty API key looks like (a long run of letters and digits); an account id is a slug.
_KEY_SHAPE = re.compile(r"(?=.*[0-9])(?=.*[A-Z])[A-Za-z0-9]{20,}")


def looks_like_api_key(value: str) -> bool:
    """Whether ``value`` has the shape of an API key (20+ letters and digits, mixed case, no dot/hyphen)."""
    return bool(_KEY_SHAPE.fullmatch(value))


def _check_host_has_no_key(host: str | None, api_key: str | None, conn_id: str) -> None:
    """Refuse a host that holds the API key (pasted into it, or as ``user@``), without printing it."""
    raw = (host or "").strip()
    if not raw:
        return
    netloc = urlsplit(raw if "://" in raw else f"//{raw}").netloc
    hostname = netloc.rpartition("@")[2].split(":")[0]
    if "@" in netloc or (api_key and len(api_key) >= 8 and api_key in raw) or looks_like_api_key(hostname):
        raise XplentyConfigError(
            f"The host of connection `{conn_id}` contains credentials (it looks like the API key was "
            "pasted into it): put the API key in the password field and only the API base URL "
            f"(default {DEFAULT_HOST}) in the host"
        )


def _positive_float(value: Any, what: str, conn_id: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise XplentyConfigError(
            f"{what} of connection `{conn_id}` must be a number, got {value!r}"
        ) from None
    if not math.isfinite(number) or number <= 0:
        raise XplentyConfigError(
            f"{what} of connection `{conn_id}` must be a positive, finite number of seconds, got {value!r}"
        )
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
    if parts.username or parts.password:
        raise XplentyConfigError(
            f"Host of connection `{conn_id}` must not contain credentials; put the API key in the password"
        )
    if not hostname:
        raise XplentyConfigError(f"Host of connection `{conn_id}` has no host name")
    if scheme == "http" and not _is_loopback(hostname):
        raise XplentyConfigError(
            f"Connection `{conn_id}` uses http:// for {hostname!r}; plain HTTP would send the API key in "
            "clear text and is only allowed for loopback hosts (127.0.0.0/8, localhost, ::1). Use https://."
        )
    try:
        url_port = parts.port
    except ValueError:
        raise XplentyConfigError(f"Host of connection `{conn_id}` has an invalid port") from None
    literal = _ip_literal(hostname)
    if literal is not None:  # one spelling of each address: 127.1 -> 127.0.0.1 (no resolver needed)
        hostname = str(literal)
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
    _check_host_has_no_key(conn.host, api_key, conn_id)
    if looks_like_api_key(str(account_id)):
        raise XplentyConfigError(
            f"The account id of connection `{conn_id}` looks like an API key (login and password "
            "swapped?): put the account id (the slug in https://api.xplenty.com/<account_id>/api/) in "
            "the login or the `account_id` extra, and the API key in the password field"
        )
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
    """Read the optional retry extras (``retry_limit``, ``retry_max_seconds``, ``retry_backoff``,
    ``late_create_window``)."""
    extra: Mapping[str, Any] = getattr(conn, "extra_dejson", None) or {}
    out: dict[str, float] = {}
    for name in ("retry_limit", "retry_max_seconds", "retry_backoff", "late_create_window"):
        value = _extra_value(extra, name)
        if value is not None:
            try:
                out[name] = float(value)
            except (TypeError, ValueError):
                raise XplentyConfigError(f"The `{name}` extra must be a number, got {value!r}") from None
            if not math.isfinite(out[name]) or out[name] < 0:
                raise XplentyConfigError(f"The `{name}` extra must be a finite number >= 0, got {value!r}")
    return out
