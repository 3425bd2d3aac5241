"""Multi-call flows, written once as plans composed of single calls and run by both hooks' drivers.

Each function checks its arguments at once (before any request) and returns a
:data:`~._http.plans.Flow`: given the :class:`~._http.plans.Plans` of a connection, the plan of the
whole flow.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_xplenty.exceptions import XplentyNotFoundError, XplentyRejectedError
from airflow_provider_xplenty.hooks import _operations as ops
from airflow_provider_xplenty.hooks._http.plans import Flow, Outcome, Plan, Plans, observed
from airflow_provider_xplenty.hooks._http.wire import RawResponse, server_time
from airflow_provider_xplenty.models import ClusterStatus, JobStatus, Package

#: ``time_to_idle`` set on a cluster that must go away but is still provisioning (cannot be deleted yet).
IDLE_TERMINATION_SECONDS = 60
#: What makes such a cluster terminate itself a minute after it becomes idle.
EXPIRE_FIELDS: dict[str, Any] = {"terminate_on_idle": True, "time_to_idle": IDLE_TERMINATION_SECONDS}
#: A measured clock skew smaller than this is noise (``Date`` has one-second resolution).
SKEW_NOISE = timedelta(seconds=2)


def find_package(name: str) -> Flow[Package]:
    """Return the flow that lists the active packages and picks the one called ``name``."""
    name = ops.check_package_name(name)
    listing = ops.list_packages(status="active", flow_type=None, sort=None, direction=None, since=None)

    def plan(plans: Plans) -> Plan[Package]:
        return ops.pick_package(name, (yield from plans.collect(listing)))

    return plan


def stop_job_and_confirm(job_id: int) -> Flow[str | None]:
    """Return the flow that stops a job and returns its status, ``None`` when the API does not know it.

    A stop refused with 404 or 422 (the job is gone, has ended or is already being stopped) is fine
    when reading the job shows it gone or in a stop-settled state; otherwise the refusal is raised.
    """
    stop, read = ops.stop_job(job_id), ops.get_job(job_id, None)

    def plan(plans: Plans) -> Plan[str | None]:
        try:
            return str((yield from plans.call(stop)).status)
        except (XplentyNotFoundError, XplentyRejectedError) as error:
            refused = error
        try:
            status = str((yield from plans.call(read)).status)
        except XplentyNotFoundError:
            return None
        if status not in JobStatus.stop_settled_states():
            raise refused
        return status

    return plan


def terminate_cluster_or_expire(cluster_id: int) -> Flow[str | None]:
    """Return the flow that terminates a cluster now, or makes one still provisioning terminate once idle.

    The flow returns the cluster's status afterwards, ``None`` when the API does not know it.
    """
    terminate, read = ops.terminate_cluster(cluster_id), ops.get_cluster(cluster_id)
    expire = ops.update_cluster(cluster_id, EXPIRE_FIELDS)

    def plan(plans: Plans) -> Plan[str | None]:
        try:
            cluster = yield from plans.call(terminate)
            plans.log.info("Terminating Xplenty cluster %s: %s", cluster_id, cluster.status)
            return str(cluster.status)
        except XplentyNotFoundError:
            return None
        except XplentyRejectedError:
            pass
        cluster = yield from plans.call(read)
        if cluster.status in ClusterStatus.not_yet_terminable_states():
            cluster = yield from plans.call(expire)
            plans.log.warning(
                "Xplenty cluster %s is still %s and cannot be terminated yet; it is now set to terminate "
                "itself after %ss idle",
                cluster_id,
                cluster.status,
                IDLE_TERMINATION_SECONDS,
            )
        return str(cluster.status)

    return plan


def server_clock_skew() -> Flow[timedelta]:
    """Return the flow that measures how far the API's clock is ahead of this machine's (negative: behind).

    One call to the free ``rate_limit_status`` endpoint; the ``Date`` header of its (last) response
    is compared with the midpoint of the call. Zero when no ``Date`` can be read or the skew is within
    the header's resolution.
    """
    rate_limit = ops.rate_limit_status()

    def plan(plans: Plans) -> Plan[timedelta]:
        dated: list[RawResponse] = []

        def seen(outcome: Outcome) -> None:
            if isinstance(outcome, RawResponse) and outcome.headers.get("Date"):
                dated.append(outcome)

        before = datetime.now(timezone.utc)
        yield from observed(plans.call(rate_limit), seen)
        after = datetime.now(timezone.utc)
        server = server_time(dated[-1]) if dated else None
        if server is None:
            return timedelta(0)
        skew = server - (before + (after - before) / 2)
        return skew if abs(skew) > SKEW_NOISE else timedelta(0)

    return plan
