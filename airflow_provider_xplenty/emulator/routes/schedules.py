"""Schedule routes: list, search, create, get, update, delete, clone, run."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from airflow_provider_xplenty.emulator import schemas
from airflow_provider_xplenty.emulator.listing import epoch, page, search_filter, since_of
from airflow_provider_xplenty.emulator.params import list_query, read_params, to_int, validate
from airflow_provider_xplenty.emulator.responses import FastJSON
from airflow_provider_xplenty.emulator.state import ApiError, ScheduleRec, Store, sort_filter


def build_router(st: Store) -> APIRouter:
    """Return the schedule routes (paths relative to ``/{account}/api``)."""
    router = APIRouter()

    def schedule_fields(body: schemas.ScheduleCreate) -> dict[str, Any]:
        fields = body.model_dump(exclude={"start_at", "task"})
        fields["start_at"] = epoch(body.start_at) if body.start_at is not None else st.now()
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
        q = list_query(await read_params(request))
        with st.lock:
            items = sort_filter(
                (s for s in st.schedules.values() if s.account == account),
                status=q.status,
                since=since_of(q),
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
        q = list_query(await read_params(request))
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
                start = epoch(body.start_at)
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

    return router
