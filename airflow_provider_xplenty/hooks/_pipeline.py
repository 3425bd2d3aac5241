"""Transport-independent request pipeline shared by the sync and async Xplenty hooks.

Everything here is free of I/O: the endpoint table, connection parsing, request building,
headers and auth, response parsing, error mapping, the retry classifier and the retry policy,
and the control flow of every call (:class:`Plans`: the retry loop, decided by tenacity, the recheck
after a lost response, adopt-or-resend for creates, paging). A plan is a generator that yields the requests
to send and the waits to make; the hooks only drive it, moving bytes with ``requests`` or
``httpx`` and sleeping with ``time.sleep`` or ``asyncio.sleep``.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import random
import time
import uuid
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Generic, Protocol, TypeAlias, TypeVar
from urllib.parse import quote, urlsplit

from pydantic import ValidationError
from tenacity import (
    DoAttempt,
    DoSleep,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
)

from airflow_provider_xplenty import __version__
from airflow_provider_xplenty.exceptions import XplentyApiError, XplentyConfigError

T = TypeVar("T")

DEFAULT_HOST = "https://api.xplenty.com"
DEFAULT_API_VERSION = 2
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 60.0
PAGE_LIMIT = 100
USER_AGENT = f"airflow-provider-xplenty/{__version__}"
#: Longest single back-off step when no ``Retry-After`` is given.
MAX_BACKOFF_STEP = 60.0
SERVER_ERROR_STATUSES = frozenset({500, 502, 503, 504})


# --------------------------------------------------------------------------------------------
# Endpoint table
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Endpoint:
    """One API operation: HTTP method, path template (relative to ``/{account}/api/``) and traits.

    :param method: HTTP method.
    :param path: path template with ``{name}`` placeholders for ids.
    :param resource: what the path's ids name, for 404 messages ("cluster", "job output" ...).
    :param idempotent: whether repeating the call cannot create a second object.
    :param reconcilable: non-idempotent call whose result can be looked up after an unknown outcome.
    """

    method: str
    path: str
    resource: str
    idempotent: bool = True
    reconcilable: bool = False


ENDPOINTS: dict[str, Endpoint] = {
    # clusters
    "create_cluster": Endpoint("POST", "clusters", "cluster", idempotent=False, reconcilable=True),
    "list_clusters": Endpoint("GET", "clusters", "cluster"),
    "search_clusters": Endpoint("GET", "clusters/search", "cluster"),
    "get_cluster": Endpoint("GET", "clusters/{cluster_id}", "cluster"),
    "update_cluster": Endpoint("PUT", "clusters/{cluster_id}", "cluster"),
    "terminate_cluster": Endpoint("DELETE", "clusters/{cluster_id}", "cluster"),
    # jobs
    "run_job": Endpoint("POST", "jobs", "job", idempotent=False, reconcilable=True),
    "list_jobs": Endpoint("GET", "jobs", "job"),
    "search_jobs": Endpoint("GET", "jobs/search", "job"),
    "get_job": Endpoint("GET", "jobs/{job_id}", "job"),
    "stop_job": Endpoint("DELETE", "jobs/{job_id}", "job"),
    "list_job_children": Endpoint("GET", "jobs/{job_id}/children", "job"),
    "get_job_variables": Endpoint("GET", "jobs/{job_id}/variables", "job"),
    "get_job_log": Endpoint("GET", "jobs/{job_id}/log", "job"),
    "get_job_output": Endpoint("GET", "jobs/{job_id}/outputs/{output_id}", "job output"),
    "preview_output": Endpoint("GET", "jobs/{job_id}/outputs/{output_id}/preview", "job output"),
    # packages
    "list_packages": Endpoint("GET", "packages", "package"),
    "search_packages": Endpoint("GET", "packages/search", "package"),
    "get_package": Endpoint("GET", "packages/{package_id}", "package"),
    # schedules
    "create_schedule": Endpoint("POST", "schedules", "schedule", idempotent=False),
    "list_schedules": Endpoint("GET", "schedules", "schedule"),
    "get_schedule": Endpoint("GET", "schedules/{schedule_id}", "schedule"),
    "update_schedule": Endpoint("PUT", "schedules/{schedule_id}", "schedule"),
    "delete_schedule": Endpoint("DELETE", "schedules/{schedule_id}", "schedule"),
    "clone_schedule": Endpoint("POST", "schedules/{schedule_id}/clone", "schedule", idempotent=False),
    "run_schedule": Endpoint("POST", "schedules/{schedule_id}/run", "schedule", idempotent=False),
    # account
    "rate_limit_status": Endpoint("GET", "rate_limit_status", "rate limit status"),
}


# --------------------------------------------------------------------------------------------
# Connection settings
# --------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------
# Argument validation and request building
# --------------------------------------------------------------------------------------------
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


def variable_text(value: Any) -> str:
    """Return a variable value as the API stores it: a string expression (``str()`` of a number/bool).

    Variables are string to string in the API (``xplenty-api.md`` 3.1); ``10`` becomes ``"10"`` and
    ``True`` becomes ``"True"`` (Python's ``str()``, which is also what the emulator stores).
    """
    return value if isinstance(value, str) else str(value)


def normalise_variables(variables: Mapping[str, Any] | None) -> dict[str, str]:
    """Return ``variables`` as the API stores them: string names to string expressions (``None`` is ``{}``).

    Use it on both sides when comparing what was sent with what a job reports.
    """
    return {str(key): variable_text(value) for key, value in (variables or {}).items()}


def check_variables(value: Any, name: str = "variables") -> dict[str, str] | None:
    """Validate package variables (string names to string, number or bool expressions) and return them
    as strings, the way the API stores them (see :func:`variable_text`)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise XplentyConfigError(
            f"{name} must be a dict of variable name to expression, got {type(value).__name__}"
        )
    out: dict[str, str] = {}
    for key, val in value.items():
        if not isinstance(key, str) or not key:
            raise XplentyConfigError(f"{name}: variable names must be non-empty strings, got {key!r}")
        if not isinstance(val, (str, int, float, bool)):
            raise XplentyConfigError(
                f"{name}: value of {key!r} must be a string expression (e.g. \"'/path'\"), "
                f"got {type(val).__name__}"
            )
        out[key] = variable_text(val)
    return out


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
    params = {**request.params, "offset": str(offset), "limit": str(PAGE_LIMIT)}
    return ApiRequest(request.name, request.endpoint, request.path, request.ids, params, request.body)


# --------------------------------------------------------------------------------------------
# Responses and errors
# --------------------------------------------------------------------------------------------
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


def _api_message(resp: RawResponse) -> str:
    """Read ``message``, then ``error_message``, then the raw text."""
    text = resp.text or ""
    try:
        data = json.loads(text) if text else None
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in ("message", "error_message"):
            if isinstance(data.get(key), str) and data[key]:
                msg: str = data[key]
                errors = data.get("errors")
                if errors:
                    msg += f" ({json.dumps(errors, sort_keys=True)})"
                return msg
    text = text.strip()
    return text[:500] if text else f"HTTP {resp.status}"


def _object_name(request: ApiRequest) -> str:
    if not request.ids:
        return request.endpoint.resource
    if request.endpoint.resource == "job output":
        parts = dict(request.ids)
        return f"output {parts.get('output_id')} of job {parts.get('job_id')}"
    return f"{request.endpoint.resource} {request.ids[0][1]}"


def api_error(cfg: ClientConfig, request: ApiRequest, resp: RawResponse) -> XplentyApiError:
    """Map an error response to an :class:`XplentyApiError` whose message says what to check."""
    msg = _api_message(resp)
    status = resp.status
    if status == 401:
        text = f"Authentication failed: check the API key of connection `{cfg.conn_id}` (API said: {msg})"
    elif status == 403:
        text = (
            f"Permission denied for {request.method} {request.path} in account `{cfg.account_id}`: "
            f"check that the API key of connection `{cfg.conn_id}` belongs to a member allowed to do this "
            f"(API said: {msg})"
        )
    elif status == 404 and request.ids:
        text = (
            f"{_object_name(request).capitalize()} was not found in account `{cfg.account_id}` "
            f"(connection `{cfg.conn_id}`; API said: {msg})"
        )
    elif status == 404:
        text = (
            f"Not found: check the account id `{cfg.account_id}` and host {cfg.base_url} of connection "
            f"`{cfg.conn_id}` (API said: {msg})"
        )
    elif status == 422:
        text = f"The API rejected {request.method} {request.path}: {msg}"
    elif status == 429:
        text = f"Rate limit exceeded for account `{cfg.account_id}` (API said: {msg})"
    else:
        text = msg
    return XplentyApiError(status, text, request.method, request.path)


def transport_error(request: ApiRequest, failure: TransportFailure) -> XplentyApiError:
    """Map a transport failure to an :class:`XplentyApiError` with ``status_code=None``."""
    return XplentyApiError(
        None, f"{failure.kind.replace('_', ' ')}: {failure.detail}", request.method, request.path
    )


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


def _retry_after(resp: RawResponse) -> float | None:
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


# --------------------------------------------------------------------------------------------
# The retry classifier (one for both transports)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Decision:
    """Whether (and how) to retry a failed attempt.

    :param retry: retry at all.
    :param reason: human text for the log.
    :param unknown_outcome: the server may have acted (look for what a create call made first).
    :param retry_after: server-requested wait in seconds.
    :param budget_exhausted: ``X-RateLimit-Remaining: 0`` was seen.
    """

    retry: bool
    reason: str
    unknown_outcome: bool = False
    retry_after: float | None = None
    budget_exhausted: bool = False


def classify(endpoint: Endpoint, outcome: RawResponse | TransportFailure) -> Decision:
    """Decide whether a failed attempt may be retried (the only retry classifier)."""
    if isinstance(outcome, TransportFailure):
        reason = f"{outcome.kind.replace('_', ' ')} ({outcome.detail})"
        if not outcome.maybe_sent:
            return Decision(True, reason)
        if endpoint.idempotent:
            return Decision(True, reason)
        if endpoint.reconcilable:
            return Decision(True, reason, unknown_outcome=True)
        return Decision(False, reason, unknown_outcome=True)
    status = outcome.status
    remaining = rate_limit_remaining(outcome)
    if status == 429:
        return Decision(
            True,
            "HTTP 429 rate limited" + (" (hourly credits used up)" if remaining == 0 else ""),
            retry_after=_retry_after(outcome),
            budget_exhausted=remaining == 0,
        )
    if status in SERVER_ERROR_STATUSES:
        reason = f"HTTP {status}"
        if endpoint.idempotent:
            return Decision(True, reason, retry_after=_retry_after(outcome))
        if endpoint.reconcilable:
            return Decision(True, reason, unknown_outcome=True, retry_after=_retry_after(outcome))
        return Decision(False, reason, unknown_outcome=True)
    return Decision(False, f"HTTP {status}")


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds and back-off of retries.

    :param retry_limit: retries after the first attempt (0 disables retries).
    :param retry_max_seconds: total time budget; a retry whose wait would pass it is not made.
    :param retry_backoff: first back-off step in seconds; doubles per retry (capped at 60 s), jittered.
    """

    retry_limit: int = 5
    retry_max_seconds: float = 120.0
    retry_backoff: float = 1.0

    def __post_init__(self) -> None:
        if self.retry_limit < 0:
            raise XplentyConfigError(f"retry_limit must be >= 0, got {self.retry_limit}")
        if self.retry_max_seconds < 0:
            raise XplentyConfigError(f"retry_max_seconds must be >= 0, got {self.retry_max_seconds}")
        if self.retry_backoff < 0:
            raise XplentyConfigError(f"retry_backoff must be >= 0, got {self.retry_backoff}")

    def wait(self, decision: Decision, attempt_number: int) -> float:
        """Seconds to wait before retry number ``attempt_number`` (1-based)."""
        if decision.retry_after is not None:
            return decision.retry_after
        step = min(MAX_BACKOFF_STEP, self.retry_backoff * (2 ** (attempt_number - 1)))
        if decision.budget_exhausted:
            # Out of hourly credits: more retries soon would only burn the next window.
            step = min(MAX_BACKOFF_STEP, step * 4)
        return step * random.uniform(0.5, 1.0)


class RetryableError(Exception):
    """Raised inside a retry loop for a failed attempt that the classifier allows to retry."""

    def __init__(self, error: XplentyApiError, decision: Decision) -> None:
        super().__init__(str(error))
        self.error = error
        self.decision = decision


# --------------------------------------------------------------------------------------------
# No-duplicate creates
# --------------------------------------------------------------------------------------------
def generated_cluster_name() -> str:
    """Return a unique cluster name, so a lost create response can be matched by name."""
    return f"airflow-{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class Floor:
    """What existed just before a create call: the newest id, and its ``created_at`` (server clock).

    Later objects have a larger id, and were updated at or after ``created_at`` by the server's own
    clock, so the look-up needs no client clock (the emulator's clock may run fast or be frozen).
    """

    max_id: int = 0
    created_at: str | None = None


@dataclass(frozen=True)
class Reconciler(Generic[T]):
    """How to find the object a create call may have made.

    :param lookup: the list request to search, newest first (``sort=created``, ``direction=desc``).
    :param parse: item parser.
    :param matches: whether an item carries every field the create call sent.
    :param describe: label for logs.
    """

    lookup: ApiRequest
    parse: Callable[[Any], T]
    matches: Callable[[Mapping[str, Any]], bool]
    describe: str

    def snapshot_request(self) -> ApiRequest:
        """Return the request for the newest existing object (one item; sent before the create call)."""
        params = {**self.lookup.params, "offset": "0", "limit": "1"}
        return ApiRequest(self.lookup.name, self.lookup.endpoint, self.lookup.path, self.lookup.ids, params)

    @staticmethod
    def floor(data: Any) -> Floor:
        """Read the :class:`Floor` from the snapshot response."""
        items = [i for i in data if isinstance(i, Mapping)] if isinstance(data, list) else []
        newest = max(items, key=lambda i: _int(i.get("id")), default=None)
        if newest is None:
            return Floor()
        created = newest.get("created_at")
        return Floor(_int(newest.get("id")), created if isinstance(created, str) else None)

    def request_after(self, floor: Floor) -> ApiRequest:
        """Return the look-up request, narrowed server-side to objects updated since the floor's time."""
        params = dict(self.lookup.params)
        if floor.created_at:
            params["since"] = floor.created_at
        return ApiRequest(self.lookup.name, self.lookup.endpoint, self.lookup.path, self.lookup.ids, params)

    def pick(self, item: Any, floor: Floor) -> bool | None:
        """Return True for our object, False to keep looking, None to stop (older than the floor)."""
        if not isinstance(item, Mapping):
            return False
        if _int(item.get("id")) <= floor.max_id:
            return None
        return self.matches(item)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)


def job_matches(
    job: Any,
    cluster_id: int,
    package_id: int,
    variables: Mapping[str, Any] | None,
    dynamic_variables: Mapping[str, Any] | None = None,
) -> bool:
    """Whether ``job`` (an API dict or a :class:`~airflow_provider_xplenty.models.Job`) is a run of
    ``package_id`` on ``cluster_id`` with these variables.

    Variable values are compared as the API stores them (:func:`normalise_variables`: ``10`` equals
    ``"10"``; ``None`` equals ``{}``). A job that does not report ``dynamic_variables`` (the API
    may leave them out) matches any dynamic variables.
    """
    if _field(job, "cluster_id") != cluster_id or _field(job, "package_id") != package_id:
        return False
    if normalise_variables(_field(job, "variables")) != normalise_variables(variables):
        return False
    dyn = _field(job, "dynamic_variables")
    return dyn is None or normalise_variables(dyn) == normalise_variables(dynamic_variables)


def job_reconciler(body: Mapping[str, Any], parse: Callable[[Any], T]) -> Reconciler[T]:
    """Find a job with the same cluster, package, variables and dynamic variables."""
    lookup = build(
        "list_jobs", params={"package_id": body["package_id"], "sort": "created", "direction": "desc"}
    )

    def matches(item: Mapping[str, Any]) -> bool:
        return job_matches(
            item, body["cluster_id"], body["package_id"], body.get("variables"), body.get("dynamic_variables")
        )

    return Reconciler(
        lookup, parse, matches, f"job of package {body['package_id']} on cluster {body['cluster_id']}"
    )


def cluster_reconciler(body: Mapping[str, Any], parse: Callable[[Any], T]) -> Reconciler[T]:
    """Find a cluster with the same (unique) name."""
    lookup = build("list_clusters", params={"sort": "created", "direction": "desc"})
    name = body["name"]

    def matches(item: Mapping[str, Any]) -> bool:
        if item.get("name") != name:
            return False
        return "type" not in body or item.get("type") in (None, body["type"])

    return Reconciler(lookup, parse, matches, f"cluster named {name!r}")


# --------------------------------------------------------------------------------------------
# Control flow as plans: written once, run by a sync (requests) or async (httpx) driver
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Op(Generic[T]):
    """One call: the request, the parser of its body, and its duplicate/lost-response handling."""

    request: ApiRequest
    parse: Callable[[Any], T]
    reconciler: Reconciler[T] | None = None
    #: After a lost DELETE response, a 422 may mean "already done": re-read with this request ...
    recheck: ApiRequest | None = None
    #: ... and accept the object when this says it is already in the requested state.
    accept: Callable[[T], bool] | None = None


def parse_as(parse: Callable[[Any], T], request: ApiRequest, data: Any) -> T:
    """Run a body parser; a body of the wrong shape becomes an :class:`XplentyApiError`."""
    try:
        return parse(data)
    except (ValidationError, ValueError, TypeError) as exc:
        raise XplentyApiError(
            None, f"unexpected response shape: {str(exc).splitlines()[0]}", request.method, request.path
        ) from None


@dataclass(frozen=True)
class Wait:
    """A plan step: sleep this many seconds before the next request."""

    seconds: float


#: What a plan yields: a request to send, or a wait.
Step: TypeAlias = ApiRequest | Wait
#: What the driver sends back into the plan: the transport's outcome of a request, ``None`` after a wait.
Outcome: TypeAlias = RawResponse | TransportFailure | None
#: A call's control flow: yields steps, receives outcomes, returns the call's result.
Plan: TypeAlias = Generator[Step, Outcome, T]


class Pager:
    """Offset paging (``limit=100`` until a short page), for the hooks' lazy iterators and look-ups."""

    def __init__(self, request: ApiRequest) -> None:
        self.request = request
        self.offset: int | None = 0

    def next_request(self) -> ApiRequest | None:
        """Return the request for the next page, or ``None`` after the last one."""
        return None if self.offset is None else page(self.request, self.offset)

    def take(self, data: Any) -> list[Any]:
        """Check a page's body and advance; return its items."""
        if not isinstance(data, list):
            raise XplentyApiError(200, "expected a JSON array", self.request.method, self.request.path)
        if self.offset is not None:
            self.offset = None if len(data) < PAGE_LIMIT else self.offset + len(data)
        return data


class Log(Protocol):
    """The part of a logger plans use (the hook's ``self.log``)."""

    def warning(self, msg: Any, /, *args: Any) -> Any: ...

    def error(self, msg: Any, /, *args: Any) -> Any: ...


class Plans:
    """The control flow of every call (retry loop, unknown-outcome recheck, adopt-or-resend, look-ups).

    Each method returns a :data:`Plan`, a generator that yields an :class:`ApiRequest` to send (the
    driver answers with a :class:`RawResponse` or :class:`TransportFailure`) or a :class:`Wait` (the
    driver sleeps and answers ``None``), and returns the call's result. The sync hook drives plans
    with ``requests`` and ``time.sleep``, the async hook with ``httpx`` and ``asyncio.sleep``.

    :param cfg: connection settings (for error messages).
    :param policy: retry bounds and back-off.
    :param log: the hook's logger.
    """

    def __init__(self, cfg: ClientConfig, policy: RetryPolicy, log: Log) -> None:
        self.cfg = cfg
        self.policy = policy
        self.log = log

    # -- one attempt ---------------------------------------------------------------------------
    def exchange(self, request: ApiRequest) -> Plan[Any]:
        """Send ``request`` once; return the parsed body, or raise the mapped (maybe retryable) error."""
        outcome = yield request
        if isinstance(outcome, TransportFailure):
            raise self._failure(request, outcome)
        assert isinstance(outcome, RawResponse), "the driver answers a request with its outcome"
        if rate_limit_remaining(outcome) == 0 and outcome.status < 400:
            self.log.warning(
                "Xplenty rate limit: no credits left in this hour's budget; next calls may get 429"
            )
        if 200 <= outcome.status < 300:
            return parse_body(request, outcome)
        error = api_error(self.cfg, request, outcome)
        decision = classify(request.endpoint, outcome)
        if decision.retry:
            raise RetryableError(error, decision)
        raise error

    @staticmethod
    def _failure(request: ApiRequest, failure: TransportFailure) -> Exception:
        error = transport_error(request, failure)
        decision = classify(request.endpoint, failure)
        if decision.retry:
            return RetryableError(error, decision)
        if decision.unknown_outcome:
            error = XplentyApiError(
                None,
                f"{error.message}; the request may or may not have been carried out (not retried because "
                f"{request.method} {request.endpoint.path} is not idempotent)",
                request.method,
                request.path,
            )
        return error

    # -- the retry loop ------------------------------------------------------------------------
    def _retrying(self, request: ApiRequest) -> Retrying:
        """Return the tenacity controller that decides retries of ``request`` (one per call: it keeps state).

        Bounded in attempts (``1 + retry_limit``) and total time (a retry whose wait would pass
        ``retry_max_seconds`` is not made). It is only asked for decisions (:meth:`retried`); it never
        sleeps itself.
        """
        policy = self.policy

        def wait(state: RetryCallState) -> float:
            # Retry-After when the failed attempt carried one, else back-off with jitter (RetryPolicy.wait).
            exc = state.outcome.exception() if state.outcome else None
            return policy.wait(exc.decision, state.attempt_number) if isinstance(exc, RetryableError) else 0.0

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            self.log.warning(
                "Xplenty API %s %s failed: %s; retry %d of %d in %.2f s",
                request.method,
                request.path,
                exc.decision.reason if isinstance(exc, RetryableError) else repr(exc),
                state.attempt_number,
                policy.retry_limit,
                state.upcoming_sleep,
            )

        return Retrying(
            stop=stop_after_attempt(policy.retry_limit + 1) | stop_before_delay(policy.retry_max_seconds),
            wait=wait,
            # classify() already decided: an attempt raises RetryableError only when it may be retried.
            retry=retry_if_exception(lambda exc: isinstance(exc, RetryableError) and exc.decision.retry),
            before_sleep=before_sleep,
            reraise=True,
        )

    def retried(
        self,
        request: ApiRequest,
        attempt: Callable[[], Plan[T]],
        last_resort: Callable[[], Plan[T | None]] | None = None,
    ) -> Plan[T]:
        """Run ``attempt`` until it succeeds or raises a non-retryable error, within the policy's bounds.

        tenacity decides (:meth:`_retrying`); this drives its state machine the way
        ``tenacity.Retrying.__call__`` does, except that an attempt is a sub-plan and a sleep is a
        yielded :class:`Wait`, so the hook's driver does the sending and the sleeping.

        When the bounds are reached, ``last_resort`` (if any) may still return a result; otherwise
        the last error is raised with the number of attempts and the time spent.
        """
        retrying = self._retrying(request)
        retrying.begin()
        state = RetryCallState(retrying, fn=None, args=(), kwargs={})
        while True:
            try:
                do = retrying.iter(state)
            except RetryableError as exc:  # tenacity stopped (reraise=True): attempts or time used up
                if last_resort is not None:
                    found = yield from last_resort()
                    if found is not None:
                        return found
                raise self._give_up(request, exc, state.start_time, state.attempt_number) from None
            if isinstance(do, DoAttempt):
                try:
                    result = yield from attempt()
                except Exception as exc:  # BaseException (GeneratorExit, cancellation) is never retried
                    state.set_exception((type(exc), exc, exc.__traceback__))
                else:
                    state.set_result(result)
            elif isinstance(do, DoSleep):
                state.prepare_for_next_attempt()
                yield Wait(float(do))
            else:  # the result, or tenacity has raised the last (non-retryable) error
                return do

    def _give_up(
        self, request: ApiRequest, exc: RetryableError, started: float, attempts: int
    ) -> XplentyApiError:
        err = exc.error
        elapsed = time.monotonic() - started
        self.log.error(
            "Xplenty API %s %s failed: %s; giving up after %d attempt(s) in %.1f s",
            request.method,
            request.path,
            exc.decision.reason,
            attempts,
            elapsed,
        )
        return XplentyApiError(
            err.status_code,
            f"{err.message} (gave up after {attempts} attempt(s) in {elapsed:.1f} s)",
            err.method,
            err.path,
        )

    # -- calls ---------------------------------------------------------------------------------
    def send(self, request: ApiRequest) -> Plan[Any]:
        """Send ``request`` with retries; return the parsed JSON body."""
        return (yield from self.retried(request, lambda: self.exchange(request)))

    def call(self, op: Op[T]) -> Plan[T]:
        """Run one public method's call: plain, with a recheck after a lost response, or a create."""
        if op.reconciler is not None:
            return (yield from self._create(op, op.reconciler))
        unknown = False  # an earlier attempt may have been carried out

        def attempt() -> Plan[T]:
            nonlocal unknown
            try:
                return parse_as(op.parse, op.request, (yield from self.exchange(op.request)))
            except RetryableError:
                unknown = True
                raise
            except XplentyApiError as exc:
                if unknown and exc.status_code == 422 and op.recheck and op.accept:
                    current = parse_as(op.parse, op.recheck, (yield from self.send(op.recheck)))
                    if op.accept(current):
                        return current
                raise

        return (yield from self.retried(op.request, attempt))

    def _create(self, op: Op[T], reconciler: Reconciler[T]) -> Plan[T]:
        """Create without duplicates: after an unknown outcome, adopt what the call made, else resend."""
        # What exists now (1 credit): anything newer that matches is ours after a lost response.
        floor = Reconciler.floor((yield from self.send(reconciler.snapshot_request())))
        unknown = False  # an earlier attempt may have created the object

        def attempt() -> Plan[T]:
            nonlocal unknown
            if unknown:
                found = yield from self._find(reconciler, floor)
                if found is not None:
                    return found
            try:
                return parse_as(op.parse, op.request, (yield from self.exchange(op.request)))
            except RetryableError as exc:
                unknown = unknown or exc.decision.unknown_outcome
                raise

        def last_resort() -> Plan[T | None]:
            return (yield from self._find(reconciler, floor)) if unknown else None

        return (yield from self.retried(op.request, attempt, last_resort))

    def _find(self, reconciler: Reconciler[T], floor: Floor) -> Plan[T | None]:
        """Return the object a create call made after ``floor``, if there is one."""
        pager = Pager(reconciler.request_after(floor))
        while (request := pager.next_request()) is not None:
            for item in pager.take((yield from self.send(request))):
                picked = reconciler.pick(item, floor)
                if picked is None:
                    return None
                if picked:
                    self.log.warning(
                        "Xplenty: the response to a create call was lost; adopting the existing %s (id %s) "
                        "instead of creating a duplicate",
                        reconciler.describe,
                        item.get("id") if isinstance(item, Mapping) else "?",
                    )
                    return parse_as(reconciler.parse, reconciler.lookup, item)
        return None
