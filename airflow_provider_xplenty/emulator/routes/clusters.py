"""Cluster routes: list, search, create, get, update, terminate, instances."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from airflow_provider_xplenty.emulator import schemas
from airflow_provider_xplenty.emulator.listing import page, search_filter, since_of
from airflow_provider_xplenty.emulator.params import list_query, read_params, to_int, validate
from airflow_provider_xplenty.emulator.responses import FastJSON
from airflow_provider_xplenty.emulator.state import ClusterRec, Store, sort_filter


def cluster_attrs(c: ClusterRec) -> dict[str, Any]:
    """Return the searchable attributes of a cluster."""
    return {
        "id": c.id,
        "name": c.name,
        "nodes": c.nodes,
        "status": c.status,
        "created": c.created_at,
        "terminated": c.terminated_at,
    }


def build_router(st: Store) -> APIRouter:
    """Return the cluster routes (paths relative to ``/{account}/api``)."""
    router = APIRouter()

    def list_clusters(account: str, q: schemas.ListQuery) -> list[ClusterRec]:
        return sort_filter(
            (c for c in st.clusters.values() if c.account == account),
            status=q.status,
            since=since_of(q),
            sort=q.sort or "created",
            direction=q.direction or "desc",
            get_status=lambda c: c.status,
            key_created=lambda c: c.created_at,
            key_updated=lambda c: c.updated_at,
        )

    @router.get("/clusters")
    async def clusters_list(account: str, request: Request) -> Response:
        q = list_query(await read_params(request))
        with st.lock:
            st.tick()
            return page(request, list_clusters(account, q), q, st.render_cluster)

    @router.get("/clusters/search")
    async def clusters_search(account: str, request: Request) -> Response:
        q = list_query(await read_params(request))
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

    return router
