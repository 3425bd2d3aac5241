"""List routes: ``since``, offset/limit pages with the ``Link`` header, and the search language."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response

from airflow_provider_xplenty.emulator import schemas
from airflow_provider_xplenty.emulator.clock import parse_iso
from airflow_provider_xplenty.emulator.responses import FastJSON
from airflow_provider_xplenty.emulator.state import ApiError

_SEARCH_TOKEN = re.compile(r'(-?)(\w+):("([^"]*)"|(\S+))|"([^"]*)"|(\S+)')


def epoch(value: datetime) -> float:
    """Return epoch seconds; naive datetimes are UTC, as the API reads them."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


def since_of(q: schemas.ListQuery) -> float | None:
    """Return the ``since`` filter as epoch seconds, or None."""
    return epoch(q.since) if q.since is not None else None


def page(request: Request, items: list[Any], q: schemas.ListQuery, render: Callable[[Any], Any]) -> Response:
    """Slice a sorted list (offset/limit, limit clamped to 1..100) and add the ``Link`` header."""
    limit = min(max(q.limit, 1), 100)
    offset = q.offset
    chunk = [render(i) for i in items[offset : offset + limit]]
    links = []
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("offset", "limit")]
    base = f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}{request.url.path}"
    if offset + limit < len(items):
        links.append(
            f'<{base}?{urlencode([*params, ("offset", offset + limit), ("limit", limit)])}>; rel="next"'
        )
    if offset > 0:
        prev = max(offset - limit, 0)
        links.append(f'<{base}?{urlencode([*params, ("offset", prev), ("limit", limit)])}>; rel="prev"')
    headers = {"Link": ", ".join(links)} if links else None
    return FastJSON(chunk, headers=headers)


def search_filter(q: str | None, items: list[Any], attrs: Callable[[Any], dict[str, Any]]) -> list[Any]:
    """Apply the search language (``attr:value``, ``attr:"phrase"``, ``attr:>n``, ``-attr:value``, free text).

    ``attrs`` returns the searchable attributes of an item; numbers compare numerically (dates as
    epoch seconds), text by case-insensitive substring; free text matches the id and name.
    """
    if not q or not q.strip():
        raise ApiError(422, "q is required.", {"q": ["is required"]})
    groups: dict[tuple[str, bool], list[str]] = {}
    free: list[str] = []
    for m in _SEARCH_TOKEN.finditer(q):
        if m.group(2):
            value = m.group(4) if m.group(4) is not None else m.group(5)
            groups.setdefault((m.group(2).lower(), m.group(1) == "-"), []).append(value)
        else:
            free.append((m.group(6) if m.group(6) is not None else m.group(7)).lower())

    def compare(actual: Any, wanted: str) -> bool:
        op = ""
        if wanted[:1] in "<>":
            op, wanted = wanted[0], wanted[1:]
        if actual is None:
            return False
        if isinstance(actual, (int, float)) and not isinstance(actual, bool):
            try:
                target = float(wanted)
            except ValueError:
                try:
                    target = parse_iso(wanted)
                except ValueError:
                    return False
            return actual >= target if op == ">" else actual <= target if op == "<" else actual == target
        return wanted.lower() in str(actual).lower() if not op else False

    out = []
    for item in items:
        values = attrs(item)
        ok = True
        for (attr, negated), wanted_list in groups.items():
            hit = any(compare(values.get(attr), w) for w in wanted_list)
            if hit == negated:
                ok = False
                break
        if ok and free:
            text = f"{values.get('id')} {values.get('name', '')}".lower()
            ok = all(word in text for word in free)
        if ok:
            out.append(item)
    return out
