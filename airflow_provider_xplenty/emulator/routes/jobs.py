"""Job routes: list, search, run, get, stop, children, variables, log, outputs and previews."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from airflow_provider_xplenty.emulator import schemas
from airflow_provider_xplenty.emulator.clock import iso
from airflow_provider_xplenty.emulator.listing import page, search_filter, since_of
from airflow_provider_xplenty.emulator.params import includes, list_query, read_params, to_int, validate
from airflow_provider_xplenty.emulator.responses import FastJSON
from airflow_provider_xplenty.emulator.state import JobRec, Store, not_found, sort_filter

#: Objects every ``GET /jobs`` item embeds, ``include`` or not; ``GET /jobs/{id}`` embeds only on request.
LIST_EMBEDS = ("cluster", "package")


def build_router(st: Store) -> APIRouter:
    """Return the job routes (paths relative to ``/{account}/api``)."""
    router = APIRouter()

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
            since=since_of(q),
            sort=q.sort or "created",
            direction=q.direction or "desc",
            get_status=lambda j: j.status,
            key_created=lambda j: j.created_at,
            key_updated=lambda j: st.job_updated_at(j, now),
        )

    @router.get("/jobs")
    async def jobs_list(account: str, request: Request) -> Response:
        q = list_query(await read_params(request))
        # The list-jobs examples embed both objects without asking (docs/api-notes.md, List filters).
        inc = (*includes(q), *LIST_EMBEDS)
        with st.lock:
            st.tick()
            now = st.now()  # one instant for filtering, sorting and rendering
            return page(request, list_jobs(account, q, now), q, lambda j: st.render_job(j, inc, now))

    @router.get("/jobs/search")
    async def jobs_search(account: str, request: Request) -> Response:
        q = list_query(await read_params(request))
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
            inc = includes(list_query(await read_params(request)))
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
        q = list_query(await read_params(request))
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

    return router
