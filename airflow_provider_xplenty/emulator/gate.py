"""The gate in front of the API routes: what every real API response has in common.

:class:`ApiGate` is a plain ASGI wrapper (cheaper than FastAPI middleware) that does HTTP Basic
auth, the account lookup, the vendor ``Accept`` header, rate-limit headers and credits, injected
transport faults (latency, 5xx, 429, lost and slow responses; slow ones and dropped connections in
:mod:`.late`) and the request log, then sends the web hook deliveries the request caused. Routes outside
``/{account}/api`` (control routes, pages) pass through.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import re
from typing import Any

from airflow_provider_xplenty.emulator.asgi import ASGIApp, Message, Receive, Scope, Send, json_messages
from airflow_provider_xplenty.emulator.faults import Fault
from airflow_provider_xplenty.emulator.late import drop_connection, slow_response
from airflow_provider_xplenty.emulator.responses import error_body
from airflow_provider_xplenty.emulator.state import Store
from airflow_provider_xplenty.emulator.webhooks import deliver_in_background

log = logging.getLogger(__name__)

VENDOR_TYPE = "application/vnd.xplenty+json"
_API_PATH = re.compile(r"^/([^/]+)/api(?:/|$)")
_VERSION = re.compile(r"version\s*=\s*(\d+)")


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


def _query_string(scope: Scope) -> str:
    """The raw query string of a request, for the request log."""
    return bytes(scope.get("query_string", b"")).decode("latin-1")


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
        hdrs = [
            (b"x-ratelimit-limit", str(limit).encode()),
            (b"x-ratelimit-remaining", str(remaining).encode()),
            (b"access-control-allow-origin", b"*"),
        ]
        for k, v in (extra or {}).items():
            hdrs.append((k.lower().encode(), v.encode()))
        for message in json_messages(status, body, hdrs):
            await send(message)

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
        slow = faults.take("slow_response", method, path)
        if slow is not None:

            def log_slow(status: int) -> None:
                store.log_request(method, path, status, credit, _query_string(scope), "slow_response")

            await slow_response(self.app, store, scope, receive, send, slow, rate_headers, log_slow)
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
        await drop_connection(receive, send)
