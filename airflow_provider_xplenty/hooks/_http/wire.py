"""Requests and responses on the wire: building a request, its headers, and reading a response.

Ids are validated and URL-encoded, query values formatted (datetimes as the API's UTC text,
booleans as ``true``/``false``), and responses read: the JSON body, the server's clock from
``Date``, the credits left from ``X-RateLimit-Remaining`` and the wait asked for by ``Retry-After``
(docs/api-notes.md, Rate limits; Pagination).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus

from pydantic import ValidationError

from airflow_provider_xplenty import __version__
from airflow_provider_xplenty.exceptions import XplentyApiError, XplentyConfigError
from airflow_provider_xplenty.hooks._http.config import ClientConfig
from airflow_provider_xplenty.hooks._http.endpoints import ENDPOINTS, Endpoint

T = TypeVar("T")

USER_AGENT = f"airflow-provider-xplenty/{__version__}"
#: Page size of list calls (the API's maximum).
PAGE_LIMIT = 100


def headers(cfg: ClientConfig, *, has_body: bool) -> dict[str, str]:
    """Return the request headers, Basic auth (key as user, blank password) included.

    Build them at send time only: never store or log the result.
    """
    token = base64.b64encode(f"{cfg.api_key}:".encode()).decode("ascii")
    out = {
        "Accept": f"application/vnd.xplenty+json; version={cfg.api_version}",
        "User-Agent": USER_AGENT,
        "Authorization": f"Basic {token}",
    }
    if has_body:
        out["Content-Type"] = "application/json"
    return out


def key_forms(api_key: str) -> list[str]:
    """Return every form of the API key that may reach a log line, for the secrets masker.

    The raw key, its URL-quoted form, the base64 of ``KEY:`` and of ``KEY`` (both Basic forms clients
    send) and the whole ``Basic <base64>`` header value.
    """
    forms = [api_key, quote(api_key, safe=""), quote_plus(api_key)]
    for raw in (f"{api_key}:", api_key):
        token = base64.b64encode(raw.encode()).decode("ascii")
        forms += [token, f"Basic {token}"]
    return list(dict.fromkeys(forms))


# -- requests ---------------------------------------------------------------------------------
def format_time(value: datetime | str) -> str:
    """Format a ``since`` value as the API expects (``YYYY-MM-DDTHH:MM:SSZ``, UTC)."""
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_id(value: Any, name: str) -> int:
    """Return ``value`` as a positive int id, or raise :class:`XplentyConfigError`."""
    if isinstance(value, bool):
        raise XplentyConfigError(f"{name} must be an integer id, got {value!r}")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or value <= 0:
        raise XplentyConfigError(f"{name} must be a positive integer id, got {value!r}")
    return value


def clean(params: Mapping[str, Any]) -> dict[str, Any]:
    """Drop ``None`` values and format datetimes."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if value is None:
            continue
        out[key] = format_time(value) if isinstance(value, datetime) else value
    return out


def query(params: Mapping[str, Any]) -> dict[str, str]:
    """Return query parameters as strings (booleans as ``true``/``false``)."""
    out: dict[str, str] = {}
    for key, value in clean(params).items():
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            out[key] = ",".join(str(v) for v in value)
        else:
            out[key] = str(value)
    return out


@dataclass(frozen=True)
class ApiRequest:
    """One request, ready for a transport (no credentials inside)."""

    name: str
    endpoint: Endpoint
    path: str
    ids: tuple[tuple[str, int], ...] = ()
    params: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None

    @property
    def method(self) -> str:
        """HTTP method."""
        return self.endpoint.method


def build(
    name: str,
    ids: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    body: Mapping[str, Any] | None = None,
) -> ApiRequest:
    """Build the request for endpoint ``name``; ids are validated and URL-encoded."""
    endpoint = ENDPOINTS[name]
    checked = {key: check_id(value, key) for key, value in (ids or {}).items()}
    path = endpoint.path.format(**checked)
    return ApiRequest(
        name=name,
        endpoint=endpoint,
        path=path,
        ids=tuple(checked.items()),
        params=query(params or {}),
        body=dict(body) if body is not None else None,
    )


def page(request: ApiRequest, offset: int) -> ApiRequest:
    """Return ``request`` for the page starting at ``offset`` (``limit=100``)."""
    return replace(request, params={**request.params, "offset": str(offset), "limit": str(PAGE_LIMIT)})


# -- responses --------------------------------------------------------------------------------
@dataclass(frozen=True)
class RawResponse:
    """What a transport got back: status, headers (case-insensitive mapping) and body text."""

    status: int
    headers: Mapping[str, str]
    text: str


@dataclass(frozen=True)
class TransportFailure:
    """A request that got no HTTP response.

    :param kind: ``connect`` (never sent), ``read_timeout`` or ``dropped`` (may have been processed).
    :param detail: short description (exception class and text; contains no credentials).
    """

    kind: str
    detail: str

    @property
    def maybe_sent(self) -> bool:
        """Whether the server may have received (and acted on) the request."""
        return self.kind != "connect"


def parse_body(request: ApiRequest, resp: RawResponse) -> Any:
    """Return the JSON body of a successful response."""
    if resp.status == 204 or not resp.text.strip():
        return None
    try:
        return json.loads(resp.text)
    except ValueError:
        raise XplentyApiError(
            resp.status, f"invalid JSON in response: {resp.text[:200]!r}", request.method, request.path
        ) from None


def parse_as(parse: Callable[[Any], T], request: ApiRequest, data: Any) -> T:
    """Run a body parser; a body of the wrong shape becomes an :class:`XplentyApiError`."""
    try:
        return parse(data)
    except (ValidationError, ValueError, TypeError) as exc:
        raise XplentyApiError(
            None, f"unexpected response shape: {str(exc).splitlines()[0]}", request.method, request.path
        ) from None


def server_time(resp: RawResponse) -> datetime | None:
    """Return the server's clock from the ``Date`` header, if any."""
    value = resp.headers.get("Date") or resp.headers.get("date")
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def rate_limit_remaining(resp: RawResponse) -> int | None:
    """Return ``X-RateLimit-Remaining`` as an int, if present."""
    value = resp.headers.get("X-RateLimit-Remaining")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def retry_after(resp: RawResponse) -> float | None:
    """Return the wait ``Retry-After`` asks for, in seconds (it may be a number or an HTTP date)."""
    value = resp.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    now = server_time(resp) or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())
