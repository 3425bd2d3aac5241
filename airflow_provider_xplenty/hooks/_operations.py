"""What each public hook method sends and how it reads the answer, shared by both hooks.

Each builder checks its arguments (raising :class:`~airflow_provider_xplenty.exceptions.XplentyConfigError`
before any request) and returns an :class:`~._http.plans.Op` (one call) or a
:class:`~._http.plans.ListOp` (a paged list) for the hook's driver to run. Builders are named after
the hook methods they serve, whose docstrings describe the arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from airflow_provider_xplenty.exceptions import XplentyConfigError
from airflow_provider_xplenty.hooks._http.plans import ListOp, Op
from airflow_provider_xplenty.hooks._http.reconcile import (
    cluster_reconciler,
    generated_cluster_name,
    job_reconciler,
)
from airflow_provider_xplenty.hooks._http.variables import check_variables
from airflow_provider_xplenty.hooks._http.wire import build, check_id, clean
from airflow_provider_xplenty.models import (
    Cluster,
    ClusterStatus,
    Job,
    JobOutput,
    JobStatus,
    Package,
    RateLimitStatus,
    Schedule,
)


# -- argument checks and body helpers ---------------------------------------------------------
def without_none(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``fields`` without its ``None`` values (an omitted argument is not sent)."""
    return {key: value for key, value in fields.items() if value is not None}


def check_query(q: Any) -> str:
    """Return a search query, or raise if it is not a non-empty string."""
    if not isinstance(q, str) or not q.strip():
        raise XplentyConfigError(f"search query q must be a non-empty string, got {q!r}")
    return q


def check_package_name(name: Any) -> str:
    """Return a package name, or raise if it is not a non-empty string."""
    if not isinstance(name, str) or not name:
        raise XplentyConfigError(f"package name must be a non-empty string, got {name!r}")
    return name


def _schedule_body(fields: Mapping[str, Any]) -> dict[str, Any]:
    body = clean(fields)
    task = body.get("task")
    if isinstance(task, Mapping):
        for index, item in enumerate(task.get("packages") or []):
            if isinstance(item, Mapping):
                check_variables(item.get("variables"), f"task.packages[{index}].variables")
    return body


def _include(value: str | list[str] | tuple[str, ...] | None) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else ",".join(value)


# -- body parsers -----------------------------------------------------------------------------
def _text_field(name: str) -> Callable[[Any], str]:
    """Return a parser of the text in field ``name`` of a JSON object (``""`` for ``null``)."""

    def parse(data: Any) -> str:
        if not isinstance(data, Mapping) or name not in data:
            raise ValueError(f"response has no {name!r} field")
        return "" if data[name] is None else str(data[name])

    return parse


def _as_dict(data: Any) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise ValueError("expected a JSON object")
    return dict(data)


def _rate_limit(data: Any) -> RateLimitStatus:
    if isinstance(data, Mapping) and isinstance(data.get("limits"), Mapping):
        data = data["limits"]
    return RateLimitStatus.model_validate(data)


# -- clusters ---------------------------------------------------------------------------------
def create_cluster(
    *,
    nodes: int | None,
    type: str,
    name: str | None,
    description: str | None,
    terminate_on_idle: bool | None,
    time_to_idle: int | None,
    region: str | None,
    zone: str | None,
    stack: str | None,
    extra_fields: Mapping[str, Any],
) -> Op[Cluster]:
    if nodes is not None and (isinstance(nodes, bool) or not isinstance(nodes, int) or nodes < 1):
        raise XplentyConfigError(f"nodes must be a positive integer, got {nodes!r}")
    if type not in ("production", "sandbox"):
        raise XplentyConfigError(f"type must be 'production' or 'sandbox', got {type!r}")
    body = without_none(
        {
            **extra_fields,
            "nodes": nodes,
            "type": type,
            "name": name or generated_cluster_name(),
            "description": description,
            "terminate_on_idle": terminate_on_idle,
            "time_to_idle": time_to_idle,
            "region": region,
            "zone": zone,
            "stack": stack,
        }
    )
    return Op(
        build("create_cluster", body=body),
        Cluster.model_validate,
        reconciler=cluster_reconciler(body, Cluster.model_validate, _terminate_late_duplicate),
    )


def get_cluster(cluster_id: int) -> Op[Cluster]:
    return Op(build("get_cluster", {"cluster_id": cluster_id}), Cluster.model_validate)


def list_clusters(status: str | None, sort: str | None, direction: str | None, since: Any) -> ListOp[Cluster]:
    params = {"status": status, "sort": sort, "direction": direction, "since": since}
    return ListOp(build("list_clusters", params=params), Cluster.model_validate)


def search_clusters(q: str, sort: str | None, direction: str | None) -> ListOp[Cluster]:
    params = {"q": check_query(q), "sort": sort, "direction": direction}
    return ListOp(build("search_clusters", params=params), Cluster.model_validate)


def update_cluster(cluster_id: int, fields: Mapping[str, Any]) -> Op[Cluster]:
    if not fields:
        raise XplentyConfigError("update_cluster needs at least one field to change")
    return Op(build("update_cluster", {"cluster_id": cluster_id}, body=dict(fields)), Cluster.model_validate)


def terminate_cluster(cluster_id: int) -> Op[Cluster]:
    ids = {"cluster_id": cluster_id}
    return Op(
        build("terminate_cluster", ids),
        Cluster.model_validate,
        recheck=build("get_cluster", ids),
        accept=lambda c: c.status in ClusterStatus.terminating_states(),
    )


# -- jobs -------------------------------------------------------------------------------------
def run_job(cluster_id: int, package_id: int, variables: Any, dynamic_variables: Any) -> Op[Job]:
    body = without_none(
        {
            "cluster_id": check_id(cluster_id, "cluster_id"),
            "package_id": check_id(package_id, "package_id"),
            "variables": check_variables(variables, "variables"),
            "dynamic_variables": check_variables(dynamic_variables, "dynamic_variables"),
        }
    )
    return Op(
        build("run_job", body=body),
        Job.model_validate,
        reconciler=job_reconciler(body, Job.model_validate, _stop_late_duplicate),
    )


def _stop_late_duplicate(job_id: int) -> Any:
    """Return the flow that stops a job a lost ``run_job`` request made late.

    Imported here: ``_flows`` imports this module.
    """
    from airflow_provider_xplenty.hooks._flows import stop_job_and_confirm

    return stop_job_and_confirm(job_id)


def _terminate_late_duplicate(cluster_id: int) -> Any:
    """Return the flow that terminates a cluster a lost ``create_cluster`` request made late."""
    from airflow_provider_xplenty.hooks._flows import terminate_cluster_or_expire

    return terminate_cluster_or_expire(cluster_id)


def get_job(job_id: int, include: Any) -> Op[Job]:
    return Op(build("get_job", {"job_id": job_id}, params={"include": _include(include)}), Job.model_validate)


def list_jobs(
    status: str | None, sort: str | None, direction: str | None, since: Any, package_id: int | None
) -> ListOp[Job]:
    params = {
        "status": status,
        "sort": sort,
        "direction": direction,
        "since": since,
        "package_id": check_id(package_id, "package_id") if package_id is not None else None,
    }
    return ListOp(build("list_jobs", params=params), Job.model_validate)


def search_jobs(q: str, sort: str | None, direction: str | None) -> ListOp[Job]:
    params = {"q": check_query(q), "sort": sort, "direction": direction}
    return ListOp(build("search_jobs", params=params), Job.model_validate)


def stop_job(job_id: int) -> Op[Job]:
    ids = {"job_id": job_id}
    return Op(
        build("stop_job", ids),
        Job.model_validate,
        recheck=build("get_job", ids),
        accept=lambda j: j.status in JobStatus.stopping_states() or j.status == JobStatus.STOPPED,
    )


def list_job_children(
    job_id: int, status: str | None, sort: str | None, direction: str | None, since: Any
) -> ListOp[Job]:
    params = {"status": status, "sort": sort, "direction": direction, "since": since}
    return ListOp(build("list_job_children", {"job_id": job_id}, params=params), Job.model_validate)


def get_job_variables(job_id: int) -> Op[dict[str, Any]]:
    return Op(build("get_job_variables", {"job_id": job_id}), _as_dict)


def get_job_log(job_id: int) -> Op[str]:
    return Op(build("get_job_log", {"job_id": job_id}), _text_field("body"))


def get_job_output(job_id: int, output_id: int) -> Op[JobOutput]:
    return Op(build("get_job_output", {"job_id": job_id, "output_id": output_id}), JobOutput.model_validate)


def preview_output(job_id: int, output_id: int) -> Op[str]:
    return Op(build("preview_output", {"job_id": job_id, "output_id": output_id}), _text_field("preview"))


# -- packages ---------------------------------------------------------------------------------
def get_package(package_id: int) -> Op[Package]:
    return Op(build("get_package", {"package_id": package_id}), Package.model_validate)


def list_packages(
    status: str | None, flow_type: str | None, sort: str | None, direction: str | None, since: Any
) -> ListOp[Package]:
    params = {"status": status, "flow_type": flow_type, "sort": sort, "direction": direction, "since": since}
    return ListOp(build("list_packages", params=params), Package.model_validate)


def search_packages(q: str, sort: str | None, direction: str | None) -> ListOp[Package]:
    params = {"q": check_query(q), "sort": sort, "direction": direction}
    return ListOp(build("search_packages", params=params), Package.model_validate)


def pick_package(name: str, packages: list[Package]) -> Package:
    """Return the one package called ``name`` among ``packages``, or raise an error listing candidates."""
    exact = [p for p in packages if p.name == name]
    if len(exact) == 1:
        return exact[0]
    if len(exact) > 1:
        listed = ", ".join(f"{p.id} ({p.flow_type or 'unknown type'})" for p in exact)
        raise XplentyConfigError(
            f"{len(exact)} active packages are named {name!r}: ids {listed}. Pass package_id instead."
        )
    import difflib  # only needed for this error; airflow.sdk does not import it

    names = [p.name or "" for p in packages]
    close = set(difflib.get_close_matches(name, names, n=5, cutoff=0.5))
    close |= {n for n in names if name.lower() in n.lower()}
    candidates = [p for p in packages if (p.name or "") in close] or packages[:20]
    listed = ", ".join(f"{p.name!r} (id {p.id})" for p in candidates) or "none"
    raise XplentyConfigError(f"No active package is named {name!r}. Candidates: {listed}")


# -- schedules --------------------------------------------------------------------------------
def create_schedule(fields: Mapping[str, Any]) -> Op[Schedule]:
    return Op(build("create_schedule", body=_schedule_body(fields)), Schedule.model_validate)


def get_schedule(schedule_id: int) -> Op[Schedule]:
    return Op(build("get_schedule", {"schedule_id": schedule_id}), Schedule.model_validate)


def list_schedules(
    status: str | None, sort: str | None, direction: str | None, since: Any
) -> ListOp[Schedule]:
    params = {"status": status, "sort": sort, "direction": direction, "since": since}
    return ListOp(build("list_schedules", params=params), Schedule.model_validate)


def update_schedule(schedule_id: int, fields: Mapping[str, Any]) -> Op[Schedule]:
    if not fields:
        raise XplentyConfigError("update_schedule needs at least one field to change")
    ids = {"schedule_id": schedule_id}
    return Op(build("update_schedule", ids, body=_schedule_body(fields)), Schedule.model_validate)


def delete_schedule(schedule_id: int) -> Op[Schedule]:
    return Op(build("delete_schedule", {"schedule_id": schedule_id}), Schedule.model_validate)


def clone_schedule(schedule_id: int) -> Op[Schedule]:
    return Op(build("clone_schedule", {"schedule_id": schedule_id}), Schedule.model_validate)


def run_schedule(schedule_id: int) -> Op[Schedule]:
    return Op(build("run_schedule", {"schedule_id": schedule_id}), Schedule.model_validate)


# -- account ----------------------------------------------------------------------------------
def rate_limit_status() -> Op[RateLimitStatus]:
    return Op(build("rate_limit_status"), _rate_limit)
