"""Web pages: tiny HTML pages at the ``html_url`` addresses (so extra links resolve), and ``/``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from airflow_provider_xplenty.emulator.responses import FastJSON
from airflow_provider_xplenty.emulator.state import ApiError, Store


def build_router(st: Store) -> APIRouter:
    """Return the HTML pages of clusters, jobs, packages and schedules, and the index route."""
    router = APIRouter()

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
        router.add_api_route(f"/{{account}}/{kind}/{{ident}}", make_handler(kind), methods=["GET"])

    @router.get("/")
    async def index() -> Response:
        return FastJSON({"emulator": "xplenty", "accounts": sorted(st.accounts), "docs": "docs/emulator.md"})

    return router
