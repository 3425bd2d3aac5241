"""Service hook routes: types, list, search, create, get, update, delete, reset salt, ping."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from airflow_provider_xplenty.emulator import schemas
from airflow_provider_xplenty.emulator.clock import iso
from airflow_provider_xplenty.emulator.listing import page, search_filter, since_of
from airflow_provider_xplenty.emulator.params import list_query, read_params, to_int, validate
from airflow_provider_xplenty.emulator.responses import FastJSON
from airflow_provider_xplenty.emulator.state import (
    HOOK_EVENTS,
    ApiError,
    HookRec,
    Store,
    new_salt,
    sort_filter,
)
from airflow_provider_xplenty.emulator.webhooks import deliver


def check_events(events: list[str]) -> None:
    """Raise 422 for an unknown event name."""
    unknown = [e for e in events if e not in HOOK_EVENTS]
    if unknown:
        raise ApiError(422, f"Unknown event(s): {', '.join(unknown)}.", {"events": ["is invalid"]})


def hook_attrs(h: HookRec) -> dict[str, Any]:
    """Return the searchable attributes of a hook."""
    return {"id": h.id, "name": h.name, "type": h.type}


def build_router(st: Store) -> APIRouter:
    """Return the hook routes (paths relative to ``/{account}/api``)."""
    router = APIRouter()

    @router.get("/hooks/types")
    async def hooks_types(account: str) -> Response:
        groups = [
            {"group_type": "job", "group_name": "Job"},
            {"group_type": "cluster", "group_name": "Cluster"},
        ]
        return FastJSON(
            [
                {
                    "type": t,
                    "name": t.capitalize(),
                    "description": f"{t} notifications",
                    "icon_url": None,
                    "groups": groups,
                }
                for t in ("web", "email", "slack", "hipchat", "pagerduty")
            ]
        )

    @router.get("/hooks")
    async def hooks_list(account: str, request: Request) -> Response:
        q = list_query(await read_params(request))
        types = {t.strip() for t in (q.type or "").split(",") if t.strip()}
        with st.lock:
            items = sort_filter(
                (h for h in st.hooks.values() if h.account == account and (not types or h.type in types)),
                status=None,
                since=since_of(q),
                sort=q.sort or "created",
                direction=q.direction or "desc",
                get_status=lambda h: "",
                key_created=lambda h: h.created_at,
                key_updated=lambda h: h.updated_at,
                key_name=lambda h: h.name,
            )
            return page(request, items, q, st.render_hook)

    @router.get("/hooks/search")
    async def hooks_search(account: str, request: Request) -> Response:
        q = list_query(await read_params(request))
        with st.lock:
            items = [h for h in st.hooks.values() if h.account == account]
            return page(request, search_filter(q.q, items, hook_attrs), q, st.render_hook)

    @router.post("/hooks")
    async def hooks_create(account: str, request: Request) -> Response:
        body = validate(schemas.HookCreate, await read_params(request, "hook"))
        check_events(body.events)
        with st.lock:
            now = st.now()
            hid = st._take_id("hook")
            name = body.name or str(
                body.settings.get("url") or body.settings.get("emails") or f"{body.type} hook"
            )
            hook = HookRec(hid, account, name, body.type, body.active, dict(body.settings), list(body.events),
                           new_salt(), now, now)  # fmt: skip
            st.hooks[hid] = hook
            return FastJSON(st.render_hook(hook), status_code=201)

    @router.get("/hooks/{hook_id}")
    async def hooks_get(account: str, hook_id: str) -> Response:
        with st.lock:
            return FastJSON(st.render_hook(st.get_hook(account, to_int(hook_id, "Hook"))))

    @router.put("/hooks/{hook_id}")
    async def hooks_update(account: str, hook_id: str, request: Request) -> Response:
        hid = to_int(hook_id, "Hook")
        body = validate(schemas.HookUpdate, await read_params(request, "hook"))
        if body.events is not None:
            check_events(body.events)
        with st.lock:
            hook = st.get_hook(account, hid)
            if body.name is not None:
                hook.name = body.name
            if body.events is not None:
                hook.events = list(body.events)
            if body.active is not None:
                hook.active = body.active
            if body.settings is not None:
                hook.settings.update(body.settings)
            hook.updated_at = max(st.now(), hook.updated_at + 1)
            return FastJSON(st.render_hook(hook))

    @router.delete("/hooks/{hook_id}")
    async def hooks_delete(account: str, hook_id: str) -> Response:
        with st.lock:
            hook = st.get_hook(account, to_int(hook_id, "Hook"))
            out = st.render_hook(hook)
            del st.hooks[hook.id]
            return FastJSON(out)

    @router.put("/hooks/{hook_id}/reset_salt")
    async def hooks_reset_salt(account: str, hook_id: str) -> Response:
        with st.lock:
            hook = st.get_hook(account, to_int(hook_id, "Hook"))
            hook.salt = new_salt()
            hook.updated_at = max(st.now(), hook.updated_at)
            return FastJSON({"salt": hook.salt})

    @router.get("/hooks/{hook_id}/ping")
    async def hooks_ping(account: str, hook_id: str) -> Response:
        with st.lock:
            hook = st.get_hook(account, to_int(hook_id, "Hook"))
            pings = []
            if hook.type == "web" and hook.settings.get("url"):
                url = f"{st.base_url}/{account}/api/hooks/{hook.id}"
                data = {"ping": True, "hook": st.render_hook(hook)}
                for event in hook.events:
                    pings.append(st._delivery(hook, event, hook.id, url, data))
        await run_in_threadpool(deliver, st, pings)
        with st.lock:
            events = []
            for event in hook.events:
                status = hook.event_status.get(event, {})
                last_time = status.get("last_trigger_time")
                events.append(
                    {
                        "id": event,
                        "name": HOOK_EVENTS.get(event, event),
                        "last_response": status.get("last_response", {"code": None, "body": None}),
                        "last_trigger_status": status.get("last_trigger_status", "none"),
                        "last_trigger_time": iso(last_time) if last_time else None,
                    }
                )
            out = st.render_hook(hook)
            out["events"] = events
            return FastJSON(out)

    return router
