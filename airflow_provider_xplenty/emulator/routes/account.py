"""Account-level routes: ``rate_limit_status`` (free of charge), stacks and regions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from fastapi.responses import Response

from airflow_provider_xplenty.emulator.responses import FastJSON
from airflow_provider_xplenty.emulator.state import Store


def rate_limit_status(st: Store) -> Callable[[Request], Awaitable[Response]]:
    """Return the ``rate_limit_status`` handler (served under ``/{account}/api`` and at the root)."""

    async def handler(request: Request) -> Response:
        key = request.scope.get("xplenty", {}).get("api_key", "")
        limit, remaining = st.rate_status(key)
        return FastJSON({"limits": {"limit": limit, "remaining": remaining}})

    return handler


def build_router(st: Store) -> APIRouter:
    """Return the account routes (paths relative to ``/{account}/api``)."""
    router = APIRouter()
    router.add_api_route("/rate_limit_status", rate_limit_status(st), methods=["GET"])

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

    return router
