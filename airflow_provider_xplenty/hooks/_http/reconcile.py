"""No-duplicate creates: find the object a create call made after its response was lost.

``POST jobs`` and ``POST clusters`` are not idempotent and the API has no idempotency key. Before the
call, a :class:`Floor` (the newest existing id and its server-side ``created_at``) is read; after an
unknown outcome, a :class:`Reconciler` pages through newer objects looking for one that carries every
field the call sent (docs/api-notes.md, Creates and idempotency).

Objects this process created or adopted are *claimed* (:func:`claim`): a look-up never adopts, and the
late-duplicate watch never cancels, an object another call of this process owns.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

from airflow_provider_xplenty.hooks._http.variables import normalise_variables
from airflow_provider_xplenty.hooks._http.wire import ApiRequest, build

T = TypeVar("T")

#: How many claimed (created or adopted) ids this process remembers per resource.
CLAIM_MEMORY = 10_000
_claimed: OrderedDict[tuple[str, str, int], None] = OrderedDict()
_claim_lock = threading.Lock()


def claim(account: str, resource: str, object_id: Any) -> None:
    """Record that a call of this process created or adopted ``object_id`` (no other call may adopt it).

    :param account: the account's API root (ids are per account).
    """
    with _claim_lock:
        _claimed[(account, resource, _int(object_id))] = None
        while len(_claimed) > CLAIM_MEMORY:
            _claimed.popitem(last=False)


def is_claimed(account: str, resource: str, object_id: Any) -> bool:
    """Whether a call of this process created or adopted ``object_id`` in ``account``."""
    with _claim_lock:
        return (account, resource, _int(object_id)) in _claimed


def forget_claims() -> None:
    """Forget every claim (for an emulator reset: its ids start again)."""
    with _claim_lock:
        _claimed.clear()


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
    :param resource: ``"job"`` or ``"cluster"`` (claims, errors, logs).
    :param identity: the sent fields that identify the object (for :class:`XplentyUnknownOutcomeError`).
    :param cancel: the flow that stops/terminates a late duplicate, given its id (``None``: none).
    """

    lookup: ApiRequest
    parse: Callable[[Any], T]
    matches: Callable[[Mapping[str, Any]], bool]
    describe: str
    resource: str = ""
    identity: Mapping[str, Any] = field(default_factory=dict)
    cancel: Callable[[int], Any] | None = None

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

    def pick(self, item: Any, floor: Floor, account: str) -> bool | None:
        """Return True for a candidate, False to keep looking, None to stop (older than the floor).

        A candidate is newer than the floor, carries every field the call sent, and is not claimed
        by another call of this process.
        """
        if not isinstance(item, Mapping):
            return False
        if _int(item.get("id")) <= floor.max_id:
            return None
        return self.matches(item) and not is_claimed(account, self.resource, item.get("id"))


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


def job_reconciler(
    body: Mapping[str, Any], parse: Callable[[Any], T], cancel: Callable[[int], Any] | None = None
) -> Reconciler[T]:
    """Find a job with the same cluster, package, variables and dynamic variables."""
    lookup = build(
        "list_jobs", params={"package_id": body["package_id"], "sort": "created", "direction": "desc"}
    )

    def matches(item: Mapping[str, Any]) -> bool:
        return job_matches(
            item, body["cluster_id"], body["package_id"], body.get("variables"), body.get("dynamic_variables")
        )

    identity = {
        k: body[k] for k in ("cluster_id", "package_id", "variables", "dynamic_variables") if k in body
    }
    return Reconciler(
        lookup,
        parse,
        matches,
        f"job of package {body['package_id']} on cluster {body['cluster_id']}",
        "job",
        identity,
        cancel,
    )


#: Cluster fields a look-up compares with what the create call sent (others may be changed by the API).
CLUSTER_MATCH_FIELDS = ("name", "type", "description")


def cluster_reconciler(
    body: Mapping[str, Any], parse: Callable[[Any], T], cancel: Callable[[int], Any] | None = None
) -> Reconciler[T]:
    """Find a cluster with the same name, type and description (the description carries an owner marker)."""
    lookup = build("list_clusters", params={"sort": "created", "direction": "desc"})
    name = body["name"]
    sent = {k: body[k] for k in CLUSTER_MATCH_FIELDS if k in body}

    def matches(item: Mapping[str, Any]) -> bool:
        # A field the API leaves out of its answer cannot tell clusters apart; one it shows must be equal.
        return all(key not in item or item[key] == value for key, value in sent.items()) and (
            item.get("name") == name
        )

    return Reconciler(lookup, parse, matches, f"cluster named {name!r}", "cluster", sent, cancel)
