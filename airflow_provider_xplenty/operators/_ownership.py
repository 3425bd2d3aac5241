"""Which Airflow task instance and DAG run own a cluster: the markers written into its ``description``.

Two markers, each a bracketed token the API stores as plain text (docs/api-notes.md, "Creates and
idempotency"):

- ``[airflow:<digest>]``: the task instance (a hash of dag_id, run_id, task_id, map_index). A retry
  adopts only a cluster carrying its own; clusters made by earlier versions carry only this one.
- ``[airflow-run:<dag_id>/<run_id>]``: the DAG run, both percent-encoded (``/``, ``]``, spaces and
  ``%`` never appear raw). A teardown without a cluster id finds its run's clusters by it, and the
  sweep maps a cluster back to its DAG run. When the two ids would take more than
  :data:`MAX_RUN_REF` characters, ``#<hash of dag_id and run_id>`` is written instead: still found by
  the run's own teardown, but not mappable by the sweep (it leaves such clusters alone).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from airflow_provider_xplenty._waiting.task import api_floor
from airflow_provider_xplenty.models import ClusterStatus

if TYPE_CHECKING:
    from airflow_provider_xplenty._compat import Context
    from airflow_provider_xplenty.hooks.xplenty import XplentyHook
    from airflow_provider_xplenty.models import Cluster

#: Longest ``<dag_id>/<run_id>`` reference written in full; a longer one is written as a hash.
MAX_RUN_REF = 200
#: How much older than the DAG run's start (on the API's clock) one of its clusters may look: the
#: marker decides ownership; this bound only limits the pages read, and is generous for a slow API clock.
CLUSTER_SEARCH_SLACK = timedelta(days=1)

_TASK_MARKER = re.compile(r"\[airflow:(?P<digest>[0-9a-f]{12})\]")
_RUN_MARKER = re.compile(r"\[airflow-run:(?P<ref>[^\]\s]+)\]")
#: Characters of dag_id/run_id kept as they are (Airflow's default run_id pattern); the rest is %-encoded.
_SAFE = "_.~:+-"


def _digest(*parts: Any, length: int) -> str:
    return hashlib.sha1("|".join(str(p) for p in parts).encode(), usedforsecurity=False).hexdigest()[:length]


def context_run(context: Context | dict[str, Any]) -> tuple[str, str] | None:
    """``(dag_id, run_id)`` of the running task's DAG run, ``None`` without one."""
    ti = context.get("ti")
    dag_id = getattr(ti, "dag_id", None)
    run_id = getattr(ti, "run_id", None) or context.get("run_id")
    if not dag_id:
        dag_id = getattr(context.get("dag"), "dag_id", None)
    return (str(dag_id), str(run_id)) if dag_id and run_id else None


def task_instance_digest(context: Context | dict[str, Any]) -> str | None:
    """A short hash of (dag_id, run_id, task_id, map_index): the same for every try of the task instance."""
    ti = context.get("ti")
    if ti is None:
        return None
    return _digest(*(getattr(ti, a, "") for a in ("dag_id", "run_id", "task_id", "map_index")), length=12)


def cluster_marker(context: Context | dict[str, Any]) -> str | None:
    """The text put in the cluster ``description`` that says which task instance created it."""
    digest = task_instance_digest(context)
    return None if digest is None else f"[airflow:{digest}]"


def run_marker_of(dag_id: str, run_id: str) -> str:
    """The text put in the cluster ``description`` that says which DAG run owns it."""
    ref = f"{quote(dag_id, safe=_SAFE)}/{quote(run_id, safe=_SAFE)}"
    if len(ref) > MAX_RUN_REF:
        ref = f"#{_digest(dag_id, run_id, length=16)}"
    return f"[airflow-run:{ref}]"


def run_marker(context: Context | dict[str, Any]) -> str | None:
    """This DAG run's marker (:func:`run_marker_of`), ``None`` outside a DAG run."""
    run = context_run(context)
    return None if run is None else run_marker_of(*run)


def marked_description(
    description: Any, context: Context | dict[str, Any], *, owned_by_run: bool
) -> str | None:
    """``description`` with this task instance's marker and (``owned_by_run``) this DAG run's marker."""
    markers = [cluster_marker(context), run_marker(context) if owned_by_run else None]
    return " ".join(p for p in (str(description or "").strip(), *markers) if p) or None


@dataclass(frozen=True)
class Owner:
    """What a cluster's description says about its owner.

    :param digest: the task instance hash, ``None`` without a task marker.
    :param dag_id: the DAG of the owning run, ``None`` when not written (older clusters) or hashed.
    :param run_id: the owning run, likewise.
    :param run_marker: the run marker as written, ``None`` without one.
    """

    digest: str | None
    dag_id: str | None
    run_id: str | None
    run_marker: str | None

    @property
    def mapped(self) -> bool:
        """Whether the owning DAG run can be named (the sweep can ask Airflow about it)."""
        return self.dag_id is not None and self.run_id is not None


def owner_of(description: str | None) -> Owner | None:
    """Parse the markers of a cluster ``description``; ``None`` when it carries none (not Airflow's)."""
    text = str(description or "")
    task = _TASK_MARKER.search(text)
    run = _RUN_MARKER.search(text)
    if task is None and run is None:
        return None
    dag_id = run_id = None
    if run is not None and not run.group("ref").startswith("#") and "/" in run.group("ref"):
        dag_ref, run_ref = run.group("ref").split("/", 1)
        dag_id, run_id = unquote(dag_ref), unquote(run_ref)
    return Owner(
        digest=task.group("digest") if task else None,
        dag_id=dag_id or None,
        run_id=run_id or None,
        run_marker=run.group(0) if run else None,
    )


def clusters_created_since(hook: XplentyHook, floor: datetime) -> Iterator[Cluster]:
    """Clusters created at or after ``floor`` (on the API's clock), newest first, read page by page."""
    for cluster in hook.list_clusters(sort="created", direction="desc"):
        if cluster.created_at is not None and cluster.created_at < floor:
            return
        yield cluster


def live_run_clusters(hook: XplentyHook, dag_id: str, run_id: str, since: datetime) -> list[Cluster]:
    """The clusters of this DAG run that are not going away (any status but terminating/terminated).

    :param since: when the DAG run started (Airflow's clock).
    """
    marker = run_marker_of(dag_id, run_id)
    # ownership comes from the marker; the DAG run's start, moved to the API's clock, only bounds the pages
    floor = api_floor(hook, since) - CLUSTER_SEARCH_SLACK
    return [
        c
        for c in clusters_created_since(hook, floor)
        if marker in str(c.description or "") and c.status not in ClusterStatus.terminating_states()
    ]


def expire(hook: XplentyHook, cluster_id: int, log: Any) -> bool:
    """Make a cluster terminate itself once idle (after a terminate attempt failed); never raises.

    :return: whether the API accepted the change.
    """
    from airflow_provider_xplenty.hooks.xplenty import EXPIRE_FIELDS  # the hook only when cleaning up

    try:
        hook.update_cluster(cluster_id, **EXPIRE_FIELDS)
    except Exception as error:
        log.warning(
            "Could not set Xplenty cluster %s to terminate itself once idle either: %s", cluster_id, error
        )
        return False
    log.warning(
        "Xplenty cluster %s is set to terminate itself after %ss idle",
        cluster_id,
        EXPIRE_FIELDS["time_to_idle"],
    )
    return True
