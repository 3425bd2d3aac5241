"""Send one request with ``requests`` (sync hook) or ``httpx`` (async hook) and report its raw outcome.

Neither library is imported at module load: ``requests`` only when the sync hook sends, ``httpx`` (and
its TLS context) only when the async hook makes a client.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from airflow_provider_xplenty.hooks._http.budget import budget_for
from airflow_provider_xplenty.hooks._http.config import ClientConfig
from airflow_provider_xplenty.hooks._http.wire import ApiRequest, RawResponse, TransportFailure, headers

if TYPE_CHECKING:
    import ssl

    import httpx
    import requests


def requests_exchange(
    session: requests.Session, cfg: ClientConfig, request: ApiRequest
) -> RawResponse | TransportFailure:
    """Send ``request`` once with a ``requests`` session; never raises for network errors."""
    budget = budget_for(cfg)  # the account's credit budget (hooks/_http/budget.py)
    budget.wait_sync()
    outcome = _requests_send(session, cfg, request)
    budget.observe(outcome)
    return outcome


def _requests_send(
    session: requests.Session, cfg: ClientConfig, request: ApiRequest
) -> RawResponse | TransportFailure:
    import requests

    try:
        resp = session.request(
            request.method,
            cfg.url(request.path),
            params=request.params or None,
            json=request.body,
            headers=headers(cfg, has_body=request.body is not None),
            timeout=(cfg.connect_timeout, cfg.read_timeout),
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        return _requests_failure(exc)
    return RawResponse(resp.status_code, resp.headers, resp.text)


def _requests_failure(exc: Exception) -> TransportFailure:
    import requests

    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, requests.ConnectTimeout):
        return TransportFailure("connect", detail)
    if isinstance(exc, requests.Timeout):
        return TransportFailure("read_timeout", detail)
    if isinstance(exc, requests.ConnectionError):
        from urllib3.exceptions import MaxRetryError, NewConnectionError

        reason = exc.args[0] if exc.args else None
        if isinstance(reason, MaxRetryError):
            reason = reason.reason
        if isinstance(reason, NewConnectionError):
            return TransportFailure("connect", detail)
    return TransportFailure("dropped", detail)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """Return one TLS context for every async client of the process.

    Building httpx's default context costs about 20 ms of blocking CPU; a triggerer that starts 50
    triggers at once would otherwise stall its event loop for a second (``make bench``).
    """
    import httpx

    return httpx.create_ssl_context()


def new_async_client(cfg: ClientConfig) -> httpx.AsyncClient:
    """Return an ``httpx.AsyncClient`` with the connection's timeouts and the shared TLS context."""
    import httpx

    return httpx.AsyncClient(
        timeout=httpx.Timeout(cfg.read_timeout, connect=cfg.connect_timeout),
        follow_redirects=False,
        verify=_ssl_context(),
    )


async def httpx_exchange(
    client: httpx.AsyncClient, cfg: ClientConfig, request: ApiRequest
) -> RawResponse | TransportFailure:
    """Send ``request`` once with an ``httpx`` client; never raises for network errors."""
    budget = budget_for(cfg)  # the account's credit budget and bound on requests in flight
    async with budget.slot():
        outcome = await _httpx_send(client, cfg, request)
    budget.observe(outcome)
    return outcome


async def _httpx_send(
    client: httpx.AsyncClient, cfg: ClientConfig, request: ApiRequest
) -> RawResponse | TransportFailure:
    import httpx

    try:
        resp = await client.request(
            request.method,
            cfg.url(request.path),
            params=request.params or None,
            json=request.body,
            headers=headers(cfg, has_body=request.body is not None),
        )
    except httpx.TransportError as exc:
        return _httpx_failure(exc)
    return RawResponse(resp.status_code, resp.headers, resp.text)


def _httpx_failure(exc: Exception) -> TransportFailure:
    import httpx

    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return TransportFailure("connect", detail)
    if isinstance(exc, (httpx.ReadTimeout, httpx.WriteTimeout)):
        return TransportFailure("read_timeout", detail)
    return TransportFailure("dropped", detail)
