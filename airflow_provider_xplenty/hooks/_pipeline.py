"""Transport-independent request pipeline shared by the sync and async Xplenty hooks.

Everything here is pure (no I/O): the endpoint table, connection parsing, request building,
headers and auth, response parsing, error mapping, the retry classifier and the retry policy.
The hooks only move bytes (``requests`` or ``httpx``) and loop.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote, urlsplit

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
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
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


def check_variables(value: Any, name: str = "variables") -> dict[str, Any] | None:
    """Validate package variables: a dict of string names to string (or number/bool) expressions."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise XplentyConfigError(
            f"{name} must be a dict of variable name to expression, got {type(value).__name__}"
        )
    out: dict[str, Any] = {}
    for key, val in value.items():
        if not isinstance(key, str) or not key:
            raise XplentyConfigError(f"{name}: variable names must be non-empty strings, got {key!r}")
        if not isinstance(val, (str, int, float, bool)):
            raise XplentyConfigError(
                f"{name}: value of {key!r} must be a string expression (e.g. \"'/path'\"), "
                f"got {type(val).__name__}"
            )
        out[key] = val
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


def _norm(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _norm(v) for k, v in value.items()}
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return str(value)
    return value


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


def job_reconciler(body: Mapping[str, Any], parse: Callable[[Any], T]) -> Reconciler[T]:
    """Find a job with the same cluster, package, variables and dynamic variables."""
    lookup = build(
        "list_jobs", params={"package_id": body["package_id"], "sort": "created", "direction": "desc"}
    )
    want_vars = _norm(body.get("variables") or {})
    want_dyn = _norm(body.get("dynamic_variables") or {})

    def matches(item: Mapping[str, Any]) -> bool:
        if item.get("cluster_id") != body["cluster_id"] or item.get("package_id") != body["package_id"]:
            return False
        if _norm(item.get("variables") or {}) != want_vars:
            return False
        dyn = item.get("dynamic_variables")
        return dyn is None or _norm(dyn) == want_dyn

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
