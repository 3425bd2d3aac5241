"""TEMPORARY: multi-call API flows that are becoming hook methods; delete this module once they have.

Their replacements: ``stop_or_confirm`` -> ``XplentyHook.stop_job_and_confirm``,
``terminate_or_expire`` -> ``XplentyHook.terminate_cluster_or_expire``, ``server_skew`` ->
``XplentyHook.get_server_clock_skew`` (``api_floor`` then builds on it). Until the call sites switch,
this is the one copy of each flow.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from airflow_provider_xplenty.exceptions import XplentyApiError
from airflow_provider_xplenty.models import ClusterStatus, JobStatus

#: ``time_to_idle`` set on a cluster that must go away but is still provisioning (cannot be deleted yet).
IDLE_TERMINATION_SECONDS = 60
#: What makes such a cluster terminate itself a minute after it becomes idle.
EXPIRE_FIELDS: dict[str, Any] = {"terminate_on_idle": True, "time_to_idle": IDLE_TERMINATION_SECONDS}

#: HTTP statuses with which ``DELETE jobs/{id}`` is refused because the job is gone (404) or has
#: ended / is already being stopped (422): read the job to know which.
STOP_REFUSED = frozenset({404, 422})

#: Clock skew tolerated between Airflow and the Xplenty API, after the skew measured from ``Date``.
CLOCK_MARGIN = timedelta(seconds=5)
#: A measured skew smaller than this is noise (``Date`` has one-second resolution).
_SKEW_NOISE = timedelta(seconds=2)


def stop_or_confirm(hook: Any, job_id: int) -> str | None:
    """Stop a job (sync hook); return its status afterwards, ``None`` when the API does not know it.

    A refused stop (404/422) is fine when the job is gone, ended or already being stopped; any other
    refusal (and any other error) is raised. Used by the run-job operator and the stop-job operator;
    ``PollingStatusSource.stop_job`` applies the same rule with the async hook.
    """
    try:
        return str(hook.stop_job(job_id).status)
    except XplentyApiError as error:
        if error.status_code not in STOP_REFUSED:
            raise
        refused = error
    try:
        status = str(hook.get_job(job_id).status)
    except XplentyApiError as error:
        if error.status_code == 404:
            return None
        raise
    if status not in JobStatus.stop_settled_states():
        raise refused
    return status


def terminate_or_expire(hook: Any, cluster_id: int, log: Any = None) -> str | None:
    """Terminate a cluster now, or (still provisioning or scaling) make it terminate itself once idle.

    Returns the cluster's status afterwards, ``None`` when the API does not know it. Used by the
    create-cluster operator's clean-up and (in a thread) by the cluster trigger's ``on_kill``.

    :param hook: an ``XplentyHook``.
    """
    try:
        cluster = hook.terminate_cluster(cluster_id)
        if log is not None:
            log.info("Terminating Xplenty cluster %s: %s", cluster_id, cluster.status)
        return str(cluster.status)
    except XplentyApiError as error:
        if error.status_code == 404:
            return None
        if error.status_code != 422:
            raise
    cluster = hook.get_cluster(cluster_id)
    if cluster.status in ClusterStatus.not_yet_terminable_states():
        cluster = hook.update_cluster(cluster_id, **EXPIRE_FIELDS)
        if log is not None:
            log.warning(
                "Xplenty cluster %s is still %s and cannot be terminated yet; it is now set to terminate "
                "itself after %ss idle",
                cluster_id,
                cluster.status,
                IDLE_TERMINATION_SECONDS,
            )
    return str(cluster.status)


def server_skew(hook: Any) -> timedelta:
    """How far the API's clock is ahead of this machine's (negative: behind), from a ``Date`` header.

    One call to the free ``rate_limit_status`` endpoint. Zero when it cannot be measured or is
    within the header's resolution. Used to turn an Airflow time into a lower bound on API times.
    """
    try:
        session = hook.get_conn()
        dates: list[str] = []

        def grab(resp: Any, *args: Any, **kwargs: Any) -> Any:
            value = resp.headers.get("Date")
            if value:
                dates.append(value)
            return resp

        session.hooks["response"].append(grab)
        try:
            before = datetime.now(timezone.utc)
            hook.get_rate_limit_status()
            after = datetime.now(timezone.utc)
        finally:
            session.hooks["response"].remove(grab)
        if not dates:
            return timedelta(0)
        server = parsedate_to_datetime(dates[-1])
        if server.tzinfo is None:
            server = server.replace(tzinfo=timezone.utc)
    except Exception:
        return timedelta(0)
    skew = server - (before + (after - before) / 2)
    return skew if abs(skew) > _SKEW_NOISE else timedelta(0)


def api_floor(hook: Any, airflow_time: datetime) -> datetime:
    """A lower bound, on the API's clock, for objects created after ``airflow_time`` (Airflow's clock)."""
    return airflow_time + server_skew(hook) - CLOCK_MARGIN
