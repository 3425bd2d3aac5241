"""Request parameters: query string and body (JSON, form, Rails-style bracket keys), validated.

The API takes parameters flat or wrapped in the resource key (``{"cluster": {...}}``), as JSON,
form-encoded bracket keys (``cluster[nodes]=2``) or bracket keys in the query string.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import Request
from pydantic import BaseModel, ValidationError

from airflow_provider_xplenty.emulator import schemas
from airflow_provider_xplenty.emulator.state import ApiError, not_found

M = TypeVar("M", bound=BaseModel)

_KEY_PART = re.compile(r"\[([^\]]*)\]")


def parse_pairs(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Turn Rails-style bracket keys (``cluster[nodes]=2``, ``a[b][]=x``) into nested dicts."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        head = key.split("[", 1)[0]
        parts = [head, *_KEY_PART.findall(key[len(head) :])] if "[" in key else [key]
        cur: dict[str, Any] = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":
                part = str(len(cur))
            if last:
                cur[part] = value
            else:
                nxt = cur.get(part)
                if not isinstance(nxt, dict):
                    nxt = {}
                    cur[part] = nxt
                cur = nxt
    return root


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


async def read_params(request: Request, resource: str | None = None) -> dict[str, Any]:
    """Merge query-string and body parameters (JSON or form, flat or wrapped in ``resource``)."""
    query = parse_pairs(list(request.query_params.multi_items()))
    raw = await request.body()
    body: dict[str, Any] = {}
    if raw.strip():
        ctype = request.headers.get("content-type", "").lower()
        text = raw.decode("utf-8", errors="replace")
        if "x-www-form-urlencoded" in ctype:
            body = parse_pairs(parse_qsl(text, keep_blank_values=True))
        elif "json" in ctype or not ctype or "text/plain" in ctype:
            try:
                data = json.loads(text)
            except ValueError as exc:
                raise ApiError(400, f"Malformed JSON in request body: {exc}") from None
            if data is None:
                data = {}
            if not isinstance(data, dict):
                raise ApiError(400, "The request body must be a JSON object.")
            body = data
        else:
            raise ApiError(415, f"Unsupported media type {ctype!r}; send application/json.")
    params = _merge(query, body)
    if resource and isinstance(params.get(resource), dict):
        inner = params.pop(resource)
        params = _merge(params, inner)
    return params


def validate(model: type[M], params: dict[str, Any]) -> M:
    """Validate parameters or raise a 422 ``ApiError``."""
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        errors: dict[str, list[str]] = {}
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]) or "body"
            errors.setdefault(name, []).append(str(err["msg"]))
        text = "; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items())
        raise ApiError(422, f"Validation failed: {text}", errors) from None


def list_query(params: dict[str, Any]) -> schemas.ListQuery:
    """Validate the parameters of a list or search route."""
    return validate(schemas.ListQuery, params)


def includes(q: schemas.ListQuery) -> tuple[str, ...]:
    """Return the names in ``include=a,b``."""
    return tuple(p.strip() for p in (q.include or "").split(",") if p.strip())


def to_int(value: str, kind: str) -> int:
    """Parse a path id or raise 404."""
    try:
        return int(value)
    except ValueError:
        raise not_found(kind) from None
