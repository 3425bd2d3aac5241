"""The endpoint table: every API operation the hooks call, with its method, path and traits."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Endpoint:
    """One API operation: HTTP method, path template (relative to ``/{account}/api/``) and traits.

    :param method: HTTP method.
    :param path: path template with ``{name}`` placeholders for ids.
    :param resource: what the path's ids name, for 404 messages ("cluster", "job output" ...).
    :param idempotent: whether repeating the call cannot create a second object.
    :param reconcilable: non-idempotent call whose result can be looked up after an unknown outcome.
    """

    method: str
    path: str
    resource: str
    idempotent: bool = True
    reconcilable: bool = False


ENDPOINTS: dict[str, Endpoint] = {
    # clusters
    "create_cluster": Endpoint("POST", "clusters", "cluster", idempotent=False, reconcilable=True),
    "list_clusters": Endpoint("GET", "clusters", "cluster"),
    "search_clusters": Endpoint("GET", "clusters/search", "cluster"),
    "get_cluster": Endpoint("GET", "clusters/{cluster_id}", "cluster"),
    "update_cluster": Endpoint("PUT", "clusters/{cluster_id}", "cluster"),
    "terminate_cluster": Endpoint("DELETE", "clusters/{cluster_id}", "cluster"),
    # jobs
    "run_job": Endpoint("POST", "jobs", "job", idempotent=False, reconcilable=True),
    "list_jobs": Endpoint("GET", "jobs", "job"),
    "search_jobs": Endpoint("GET", "jobs/search", "job"),
    "get_job": Endpoint("GET", "jobs/{job_id}", "job"),
    "stop_job": Endpoint("DELETE", "jobs/{job_id}", "job"),
    "list_job_children": Endpoint("GET", "jobs/{job_id}/children", "job"),
    "get_job_variables": Endpoint("GET", "jobs/{job_id}/variables", "job"),
    "get_job_log": Endpoint("GET", "jobs/{job_id}/log", "job"),
    "get_job_output": Endpoint("GET", "jobs/{job_id}/outputs/{output_id}", "job output"),
    "preview_output": Endpoint("GET", "jobs/{job_id}/outputs/{output_id}/preview", "job output"),
    # packages
    "list_packages": Endpoint("GET", "packages", "package"),
    "search_packages": Endpoint("GET", "packages/search", "package"),
    "get_package": Endpoint("GET", "packages/{package_id}", "package"),
    # schedules
    "create_schedule": Endpoint("POST", "schedules", "schedule", idempotent=False),
    "list_schedules": Endpoint("GET", "schedules", "schedule"),
    "get_schedule": Endpoint("GET", "schedules/{schedule_id}", "schedule"),
    "update_schedule": Endpoint("PUT", "schedules/{schedule_id}", "schedule"),
    "delete_schedule": Endpoint("DELETE", "schedules/{schedule_id}", "schedule"),
    "clone_schedule": Endpoint("POST", "schedules/{schedule_id}/clone", "schedule", idempotent=False),
    "run_schedule": Endpoint("POST", "schedules/{schedule_id}/run", "schedule", idempotent=False),
    # account
    "rate_limit_status": Endpoint("GET", "rate_limit_status", "rate limit status"),
}
