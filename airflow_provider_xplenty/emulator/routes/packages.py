"""Package routes: list, search, templates, create, get, export, update, archive."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from airflow_provider_xplenty.emulator import schemas
from airflow_provider_xplenty.emulator.listing import page, search_filter, since_of
from airflow_provider_xplenty.emulator.params import includes, list_query, read_params, to_int, validate
from airflow_provider_xplenty.emulator.responses import FastJSON
from airflow_provider_xplenty.emulator.state import ApiError, PackageRec, Store, sort_filter


def build_router(st: Store) -> APIRouter:
    """Return the package routes (paths relative to ``/{account}/api``)."""
    router = APIRouter()

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
        q = list_query(await read_params(request))
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
                since=since_of(q),
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
        q = list_query(await read_params(request))
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

    return router
