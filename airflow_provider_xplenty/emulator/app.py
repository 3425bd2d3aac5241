"""The emulator's FastAPI application: error handlers, the routers, and the gate in front of them.

Layout: :mod:`.gate` (auth, Accept, rate limits, transport faults, request log),
:mod:`.routes` (one router per resource, control routes, pages), :mod:`.params`, :mod:`.listing`
and :mod:`.responses` (shared request and response helpers), :mod:`.state` (the store).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from airflow_provider_xplenty.emulator.gate import ApiGate
from airflow_provider_xplenty.emulator.responses import FastJSON, error_body
from airflow_provider_xplenty.emulator.routes import (
    account,
    clusters,
    control,
    hooks,
    jobs,
    packages,
    pages,
    schedules,
    watchers,
)
from airflow_provider_xplenty.emulator.state import ApiError, Store

log = logging.getLogger(__name__)

#: The API routers in the order they are matched (a literal segment such as ``/clusters/search``
#: is declared before ``/clusters/{cluster_id}`` inside each router).
API_ROUTERS = (account, clusters, watchers, jobs, packages, schedules, hooks)


def add_error_handlers(api: FastAPI) -> None:
    """Answer every error with the API's error shape ``{"message": ...}``."""

    @api.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return FastJSON(error_body(exc.status, exc.message, exc.errors), status_code=exc.status)

    @api.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        status = 404 if exc.status_code in (404, 405) else exc.status_code
        text = "Not found." if status == 404 else str(exc.detail)
        return FastJSON(error_body(status, text), status_code=status)

    @api.exception_handler(ClientDisconnect)
    async def _client_gone(request: Request, exc: ClientDisconnect) -> Response:
        # Nobody reads this answer; 499 (nginx's "client closed request") is what the request log shows.
        return Response(status_code=499)

    @api.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        return FastJSON(error_body(422, f"Validation failed: {exc.errors()}"), status_code=422)

    @api.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        log.exception("emulator error")
        return FastJSON(error_body(500, f"Internal emulator error: {type(exc).__name__}"), status_code=500)


def create_app(store: Store | None = None, **store_kwargs: Any) -> ApiGate:
    """Build the emulator ASGI application (``.store`` and ``.fastapi`` are attributes of the result).

    :param store: the state to serve; a new :class:`Store` built from ``store_kwargs`` if None.
    """
    st = store if store is not None else Store(**store_kwargs)
    api = FastAPI(title="Xplenty API emulator", docs_url=None, redoc_url=None, openapi_url=None)
    add_error_handlers(api)
    api.add_api_route("/rate_limit_status", account.rate_limit_status(st), methods=["GET"])
    for module in API_ROUTERS:
        api.include_router(module.build_router(st), prefix="/{account}/api")
    api.include_router(control.build_router(st))
    api.include_router(pages.build_router(st))
    gate = ApiGate(api, st)
    gate.fastapi = api  # type: ignore[attr-defined]
    return gate
