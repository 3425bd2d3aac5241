"""FastAPI application of the Xplenty API emulator (API routes, control routes, web pages).

The API routes sit behind :class:`ApiGate`, a plain ASGI wrapper that does what every real API
response has in common: HTTP Basic auth, account lookup, the Accept header, rate-limit headers and
credits, injected transport faults, and the request log.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import datetime, timezone
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from airflow_provider_xplenty.emulator import schemas
from airflow_provider_xplenty.emulator.clock import iso, parse_iso
from airflow_provider_xplenty.emulator.faults import Fault
from airflow_provider_xplenty.emulator.state import (
    HOOK_EVENTS,
    ApiError,
    ClusterRec,
    Delivery,
    HookRec,
    JobRec,
    PackageRec,
    ScheduleRec,
    Store,
    new_salt,
    not_found,
    sort_filter,
)

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
M = TypeVar("M", bound=BaseModel)

VENDOR_TYPE = "application/vnd.xplenty+json"
_API_PATH = re.compile(r"^/([^/]+)/api(?:/|$)")
_VERSION = re.compile(r"version\s*=\s*(\d+)")
_KEY_PART = re.compile(r"\[([^\]]*)\]")


# ---------------------------------------------------------------------- helpers


def error_body(status: int, message: str, errors: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """Return the API error shape."""
    body: dict[str, Any] = {"message": message}
    if errors:
        body["errors"] = errors
    return body


def _query_string(scope: Scope) -> str:
    """The raw query string of a request, for the request log."""
    return bytes(scope.get("query_string", b"")).decode("latin-1")


def _json_bytes(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


class FastJSON(JSONResponse):
    """Compact JSON response."""

    def render(self, content: Any) -> bytes:
        return _json_bytes(content)


def parse_pairs(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Turn Rails-style bracket keys (``cluster[nodes]=2``, ``a[b][]=x``) into nested dicts."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        head = key.split("[", 1)[0]
        parts = [head, *_KEY_PART.findall(key[len(head) :])] if "[" in key else [key]
        cur: dict[str, Any] = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":
                part = str(len(cur))
            if last:
                cur[part] = value
            else:
                nxt = cur.get(part)
                if not isinstance(nxt, dict):
                    nxt = {}
                    cur[part] = nxt
                cur = nxt
    return root


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


async def read_params(request: Request, resource: str | None = None) -> dict[str, Any]:
    """Merge query-string and body parameters (JSON or form, flat or wrapped in ``resource``)."""
    query = parse_pairs(list(request.query_params.multi_items()))
    raw = await request.body()
    body: dict[str, Any] = {}
    if raw.strip():
        ctype = request.headers.get("content-type", "").lower()
        text = raw.decode("utf-8", errors="replace")
        if "x-www-form-urlencoded" in ctype:
            body = parse_pairs(parse_qsl(text, keep_blank_values=True))
        elif "json" in ctype or not ctype or "text/plain" in ctype:
            try:
                data = json.loads(text)
            except ValueError as exc:
                raise ApiError(400, f"Malformed JSON in request body: {exc}") from None
            if data is None:
                data = {}
            if not isinstance(data, dict):
                raise ApiError(400, "The request body must be a JSON object.")
            body = data
        else:
            raise ApiError(415, f"Unsupported media type {ctype!r}; send application/json.")
    params = _merge(query, body)
    if resource and isinstance(params.get(resource), dict):
        inner = params.pop(resource)
        params = _merge(params, inner)
    return params


def validate(model: type[M], params: dict[str, Any]) -> M:
    """Validate parameters or raise a 422 ``ApiError``."""
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        errors: dict[str, list[str]] = {}
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]) or "body"
            errors.setdefault(name, []).append(str(err["msg"]))
        text = "; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items())
        raise ApiError(422, f"Validation failed: {text}", errors) from None


def to_int(value: str, kind: str) -> int:
    """Parse a path id or raise 404."""
    try:
        return int(value)
    except ValueError:
        raise not_found(kind) from None


def parse_auth(header: str | None) -> str | None:
    """Return the API key from ``Basic base64(key:)`` or ``Basic base64(key)``."""
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=False).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    key = decoded.split(":", 1)[0]
    return key or None


def deliver(store: Store, deliveries: list[Delivery], timeout: float = 5.0) -> None:
    """POST web hook deliveries (blocking) and record their outcome on the hooks."""
    for d in deliveries:
        code: int | None = None
        text = ""
        try:
            req = urllib.request.Request(d.url, data=_json_bytes(d.body), headers=d.headers, method="POST")
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                code = resp.status
                text = resp.read(1000).decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            code = exc.code
            text = str(exc)
        except (OSError, ValueError) as exc:
            text = str(exc)
        store.record_delivery(d.hook_id, d.event, code, text, time.time())


def deliver_in_background(store: Store, deliveries: list[Delivery]) -> None:
    """Send deliveries from a daemon thread."""
    if deliveries:
        threading.Thread(target=deliver, args=(store, deliveries), daemon=True).start()


# ---------------------------------------------------------------------- the gate


class ApiGate:
    """ASGI wrapper: auth, account, Accept, rate limits, transport faults, request log."""

    def __init__(self, app: ASGIApp, store: Store) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        store = self.store
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host")
        if host:
            base = f"http://{host}"
            if store.base_url != base:
                store.base_url = base
        match = _API_PATH.match(path)
        if match is None and path != "/rate_limit_status":
            await self.app(scope, receive, send)
            deliver_in_background(store, store.take_deliveries())
            return
        try:
            await self._api(scope, receive, send, path, method, headers, match)
        finally:
            deliver_in_background(store, store.take_deliveries())

    async def _reply(
        self,
        send: Send,
        status: int,
        body: dict[str, Any],
        limit: int,
        remaining: int,
        extra: dict[str, str] | None = None,
    ) -> None:
        payload = _json_bytes(body)
        hdrs = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            (b"x-ratelimit-limit", str(limit).encode()),
            (b"x-ratelimit-remaining", str(remaining).encode()),
            (b"access-control-allow-origin", b"*"),
        ]
        for k, v in (extra or {}).items():
            hdrs.append((k.lower().encode(), v.encode()))
        await send({"type": "http.response.start", "status": status, "headers": hdrs})
        await send({"type": "http.response.body", "body": payload})

    async def _api(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        path: str,
        method: str,
        headers: dict[str, str],
        match: re.Match[str] | None,
    ) -> None:
        store = self.store
        faults = store.faults
        latency = faults.take("latency", method, path)
        if latency is not None and latency.seconds > 0:
            await asyncio.sleep(latency.seconds)
        key = parse_auth(headers.get("authorization"))
        default_limit = store.rate_default_limit
        if key is None or key not in store.keys:
            # Every request is logged before its answer leaves: the client (a test) may act on the
            # answer at once, e.g. reset the emulator, and a late entry would land in the new state.
            store.log_request(method, path, 401, 0, _query_string(scope))
            await self._reply(
                send,
                401,
                error_body(401, "Unauthorized: missing or invalid API key (HTTP Basic, key as user name)."),
                default_limit,
                default_limit,
            )
            return
        limit, remaining = store.rate_status(key)
        slug = match.group(1) if match else None
        if slug is not None and (slug not in store.accounts or store.keys[key] != slug):
            store.log_request(method, path, 404, 0, _query_string(scope))
            await self._reply(send, 404, error_body(404, f"Account {slug!r} not found."), limit, remaining)
            return
        accept = headers.get("accept", "")
        if VENDOR_TYPE not in accept.lower():
            status = store.accept_status
            store.log_request(method, path, status, 0, _query_string(scope))
            await self._reply(
                send,
                status,
                error_body(status, f"Not found: send the header 'Accept: {VENDOR_TYPE}; version=2'."),
                limit,
                remaining,
            )
            return
        version_match = _VERSION.search(accept)
        version = int(version_match.group(1)) if version_match else 2
        fault = faults.take("server_error", method, path)
        if fault is not None:
            texts = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
            text = texts.get(fault.status, "Gateway Timeout")
            store.log_request(method, path, fault.status, 0, _query_string(scope))
            await self._reply(send, fault.status, error_body(fault.status, text), limit, remaining)
            return
        fault = faults.take("rate_limit", method, path)
        if fault is not None:
            extra = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
            store.log_request(method, path, 429, 0, _query_string(scope))
            await self._reply(send, 429, error_body(429, "Rate Limit Exceeded"), limit, 0, extra)
            return
        free = path.endswith("/rate_limit_status")
        allowed, limit, remaining = store.charge(key, free)
        if not allowed:
            store.log_request(method, path, 429, 0, _query_string(scope))
            await self._reply(send, 429, error_body(429, "Rate Limit Exceeded"), limit, 0)
            return
        credit = 0 if free else 1
        scope["xplenty"] = {"account": slug or store.keys[key], "api_key": key, "version": version}
        rate_headers = [
            (b"x-ratelimit-limit", str(limit).encode()),
            (b"x-ratelimit-remaining", str(remaining).encode()),
            (b"access-control-allow-origin", b"*"),
        ]
        lost = faults.take("lost_response", method, path)
        if lost is not None:
            await self._lost(scope, receive, send, lost, limit, remaining, method, path, credit)
            return
        status_box = [0]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_box[0] = message["status"]
                message["headers"] = list(message.get("headers", [])) + rate_headers
                store.log_request(method, path, status_box[0], credit, _query_string(scope))
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:  # the error handler already answered 500 with {"message"}; keep uvicorn quiet
            log.debug("handled emulator error on %s %s", method, path, exc_info=True)
            if status_box[0] == 0:
                status_box[0] = 500
                store.log_request(method, path, 500, credit, _query_string(scope))
                await self._reply(send, 500, error_body(500, "Internal emulator error"), limit, remaining)

    async def _lost(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        fault: Fault,
        limit: int,
        remaining: int,
        method: str,
        path: str,
        credit: int,
    ) -> None:
        messages: list[Message] = []

        async def capture(message: Message) -> None:
            messages.append(message)

        await self.app(scope, receive, capture)
        if fault.mode == "504":
            self.store.log_request(method, path, 504, credit, _query_string(scope))
            await self._reply(send, 504, error_body(504, "Gateway Timeout"), limit, remaining)
            return
        self.store.log_request(method, path, 0, credit, _query_string(scope))
        transport = getattr(getattr(receive, "__self__", None), "transport", None)
        if transport is not None:
            transport.close()
            for _ in range(5):
                await asyncio.sleep(0.001)
                if getattr(receive, "__self__", None) is not None and receive.__self__.disconnected:  # type: ignore[attr-defined]
                    break
            return
        # Fallback for other servers: promise a body that never comes, then end the response.
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"100000")],
            }
        )
        await send({"type": "http.response.body", "body": b"{", "more_body": True})


# ---------------------------------------------------------------------- list helpers


def _query(params: dict[str, Any]) -> schemas.ListQuery:
    return validate(schemas.ListQuery, params)


def _epoch(value: datetime) -> float:
    """Return epoch seconds; naive datetimes are UTC (spec 1.5)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


def _since(q: schemas.ListQuery) -> float | None:
    return _epoch(q.since) if q.since is not None else None


def page(request: Request, items: list[Any], q: schemas.ListQuery, render: Callable[[Any], Any]) -> Response:
    """Slice a sorted list (offset/limit, limit clamped to 1..100) and add the ``Link`` header."""
    limit = min(max(q.limit, 1), 100)
    offset = q.offset
    chunk = [render(i) for i in items[offset : offset + limit]]
    links = []
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("offset", "limit")]
    base = f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}{request.url.path}"
    if offset + limit < len(items):
        links.append(
            f'<{base}?{urlencode([*params, ("offset", offset + limit), ("limit", limit)])}>; rel="next"'
        )
    if offset > 0:
        prev = max(offset - limit, 0)
        links.append(f'<{base}?{urlencode([*params, ("offset", prev), ("limit", limit)])}>; rel="prev"')
    headers = {"Link": ", ".join(links)} if links else None
    return FastJSON(chunk, headers=headers)


_SEARCH_TOKEN = re.compile(r'(-?)(\w+):("([^"]*)"|(\S+))|"([^"]*)"|(\S+)')


def search_filter(q: str | None, items: list[Any], attrs: Callable[[Any], dict[str, Any]]) -> list[Any]:
    """Apply the search language of spec 2.5 (attr:value, attr:>n, -attr:value, free text)."""
    if not q or not q.strip():
        raise ApiError(422, "q is required.", {"q": ["is required"]})
    groups: dict[tuple[str, bool], list[str]] = {}
    free: list[str] = []
    for m in _SEARCH_TOKEN.finditer(q):
        if m.group(2):
            value = m.group(4) if m.group(4) is not None else m.group(5)
            groups.setdefault((m.group(2).lower(), m.group(1) == "-"), []).append(value)
        else:
            free.append((m.group(6) if m.group(6) is not None else m.group(7)).lower())

    def compare(actual: Any, wanted: str) -> bool:
        op = ""
        if wanted[:1] in "<>":
            op, wanted = wanted[0], wanted[1:]
        if actual is None:
            return False
        if isinstance(actual, (int, float)) and not isinstance(actual, bool):
            try:
                target = float(wanted)
            except ValueError:
                try:
                    target = parse_iso(wanted)
                except ValueError:
                    return False
            return actual >= target if op == ">" else actual <= target if op == "<" else actual == target
        return wanted.lower() in str(actual).lower() if not op else False

    out = []
    for item in items:
        values = attrs(item)
        ok = True
        for (attr, negated), wanted_list in groups.items():
            hit = any(compare(values.get(attr), w) for w in wanted_list)
            if hit == negated:
                ok = False
                break
        if ok and free:
            text = f"{values.get('id')} {values.get('name', '')}".lower()
            ok = all(word in text for word in free)
        if ok:
            out.append(item)
    return out


# ---------------------------------------------------------------------- application


def create_app(store: Store | None = None, **store_kwargs: Any) -> ApiGate:
    """Build the emulator ASGI application (``.store`` and ``.fastapi`` are attributes of the result)."""
    st = store if store is not None else Store(**store_kwargs)
    api = FastAPI(title="Xplenty API emulator", docs_url=None, redoc_url=None, openapi_url=None)
    router = APIRouter(prefix="/{account}/api")

    @api.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return FastJSON(error_body(exc.status, exc.message, exc.errors), status_code=exc.status)

    @api.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        status = 404 if exc.status_code in (404, 405) else exc.status_code
        text = "Not found." if status == 404 else str(exc.detail)
        return FastJSON(error_body(status, text), status_code=status)

    @api.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        return FastJSON(error_body(422, f"Validation failed: {exc.errors()}"), status_code=422)

    @api.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        log.exception("emulator error")
        return FastJSON(error_body(500, f"Internal emulator error: {type(exc).__name__}"), status_code=500)

    # ------------------------------------------------------------------ rate limit status
    async def _rate_limit_status(request: Request) -> Response:
        key = request.scope.get("xplenty", {}).get("api_key", "")
        limit, remaining = st.rate_status(key)
        return FastJSON({"limits": {"limit": limit, "remaining": remaining}})

    api.add_api_route("/rate_limit_status", _rate_limit_status, methods=["GET"])
    router.add_api_route("/rate_limit_status", _rate_limit_status, methods=["GET"])

    # ------------------------------------------------------------------ clusters
    def cluster_attrs(c: ClusterRec) -> dict[str, Any]:
        return {
            "id": c.id,
            "name": c.name,
            "nodes": c.nodes,
            "status": c.status,
            "created": c.created_at,
            "terminated": c.terminated_at,
        }

    def list_clusters(account: str, q: schemas.ListQuery) -> list[ClusterRec]:
        return sort_filter(
            (c for c in st.clusters.values() if c.account == account),
            status=q.status,
            since=_since(q),
            sort=q.sort or "created",
            direction=q.direction or "desc",
            get_status=lambda c: c.status,
            key_created=lambda c: c.created_at,
            key_updated=lambda c: c.updated_at,
        )

    @router.get("/clusters")
    async def clusters_list(account: str, request: Request) -> Response:
        q = _query(await read_params(request))
        with st.lock:
            st.tick()
            return page(request, list_clusters(account, q), q, st.render_cluster)

    @router.get("/clusters/search")
    async def clusters_search(account: str, request: Request) -> Response:
        q = _query(await read_params(request))
        with st.lock:
            st.tick()
            items = sort_filter(
                (c for c in st.clusters.values() if c.account == account),
                status=None,
                since=None,
                sort={"modified": "updated"}.get(q.sort or "created", q.sort or "created"),
                direction=q.direction or "desc",
                get_status=lambda c: c.status,
                key_created=lambda c: c.created_at,
                key_updated=lambda c: c.terminated_at or c.updated_at,
            )
            return page(request, search_filter(q.q, items, cluster_attrs), q, st.render_cluster)

    @router.post("/clusters")
    async def clusters_create(account: str, request: Request) -> Response:
        body = validate(schemas.ClusterCreate, await read_params(request, "cluster"))
        with st.lock:
            cluster = st.create_cluster(account, body.model_dump(exclude_none=False))
            return FastJSON(st.render_cluster(cluster), status_code=201)

    @router.get("/clusters/{cluster_id}")
    async def clusters_get(account: str, cluster_id: str) -> Response:
        with st.lock:
            st.tick()
            return FastJSON(st.render_cluster(st.get_cluster(account, to_int(cluster_id, "Cluster"))))

    @router.put("/clusters/{cluster_id}")
    async def clusters_update(account: str, cluster_id: str, request: Request) -> Response:
        cid = to_int(cluster_id, "Cluster")
        body = validate(schemas.ClusterUpdate, await read_params(request, "cluster"))
        with st.lock:
            return FastJSON(st.render_cluster(st.update_cluster(account, cid, body.model_dump())))

    @router.delete("/clusters/{cluster_id}")
    async def clusters_delete(account: str, cluster_id: str) -> Response:
        with st.lock:
            return FastJSON(st.render_cluster(st.terminate_cluster(account, to_int(cluster_id, "Cluster"))))

    @router.get("/clusters/{cluster_id}/instances")
    async def clusters_instances(account: str, cluster_id: str) -> Response:
        with st.lock:
            st.tick()
            c = st.get_cluster(account, to_int(cluster_id, "Cluster"))
            state = "terminated" if c.status == "terminated" else "available"
            if c.status in ("pending", "creating") and c.launched_at is None:
                return FastJSON([])
            return FastJSON(
                [
                    {
                        "instance_id": f"i-{c.id:08x}{n:02d}",
                        "private_dns": f"ip-10-0-{c.id % 256}-{n}.ec2.internal",
                        "public_dns": f"ec2-{c.id}-{n}.compute-1.amazonaws.com",
                        "status": state,
                        "master": n == 0,
                        "spot": False,
                        "vpc": False,
                        "zone": c.zone or "us-east-1b",
                        "instance_type": "m3.xlarge",
                        "url": f"{st.base_url}/{account}/api/clusters/{c.id}/instances/{n}",
                    }
                    for n in range(c.nodes + (0 if c.type == "sandbox" else 1))
                ]
            )

    # ------------------------------------------------------------------ watchers (clusters, jobs, schedules)
    def watched(account: str, kind: str, ident: str) -> ClusterRec | JobRec | ScheduleRec:
        if kind == "clusters":
            return st.get_cluster(account, to_int(ident, "Cluster"))
        if kind == "jobs":
            return st.get_job(account, to_int(ident, "Job"))
        return st.get_schedule(account, to_int(ident, "Schedule"))

    def add_watch_routes(kind: str, created_status: int) -> None:
        singular = kind[:-1]

        async def watch(account: str, ident: str) -> Response:
            with st.lock:
                st.tick()
                obj = watched(account, kind, ident)
                obj.watchers.add(st.accounts[account].user_id)
                url = f"{st.base_url}/{account}/api/{kind}/{obj.id}"
                return FastJSON(
                    {"created_at": iso(st.now()), f"{singular}_url": url}, status_code=created_status
                )

        async def unwatch(account: str, ident: str) -> Response:
            with st.lock:
                obj = watched(account, kind, ident)
                obj.watchers.discard(st.accounts[account].user_id)
                return Response(status_code=204)

        async def watchers(account: str, ident: str) -> Response:
            with st.lock:
                obj = watched(account, kind, ident)
                users = {a.user_id: a.user_name for a in st.accounts.values()}
                return FastJSON(
                    [{"id": u, "display_name": users.get(u, f"User {u}")} for u in sorted(obj.watchers)]
                )

        router.add_api_route(f"/{kind}/{{ident}}/watchers", watch, methods=["POST"])
        router.add_api_route(f"/{kind}/{{ident}}/watchers", unwatch, methods=["DELETE"])
        router.add_api_route(f"/{kind}/{{ident}}/watchers", watchers, methods=["GET"])

    add_watch_routes("clusters", 200)
    add_watch_routes("jobs", 201)
    add_watch_routes("schedules", 200)

    # ------------------------------------------------------------------ jobs
    def includes(q: schemas.ListQuery) -> tuple[str, ...]:
        return tuple(p.strip() for p in (q.include or "").split(",") if p.strip())

    def job_attrs(j: JobRec) -> dict[str, Any]:
        package = st.packages[j.package_id]
        return {
            "id": j.id,
            "name": package.name,
            "status": j.status,
            "started": j.started_at,
            "finished": j.completed_at,
            "duration": int((j.ended_at or st.now()) - j.started_at) if j.started_at else 0,
            "package": f"{package.id} {package.name}",
            "log": st.job_log(j),
            "schedule": j.creator.get("display_name") if j.creator.get("type") == "Schedule" else None,
            "user": st.accounts[j.account].user_name,
        }

    def list_jobs(account: str, q: schemas.ListQuery, now: float) -> list[JobRec]:
        return sort_filter(
            (
                j
                for j in st.jobs.values()
                if j.account == account and (q.package_id is None or j.package_id == q.package_id)
            ),
            status=q.status,
            since=_since(q),
            sort=q.sort or "created",
            direction=q.direction or "desc",
            get_status=lambda j: j.status,
            key_created=lambda j: j.created_at,
            key_updated=lambda j: st.job_updated_at(j, now),
        )

    @router.get("/jobs")
    async def jobs_list(account: str, request: Request) -> Response:
        q = _query(await read_params(request))
        inc = includes(q)
        with st.lock:
            st.tick()
            now = st.now()  # one instant for filtering, sorting and rendering
            return page(request, list_jobs(account, q, now), q, lambda j: st.render_job(j, inc, now))

    @router.get("/jobs/search")
    async def jobs_search(account: str, request: Request) -> Response:
        q = _query(await read_params(request))
        with st.lock:
            st.tick()
            now = st.now()
            sort = q.sort if q.sort in ("id", "updated", "created") else "created"
            items = sort_filter(
                (j for j in st.jobs.values() if j.account == account),
                status=None,
                since=None,
                sort=sort,
                direction=q.direction or "asc",
                get_status=lambda j: j.status,
                key_created=lambda j: j.created_at if sort != "id" else j.id,
                key_updated=lambda j: st.job_updated_at(j, now),
            )
            return page(request, search_filter(q.q, items, job_attrs), q, lambda j: st.render_job(j, now=now))

    @router.post("/jobs")
    async def jobs_create(account: str, request: Request) -> Response:
        params = await read_params(request, "job")
        if "package_id" not in params and "job_id" in params:
            params["package_id"] = params["job_id"]
        body = validate(schemas.JobCreate, params)
        with st.lock:
            job = st.create_job(account, body.model_dump())
            return FastJSON(st.render_job(job), status_code=201)

    @router.get("/jobs/{job_id}")
    async def jobs_get(account: str, job_id: str, request: Request) -> Response:
        jid = to_int(job_id, "Job")
        inc: tuple[str, ...] = ()
        if request.url.query or request.headers.get("content-length", "0") != "0":
            inc = includes(_query(await read_params(request)))
        with st.lock:
            st.tick()
            job = st.get_job(account, jid)
            now = st.now()
            out = st.render_job(job, inc, now)
            if "log_summary" in inc:
                out["log_summary"] = {
                    "id": job.id,
                    "body": st.job_log(job),
                    "error_summary": job.errors,
                    "openai_extract": None,
                    "action_items": [],
                    "created_at": iso(st.job_updated_at(job, now)),
                }
            return FastJSON(out)

    @router.delete("/jobs/{job_id}")
    async def jobs_stop(account: str, job_id: str) -> Response:
        with st.lock:
            return FastJSON(st.render_job(st.stop_job(account, to_int(job_id, "Job"))))

    @router.get("/jobs/{job_id}/children")
    async def jobs_children(account: str, job_id: str, request: Request) -> Response:
        q = _query(await read_params(request))
        with st.lock:
            st.tick()
            st.get_job(account, to_int(job_id, "Job"))
            return page(request, [], q, st.render_job)

    @router.get("/jobs/{job_id}/variables")
    async def jobs_variables(account: str, job_id: str) -> Response:
        with st.lock:
            st.tick()
            return FastJSON(st.merged_variables(st.get_job(account, to_int(job_id, "Job"))))

    @router.get("/jobs/{job_id}/log")
    async def jobs_log(account: str, job_id: str) -> Response:
        with st.lock:
            st.tick()
            job = st.get_job(account, to_int(job_id, "Job"))
            return FastJSON(
                {"body": st.job_log(job), "url": f"{st.base_url}/{account}/api/jobs/{job.id}/log"}
            )

    @router.get("/jobs/{job_id}/outputs/{output_id}")
    async def jobs_output(account: str, job_id: str, output_id: str) -> Response:
        with st.lock:
            st.tick()
            job = st.get_job(account, to_int(job_id, "Job"))
            oid = to_int(output_id, "Output")
            for out in job.outputs:
                if out["id"] == oid:
                    return FastJSON(st._render_output(job, out))
            raise not_found("Output")

    @router.get("/jobs/{job_id}/outputs/{output_id}/preview")
    async def jobs_preview(account: str, job_id: str, output_id: str) -> Response:
        with st.lock:
            st.tick()
            job = st.get_job(account, to_int(job_id, "Job"))
            oid = to_int(output_id, "Output")
            text = st.preview(job, oid)
            url = f"{st.base_url}/{account}/api/jobs/{job.id}/outputs/{oid}/preview"
            return FastJSON({"preview": text, "url": url})

    # ------------------------------------------------------------------ packages
    def package_attrs(p: PackageRec) -> dict[str, Any]:
        return {
            "id": p.id,
            "name": p.name,
            "description": p.description,
            "user": st.accounts[p.account].user_name,
            "created": p.created_at,
            "modified": p.updated_at,
        }

    @router.get("/packages")
    async def packages_list(account: str, request: Request) -> Response:
        q = _query(await read_params(request))
        status = q.status or "active"
        if status not in ("active", "archived"):
            raise ApiError(422, "status must be active or archived.", {"status": ["is invalid"]})
        flow = "include=flow" in str(request.url.query) or "flow" in includes(q)
        with st.lock:
            items = sort_filter(
                (
                    p
                    for p in st.packages.values()
                    if p.account == account and q.flow_type in (None, "all", p.flow_type)
                ),
                status=status,
                since=_since(q),
                sort=q.sort or "created",
                direction=q.direction or "desc",
                get_status=lambda p: p.status,
                key_created=lambda p: p.created_at,
                key_updated=lambda p: p.updated_at,
                key_name=lambda p: p.name,
            )
            return page(request, items, q, lambda p: st.render_package(p, flow=flow))

    @router.get("/packages/search")
    async def packages_search(account: str, request: Request) -> Response:
        q = _query(await read_params(request))
        with st.lock:
            sort = q.sort if q.sort in ("id", "updated", "created", "name") else "created"
            items = sort_filter(
                (p for p in st.packages.values() if p.account == account),
                status=None,
                since=None,
                sort=sort,
                direction=q.direction or "asc",
                get_status=lambda p: p.status,
                key_created=lambda p: p.created_at if sort != "id" else p.id,
                key_updated=lambda p: p.updated_at,
                key_name=lambda p: p.name,
            )
            return page(request, search_filter(q.q, items, package_attrs), q, st.render_package)

    @router.get("/packages/templates")
    async def packages_templates(account: str) -> Response:
        return FastJSON([])

    @router.post("/packages")
    async def packages_create(account: str, request: Request) -> Response:
        body = validate(schemas.PackageCreate, await read_params(request, "package"))
        with st.lock:
            variables = body.variables or {}
            outputs = None
            if body.source_package_id is not None:
                src = st.get_package(account, body.source_package_id)
                variables = body.variables or dict(src.variables)
                outputs = src.outputs
            st.seed(
                [],
                [
                    {
                        "account_id": account,
                        "name": body.name,
                        "description": body.description,
                        "variables": variables,
                        "flow_type": body.flow_type,
                        "outputs": outputs,
                    }
                ],
            )
            pkg = st.packages[max(st.packages)]
            if body.data_flow_json is not None:
                pkg.data_flow_json = body.data_flow_json
            pkg.flow_version = body.flow_version
            return FastJSON(st.render_package(pkg, detail=True), status_code=201)

    @router.get("/packages/{package_id}")
    async def packages_get(account: str, package_id: str, request: Request) -> Response:
        flow = "flow" in request.query_params.get("include", "")
        with st.lock:
            pkg = st.get_package(account, to_int(package_id, "Package"))
            return FastJSON(st.render_package(pkg, detail=True, flow=flow))

    @router.get("/packages/{package_id}/export")
    async def packages_export(account: str, package_id: str) -> Response:
        with st.lock:
            pkg = st.get_package(account, to_int(package_id, "Package"))
            return FastJSON(
                {
                    "name": pkg.name,
                    "description": pkg.description,
                    "variables": dict(pkg.variables),
                    "data_flow_json": pkg.data_flow_json,
                    "flow_type": pkg.flow_type,
                    "flow_version": pkg.flow_version,
                }
            )

    @router.put("/packages/{package_id}")
    async def packages_update(account: str, package_id: str, request: Request) -> Response:
        pid = to_int(package_id, "Package")
        body = validate(schemas.PackageUpdate, await read_params(request, "package"))
        with st.lock:
            pkg = st.get_package(account, pid)
            for key, value in body.model_dump(exclude_none=True).items():
                setattr(pkg, key, value)
            pkg.version += 1
            pkg.updated_at = max(st.now(), pkg.updated_at + 1)
            return FastJSON(st.render_package(pkg, detail=True))

    @router.delete("/packages/{package_id}")
    async def packages_delete(account: str, package_id: str) -> Response:
        with st.lock:
            pkg = st.get_package(account, to_int(package_id, "Package"))
            pkg.status = "archived"
            pkg.updated_at = max(st.now(), pkg.updated_at)
            return FastJSON(st.render_package(pkg, detail=True))

    # ------------------------------------------------------------------ schedules
    def schedule_fields(body: schemas.ScheduleCreate) -> dict[str, Any]:
        fields = body.model_dump(exclude={"start_at", "task"})
        fields["start_at"] = _epoch(body.start_at) if body.start_at is not None else st.now()
        fields["task"] = body.task.model_dump()
        return fields

    def check_packages(account: str, packages: list[dict[str, Any]]) -> None:
        for item in packages:
            pkg = st.packages.get(int(item["package_id"]))
            if pkg is None or pkg.account != account:
                raise ApiError(
                    422, f"Package {item['package_id']} not found.", {"task.packages": ["not found"]}
                )

    def new_schedule(account: str, fields: dict[str, Any]) -> ScheduleRec:
        now = st.now()
        sid = st._take_id("schedule")
        owner = st.accounts[account].user_id
        rec = ScheduleRec(sid, account, fields, owner, now, now, watchers={owner})
        st.schedules[sid] = rec
        return rec

    def schedule_attrs(s: ScheduleRec) -> dict[str, Any]:
        return {
            "id": s.id,
            "name": s.fields["name"],
            "description": s.fields.get("description"),
            "status": s.fields["status"],
            "package": " ".join(
                f"{p['package_id']} {st.packages[p['package_id']].name}"
                for p in s.fields["task"]["packages"]
                if p["package_id"] in st.packages
            ),
        }

    @router.get("/schedules")
    async def schedules_list(account: str, request: Request) -> Response:
        q = _query(await read_params(request))
        with st.lock:
            items = sort_filter(
                (s for s in st.schedules.values() if s.account == account),
                status=q.status,
                since=_since(q),
                sort=q.sort or "created",
                direction=q.direction or "desc",
                get_status=lambda s: s.fields["status"],
                key_created=lambda s: s.created_at,
                key_updated=lambda s: s.updated_at,
                key_name=lambda s: s.fields["name"],
            )
            return page(request, items, q, st.render_schedule)

    @router.get("/schedules/search")
    async def schedules_search(account: str, request: Request) -> Response:
        q = _query(await read_params(request))
        with st.lock:
            sort = q.sort if q.sort in ("id", "updated", "created", "name") else "created"
            items = sort_filter(
                (s for s in st.schedules.values() if s.account == account),
                status=None,
                since=None,
                sort=sort,
                direction=q.direction or "asc",
                get_status=lambda s: s.fields["status"],
                key_created=lambda s: s.created_at if sort != "id" else s.id,
                key_updated=lambda s: s.updated_at,
                key_name=lambda s: s.fields["name"],
            )
            return page(request, search_filter(q.q, items, schedule_attrs), q, st.render_schedule)

    @router.post("/schedules")
    async def schedules_create(account: str, request: Request) -> Response:
        body = validate(schemas.ScheduleCreate, await read_params(request, "schedule"))
        with st.lock:
            fields = schedule_fields(body)
            check_packages(account, fields["task"]["packages"])
            return FastJSON(st.render_schedule(new_schedule(account, fields)), status_code=201)

    @router.get("/schedules/{schedule_id}")
    async def schedules_get(account: str, schedule_id: str) -> Response:
        with st.lock:
            return FastJSON(st.render_schedule(st.get_schedule(account, to_int(schedule_id, "Schedule"))))

    @router.put("/schedules/{schedule_id}")
    async def schedules_update(account: str, schedule_id: str, request: Request) -> Response:
        sid = to_int(schedule_id, "Schedule")
        body = validate(schemas.ScheduleUpdate, await read_params(request, "schedule"))
        with st.lock:
            rec = st.get_schedule(account, sid)
            changes = body.model_dump(exclude_none=True, exclude={"start_at", "task"})
            if body.start_at is not None:
                start = _epoch(body.start_at)
                if rec.execution_count > 0 and int(start) != int(rec.fields["start_at"]):
                    raise ApiError(
                        422,
                        "start_at cannot be changed after the schedule has run.",
                        {"start_at": ["cannot be changed once execution_count > 0"]},
                    )
                changes["start_at"] = start
            if body.task is not None:
                task = dict(rec.fields["task"])
                task.update(body.task.model_dump(exclude_none=True))
                check_packages(account, task["packages"])
                changes["task"] = task
            rec.fields.update(changes)
            rec.updated_at = max(st.now(), rec.updated_at + 1)
            return FastJSON(st.render_schedule(rec))

    @router.delete("/schedules/{schedule_id}")
    async def schedules_delete(account: str, schedule_id: str) -> Response:
        with st.lock:
            rec = st.get_schedule(account, to_int(schedule_id, "Schedule"))
            out = st.render_schedule(rec)
            del st.schedules[rec.id]
            return FastJSON(out)

    @router.post("/schedules/{schedule_id}/clone")
    async def schedules_clone(account: str, schedule_id: str) -> Response:
        with st.lock:
            rec = st.get_schedule(account, to_int(schedule_id, "Schedule"))
            fields = json.loads(json.dumps(rec.fields))
            fields["name"] = f"Copy of {rec.fields['name']}"
            return FastJSON(st.render_schedule(new_schedule(account, fields)), status_code=201)

    @router.post("/schedules/{schedule_id}/run")
    async def schedules_run(account: str, schedule_id: str) -> Response:
        with st.lock:
            st.tick()
            rec = st.get_schedule(account, to_int(schedule_id, "Schedule"))
            st.run_schedule(account, rec)
            return FastJSON(st.render_schedule(rec))

    # ------------------------------------------------------------------ hooks
    def check_events(events: list[str]) -> None:
        unknown = [e for e in events if e not in HOOK_EVENTS]
        if unknown:
            raise ApiError(422, f"Unknown event(s): {', '.join(unknown)}.", {"events": ["is invalid"]})

    def hook_attrs(h: HookRec) -> dict[str, Any]:
        return {"id": h.id, "name": h.name, "type": h.type}

    @router.get("/hooks/types")
    async def hooks_types(account: str) -> Response:
        groups = [
            {"group_type": "job", "group_name": "Job"},
            {"group_type": "cluster", "group_name": "Cluster"},
        ]
        return FastJSON(
            [
                {
                    "type": t,
                    "name": t.capitalize(),
                    "description": f"{t} notifications",
                    "icon_url": None,
                    "groups": groups,
                }
                for t in ("web", "email", "slack", "hipchat", "pagerduty")
            ]
        )

    @router.get("/hooks")
    async def hooks_list(account: str, request: Request) -> Response:
        q = _query(await read_params(request))
        types = {t.strip() for t in (q.type or "").split(",") if t.strip()}
        with st.lock:
            items = sort_filter(
                (h for h in st.hooks.values() if h.account == account and (not types or h.type in types)),
                status=None,
                since=_since(q),
                sort=q.sort or "created",
                direction=q.direction or "desc",
                get_status=lambda h: "",
                key_created=lambda h: h.created_at,
                key_updated=lambda h: h.updated_at,
                key_name=lambda h: h.name,
            )
            return page(request, items, q, st.render_hook)

    @router.get("/hooks/search")
    async def hooks_search(account: str, request: Request) -> Response:
        q = _query(await read_params(request))
        with st.lock:
            items = [h for h in st.hooks.values() if h.account == account]
            return page(request, search_filter(q.q, items, hook_attrs), q, st.render_hook)

    @router.post("/hooks")
    async def hooks_create(account: str, request: Request) -> Response:
        body = validate(schemas.HookCreate, await read_params(request, "hook"))
        check_events(body.events)
        with st.lock:
            now = st.now()
            hid = st._take_id("hook")
            name = body.name or str(
                body.settings.get("url") or body.settings.get("emails") or f"{body.type} hook"
            )
            hook = HookRec(hid, account, name, body.type, body.active, dict(body.settings), list(body.events),
                           new_salt(), now, now)  # fmt: skip
            st.hooks[hid] = hook
            return FastJSON(st.render_hook(hook), status_code=201)

    @router.get("/hooks/{hook_id}")
    async def hooks_get(account: str, hook_id: str) -> Response:
        with st.lock:
            return FastJSON(st.render_hook(st.get_hook(account, to_int(hook_id, "Hook"))))

    @router.put("/hooks/{hook_id}")
    async def hooks_update(account: str, hook_id: str, request: Request) -> Response:
        hid = to_int(hook_id, "Hook")
        body = validate(schemas.HookUpdate, await read_params(request, "hook"))
        if body.events is not None:
            check_events(body.events)
        with st.lock:
            hook = st.get_hook(account, hid)
            if body.name is not None:
                hook.name = body.name
            if body.events is not None:
                hook.events = list(body.events)
            if body.active is not None:
                hook.active = body.active
            if body.settings is not None:
                hook.settings.update(body.settings)
            hook.updated_at = max(st.now(), hook.updated_at + 1)
            return FastJSON(st.render_hook(hook))

    @router.delete("/hooks/{hook_id}")
    async def hooks_delete(account: str, hook_id: str) -> Response:
        with st.lock:
            hook = st.get_hook(account, to_int(hook_id, "Hook"))
            out = st.render_hook(hook)
            del st.hooks[hook.id]
            return FastJSON(out)

    @router.put("/hooks/{hook_id}/reset_salt")
    async def hooks_reset_salt(account: str, hook_id: str) -> Response:
        with st.lock:
            hook = st.get_hook(account, to_int(hook_id, "Hook"))
            hook.salt = new_salt()
            hook.updated_at = max(st.now(), hook.updated_at)
            return FastJSON({"salt": hook.salt})

    @router.get("/hooks/{hook_id}/ping")
    async def hooks_ping(account: str, hook_id: str) -> Response:
        with st.lock:
            hook = st.get_hook(account, to_int(hook_id, "Hook"))
            pings = []
            if hook.type == "web" and hook.settings.get("url"):
                url = f"{st.base_url}/{account}/api/hooks/{hook.id}"
                data = {"ping": True, "hook": st.render_hook(hook)}
                for event in hook.events:
                    pings.append(st._delivery(hook, event, hook.id, url, data))
        await run_in_threadpool(deliver, st, pings)
        with st.lock:
            events = []
            for event in hook.events:
                status = hook.event_status.get(event, {})
                last_time = status.get("last_trigger_time")
                events.append(
                    {
                        "id": event,
                        "name": HOOK_EVENTS.get(event, event),
                        "last_response": status.get("last_response", {"code": None, "body": None}),
                        "last_trigger_status": status.get("last_trigger_status", "none"),
                        "last_trigger_time": iso(last_time) if last_time else None,
                    }
                )
            out = st.render_hook(hook)
            out["events"] = events
            return FastJSON(out)

    # ------------------------------------------------------------------ other small routes
    @router.get("/stacks")
    async def stacks(account: str) -> Response:
        names = ("white-everest", "mint-everest", "lime-everest", "blue-everest")
        return FastJSON([{"id": n, "name": n.replace("-", " ").title()} for n in names])

    @router.get("/regions")
    async def regions(account: str) -> Response:
        return FastJSON(
            [
                {
                    "id": "amazon-web-services::us-east-1",
                    "name": "AWS - US East (N. Virginia)",
                    "short_name": "us-east-1",
                    "group_name": "Amazon Web Services",
                }
            ]
        )

    api.include_router(router)
    add_control_routes(api, st)
    add_pages(api, st)
    gate = ApiGate(api, st)
    gate.fastapi = api  # type: ignore[attr-defined]
    return gate


# ---------------------------------------------------------------------- control routes


def add_control_routes(api: FastAPI, st: Store) -> None:
    """Add the ``/_emulator/`` routes (no auth, not rate limited, not logged)."""
    ctl = APIRouter(prefix="/_emulator")

    async def body_of(request: Request) -> dict[str, Any]:
        params = await read_params(request)
        return params

    @ctl.post("/reset")
    async def reset(request: Request) -> Response:
        body = validate(schemas.ResetIn, await body_of(request))
        st.reset(body.speed)
        return FastJSON({"ok": True, **st.clock_info()})

    @ctl.post("/seed")
    async def seed(request: Request) -> Response:
        body = validate(schemas.SeedIn, await body_of(request))
        result = st.seed(
            [a.model_dump() for a in body.accounts],
            [p.model_dump(exclude_none=True) for p in body.packages],
        )
        return FastJSON(result)

    @ctl.get("/clock")
    async def clock_get() -> Response:
        return FastJSON(st.clock_info())

    @ctl.post("/clock")
    async def clock_set(request: Request) -> Response:
        body = validate(schemas.ClockIn, await body_of(request))
        return FastJSON(st.set_clock(body.speed, body.durations, body.max_running_jobs, body.accept_status))

    @ctl.post("/advance")
    async def advance(request: Request) -> Response:
        body = validate(schemas.AdvanceIn, await body_of(request))
        return FastJSON(st.advance(body.seconds))

    @ctl.post("/faults")
    async def add_fault(request: Request) -> Response:
        spec = await body_of(request)
        body = validate(schemas.FaultIn, spec)
        with st.lock:
            st.fault_counter += 1
            fid = st.fault_counter
        if body.kind == "job_failure":
            st.add_job_failure(body.job_id, body.package_id, body.message, body.count or 1)
        elif body.kind == "cluster_failure":
            st.add_cluster_failure(body.cluster_id, body.message)
        else:
            if body.kind == "latency" and body.seconds is None:
                raise ApiError(422, "latency needs seconds.", {"seconds": ["is required"]})
            if body.kind == "lost_response" and body.method is None:
                body.method = "POST"
            count = body.count
            until = None
            window = None if body.kind == "latency" else body.seconds
            if window is not None:
                until = time.monotonic() + window
            if count is None and until is None and body.probability is None:
                count = 1
            st.faults.add(
                Fault(
                    id=fid,
                    kind=body.kind,
                    count=count,
                    until=until,
                    probability=body.probability,
                    path_contains=body.path_contains,
                    method=body.method,
                    status=body.status,
                    seconds=body.seconds or 0.0,
                    retry_after=body.retry_after,
                    mode=body.mode,
                    spec=body.model_dump(exclude_none=True),
                )
            )
        return FastJSON({"id": fid})

    @ctl.get("/faults")
    async def list_faults() -> Response:
        return FastJSON({"faults": st.faults.describe()})

    @ctl.delete("/faults")
    async def clear_faults() -> Response:
        st.faults.clear()
        with st.lock:
            st.job_failures.clear()
            st.cluster_failures.clear()
        return FastJSON({"ok": True})

    @ctl.post("/rate_limit")
    async def rate_limit(request: Request) -> Response:
        body = validate(schemas.RateLimitIn, await body_of(request))
        return FastJSON(st.set_rate_limit(body.limit, body.remaining, body.api_key))

    @ctl.get("/state")
    async def state() -> Response:
        return FastJSON(st.snapshot())

    @ctl.get("/requests")
    async def requests_log() -> Response:
        with st.lock:
            totals = {
                "count": st.totals["count"],
                "credits": st.totals["credits"],
                "by_status": dict(st.totals["by_status"]),
            }
            return FastJSON({"requests": list(st.request_log), "totals": totals})

    @ctl.delete("/requests")
    async def clear_requests() -> Response:
        with st.lock:
            st.request_log.clear()
            st.totals = {"count": 0, "credits": 0, "by_status": {}}
        return FastJSON({"ok": True})

    api.include_router(ctl)


def add_pages(api: FastAPI, st: Store) -> None:
    """Serve tiny HTML pages at the ``html_url`` addresses so links resolve."""

    async def page_for(account: str, kind: str, ident: str) -> Response:
        with st.lock:
            st.tick()
            try:
                number = int(ident)
                if kind == "clusters":
                    obj: dict[str, Any] = st.render_cluster(st.get_cluster(account, number))
                elif kind == "jobs":
                    obj = st.render_job(st.get_job(account, number))
                elif kind == "packages":
                    obj = st.render_package(st.get_package(account, number))
                else:
                    obj = st.render_schedule(st.get_schedule(account, number))
            except (ApiError, ValueError):
                return HTMLResponse("<h1>Not found</h1>", status_code=404)
        title = f"{kind[:-1].capitalize()} {obj['id']} ({obj.get('status')})"
        rows = "".join(
            f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in obj.items() if not isinstance(v, (dict, list))
        )
        html = f"<!doctype html><title>{title}</title><h1>Xplenty emulator: {title}</h1><table>{rows}</table>"
        return HTMLResponse(html)

    def make_handler(kind: str) -> Callable[[str, str], Awaitable[Response]]:
        async def handler(account: str, ident: str) -> Response:
            return await page_for(account, kind, ident)

        return handler

    for kind in ("clusters", "jobs", "packages", "schedules"):
        api.add_api_route(f"/{{account}}/{kind}/{{ident}}", make_handler(kind), methods=["GET"])

    @api.get("/")
    async def index() -> Response:
        return FastJSON({"emulator": "xplenty", "accounts": sorted(st.accounts), "docs": "docs/emulator.md"})
