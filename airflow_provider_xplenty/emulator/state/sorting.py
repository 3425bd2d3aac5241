"""Filtering and sorting of list routes (``status``, ``since``, ``sort``, ``direction``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


def sort_filter(
    items: Iterable[Any],
    *,
    status: str | None,
    since: float | None,
    sort: str,
    direction: str,
    get_status: Callable[[Any], str],
    key_created: Callable[[Any], float],
    key_updated: Callable[[Any], float],
    key_name: Callable[[Any], str] | None = None,
) -> list[Any]:
    """Filter by status and ``since`` (inclusive, second precision) and sort (ties broken by id)."""
    selected = []
    for item in items:
        if status and status != "all" and get_status(item) != status:
            continue
        if since is not None and int(key_updated(item)) < int(since):
            continue
        selected.append(item)
    if sort == "updated":
        selected.sort(key=lambda i: (int(key_updated(i)), i.id))
    elif sort == "name" and key_name is not None:
        selected.sort(key=lambda i: (key_name(i).lower(), i.id))
    else:
        selected.sort(key=lambda i: (int(key_created(i)), i.id))
    if direction != "asc":
        selected.reverse()
    return selected
