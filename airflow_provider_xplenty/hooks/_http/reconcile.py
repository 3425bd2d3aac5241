"""No-duplicate creates: find the object a create call made after its response was lost.

``POST jobs`` and ``POST clusters`` are not idempotent and the API has no idempotency key. Before the
call, a :class:`Floor` (the newest existing id and its server-side ``created_at``) is read; after an
unknown outcome, a :class:`Reconciler` pages through newer objects looking for one that carries every
field the call sent (docs/api-notes.md, Creates and idempotency).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from airflow_provider_xplenty.hooks._http.variables import normalise_variables
from airflow_provider_xplenty.hooks._http.wire import ApiRequest, build

T = TypeVar("T")


def generated_cluster_name() -> str:
    """Return a unique cluster name, so a lost create response can be matched by name."""
    return f"airflow-{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class Floor:
    """What existed just before a create call: the newest id, and its ``created_at`` (server clock).

    Later objects have a larger id, and were updated at or after ``created_at`` by the server's own
    clock, so the look-up needs no client clock (the emulator's clock may run fast or be frozen).
    """

    max_id: int = 0
    created_at: str | None = None


@dataclass(frozen=True)
class Reconciler(Generic[T]):
    """How to find the object a create call may have made.

    :param lookup: the list request to search, newest first (``sort=created``, ``direction=desc``).
    :param parse: item parser.
    :param matches: whether an item carries every field the create call sent.
    :param describe: label for logs.
    """

    lookup: ApiRequest
    parse: Callable[[Any], T]
    matches: Callable[[Mapping[str, Any]], bool]
    describe: str

    def snapshot_request(self) -> ApiRequest:
        """Return the request for the newest existing object (one item; sent before the create call)."""
        return replace(self.lookup, params={**self.lookup.params, "offset": "0", "limit": "1"})

    @staticmethod
    def floor(data: Any) -> Floor:
        """Read the :class:`Floor` from the snapshot response."""
        items = [i for i in data if isinstance(i, Mapping)] if isinstance(data, list) else []
        newest = max(items, key=lambda i: _int(i.get("id")), default=None)
        if newest is None:
            return Floor()
        created = newest.get("created_at")
        return Floor(_int(newest.get("id")), created if isinstance(created, str) else None)

    def request_after(self, floor: Floor) -> ApiRequest:
        """Return the look-up request, narrowed server-side to objects updated since the floor's time."""
        if not floor.created_at:
            return self.lookup
        return replace(self.lookup, params={**self.lookup.params, "since": floor.created_at})

    def pick(self, item: Any, floor: Floor) -> bool | None:
        """Return True for our object, False to keep looking, None to stop (older than the floor)."""
        if not isinstance(item, Mapping):
            return False
        if _int(item.get("id")) <= floor.max_id:
            return None
        return self.matches(item)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _attr(obj: Any, name: str) -> Any:
    """Return a field of an API dict or an attribute of a model (``None`` when missing)."""
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)


def job_matches(
    job: Any,
    cluster_id: int,
    package_id: int,
    variables: Mapping[str, Any] | None,
    dynamic_variables: Mapping[str, Any] | None = None,
) -> bool:
    """Whether ``job`` (an API dict or a :class:`~airflow_provider_xplenty.models.Job`) is a run of
    ``package_id`` on ``cluster_id`` with these variables.

    Variable values are compared as the API stores them (:func:`normalise_variables`: ``10`` equals
    ``"10"``; ``None`` equals ``{}``). A job that does not report ``dynamic_variables`` (the API
    may leave them out) matches any dynamic variables.
    """
    if _attr(job, "cluster_id") != cluster_id or _attr(job, "package_id") != package_id:
        return False
    if normalise_variables(_attr(job, "variables")) != normalise_variables(variables):
        return False
    dyn = _attr(job, "dynamic_variables")
    return dyn is None or normalise_variables(dyn) == normalise_variables(dynamic_variables)


def job_reconciler(body: Mapping[str, Any], parse: Callable[[Any], T]) -> Reconciler[T]:
    """Find a job with the same cluster, package, variables and dynamic variables."""
    lookup = build(
        "list_jobs", params={"package_id": body["package_id"], "sort": "created", "direction": "desc"}
    )

    def matches(item: Mapping[str, Any]) -> bool:
        return job_matches(
            item, body["cluster_id"], body["package_id"], body.get("variables"), body.get("dynamic_variables")
        )

    return Reconciler(
        lookup, parse, matches, f"job of package {body['package_id']} on cluster {body['cluster_id']}"
    )


def cluster_reconciler(body: Mapping[str, Any], parse: Callable[[Any], T]) -> Reconciler[T]:
    """Find a cluster with the same (unique) name."""
    lookup = build("list_clusters", params={"sort": "created", "direction": "desc"})
    name = body["name"]

    def matches(item: Mapping[str, Any]) -> bool:
        if item.get("name") != name:
            return False
        return "type" not in body or item.get("type") in (None, body["type"])

    return Reconciler(lookup, parse, matches, f"cluster named {name!r}")
