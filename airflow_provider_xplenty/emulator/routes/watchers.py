"""Watcher routes of clusters, jobs and schedules (``/{kind}/{id}/watchers``)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from airflow_provider_xplenty.emulator.clock import iso
from airflow_provider_xplenty.emulator.params import to_int
from airflow_provider_xplenty.emulator.responses import FastJSON
from airflow_provider_xplenty.emulator.state import ClusterRec, JobRec, ScheduleRec, Store


def build_router(st: Store) -> APIRouter:
    """Return the watcher routes (paths relative to ``/{account}/api``)."""
    router = APIRouter()

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

    return router
