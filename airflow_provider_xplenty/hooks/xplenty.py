"""Hooks for the Xplenty (Integrate.io ETL) REST API: :class:`XplentyHook` and :class:`XplentyAsyncHook`.

Both hooks share one request pipeline (``_pipeline``): endpoint table, URL building, headers and
auth, response parsing, error mapping, the retry classifier and the control flow of every call
(retries, recheck after a lost response, adopt-or-resend for creates, paging), written once as
generator plans (:class:`~airflow_provider_xplenty.hooks._pipeline.Plans`). Only the transport
differs: each hook drives the plans with ``requests.Session`` and ``time.sleep`` (sync) or
``httpx.AsyncClient`` and ``asyncio.sleep`` (async).
"""

from __future__ import annotations

import asyncio
import difflib
import functools
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from airflow_provider_xplenty.exceptions import XplentyConfigError
from airflow_provider_xplenty.hooks import _pipeline as pl
from airflow_provider_xplenty.hooks._pipeline import (
    ApiRequest,
    ClientConfig,
    Op,
    RawResponse,
    RetryPolicy,
    TransportFailure,
    job_matches,
    normalise_variables,
)
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

if TYPE_CHECKING:
    import httpx
    import requests

T = TypeVar("T")

__all__ = ["XplentyAsyncHook", "XplentyHook", "job_matches", "normalise_variables"]


# --------------------------------------------------------------------------------------------
# Operations: what each public method sends and how it reads the answer (shared by both hooks)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _ListOp(Generic[T]):
    request: ApiRequest
    parse: Callable[[Any], T]


def _filters(**params: Any) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


def _body(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def _field(name: str) -> Callable[[Any], Any]:
    def parse(data: Any) -> Any:
        if isinstance(data, Mapping) and name in data:
            return data[name]
        raise ValueError(f"response has no {name!r} field")

    return parse


def _as_text(name: str) -> Callable[[Any], str]:
    get = _field(name)

    def parse(data: Any) -> str:
        value = get(data)
        return "" if value is None else str(value)

    return parse


def _as_dict(data: Any) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise ValueError("expected a JSON object")
    return dict(data)


def _rate_limit(data: Any) -> RateLimitStatus:
    if isinstance(data, Mapping) and isinstance(data.get("limits"), Mapping):
        data = data["limits"]
    return RateLimitStatus.model_validate(data)


def _include(value: str | list[str] | tuple[str, ...] | None) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else ",".join(value)


class _Ops:
    """Builders of every call (validation happens here, before any request)."""

    @staticmethod
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
        body = _body(
            {
                **extra_fields,
                "nodes": nodes,
                "type": type,
                "name": name or pl.generated_cluster_name(),
                "description": description,
                "terminate_on_idle": terminate_on_idle,
                "time_to_idle": time_to_idle,
                "region": region,
                "zone": zone,
                "stack": stack,
            }
        )
        return Op(
            pl.build("create_cluster", body=body),
            Cluster.model_validate,
            reconciler=pl.cluster_reconciler(body, Cluster.model_validate),
        )

    @staticmethod
    def get_cluster(cluster_id: int) -> Op[Cluster]:
        return Op(pl.build("get_cluster", {"cluster_id": cluster_id}), Cluster.model_validate)

    @staticmethod
    def list_clusters(
        status: str | None, sort: str | None, direction: str | None, since: Any
    ) -> _ListOp[Cluster]:
        params = _filters(status=status, sort=sort, direction=direction, since=since)
        return _ListOp(pl.build("list_clusters", params=params), Cluster.model_validate)

    @staticmethod
    def search_clusters(q: str, sort: str | None, direction: str | None) -> _ListOp[Cluster]:
        params = _filters(q=_check_query(q), sort=sort, direction=direction)
        return _ListOp(pl.build("search_clusters", params=params), Cluster.model_validate)

    @staticmethod
    def update_cluster(cluster_id: int, fields: Mapping[str, Any]) -> Op[Cluster]:
        if not fields:
            raise XplentyConfigError("update_cluster needs at least one field to change")
        return Op(
            pl.build("update_cluster", {"cluster_id": cluster_id}, body=dict(fields)), Cluster.model_validate
        )

    @staticmethod
    def terminate_cluster(cluster_id: int) -> Op[Cluster]:
        ids = {"cluster_id": cluster_id}
        return Op(
            pl.build("terminate_cluster", ids),
            Cluster.model_validate,
            recheck=pl.build("get_cluster", ids),
            accept=lambda c: c.status in ClusterStatus.terminating_states(),
        )

    @staticmethod
    def run_job(cluster_id: int, package_id: int, variables: Any, dynamic_variables: Any) -> Op[Job]:
        body = _body(
            {
                "cluster_id": pl.check_id(cluster_id, "cluster_id"),
                "package_id": pl.check_id(package_id, "package_id"),
                "variables": pl.check_variables(variables, "variables"),
                "dynamic_variables": pl.check_variables(dynamic_variables, "dynamic_variables"),
            }
        )
        return Op(
            pl.build("run_job", body=body),
            Job.model_validate,
            reconciler=pl.job_reconciler(body, Job.model_validate),
        )

    @staticmethod
    def get_job(job_id: int, include: Any) -> Op[Job]:
        params = _filters(include=_include(include))
        return Op(pl.build("get_job", {"job_id": job_id}, params=params), Job.model_validate)

    @staticmethod
    def list_jobs(
        status: str | None, sort: str | None, direction: str | None, since: Any, package_id: int | None
    ) -> _ListOp[Job]:
        params = _filters(
            status=status,
            sort=sort,
            direction=direction,
            since=since,
            package_id=pl.check_id(package_id, "package_id") if package_id is not None else None,
        )
        return _ListOp(pl.build("list_jobs", params=params), Job.model_validate)

    @staticmethod
    def search_jobs(q: str, sort: str | None, direction: str | None) -> _ListOp[Job]:
        params = _filters(q=_check_query(q), sort=sort, direction=direction)
        return _ListOp(pl.build("search_jobs", params=params), Job.model_validate)

    @staticmethod
    def stop_job(job_id: int) -> Op[Job]:
        ids = {"job_id": job_id}
        return Op(
            pl.build("stop_job", ids),
            Job.model_validate,
            recheck=pl.build("get_job", ids),
            accept=lambda j: j.status in JobStatus.stopping_states() or j.status == JobStatus.STOPPED,
        )

    @staticmethod
    def list_job_children(
        job_id: int, status: str | None, sort: str | None, direction: str | None, since: Any
    ) -> _ListOp[Job]:
        params = _filters(status=status, sort=sort, direction=direction, since=since)
        return _ListOp(pl.build("list_job_children", {"job_id": job_id}, params=params), Job.model_validate)

    @staticmethod
    def get_job_variables(job_id: int) -> Op[dict[str, Any]]:
        return Op(pl.build("get_job_variables", {"job_id": job_id}), _as_dict)

    @staticmethod
    def get_job_log(job_id: int) -> Op[str]:
        return Op(pl.build("get_job_log", {"job_id": job_id}), _as_text("body"))

    @staticmethod
    def get_job_output(job_id: int, output_id: int) -> Op[JobOutput]:
        ids = {"job_id": job_id, "output_id": output_id}
        return Op(pl.build("get_job_output", ids), JobOutput.model_validate)

    @staticmethod
    def preview_output(job_id: int, output_id: int) -> Op[str]:
        ids = {"job_id": job_id, "output_id": output_id}
        return Op(pl.build("preview_output", ids), _as_text("preview"))

    @staticmethod
    def get_package(package_id: int) -> Op[Package]:
        return Op(pl.build("get_package", {"package_id": package_id}), Package.model_validate)

    @staticmethod
    def list_packages(
        status: str | None, flow_type: str | None, sort: str | None, direction: str | None, since: Any
    ) -> _ListOp[Package]:
        params = _filters(status=status, flow_type=flow_type, sort=sort, direction=direction, since=since)
        return _ListOp(pl.build("list_packages", params=params), Package.model_validate)

    @staticmethod
    def search_packages(q: str, sort: str | None, direction: str | None) -> _ListOp[Package]:
        params = _filters(q=_check_query(q), sort=sort, direction=direction)
        return _ListOp(pl.build("search_packages", params=params), Package.model_validate)

    @staticmethod
    def create_schedule(fields: Mapping[str, Any]) -> Op[Schedule]:
        return Op(pl.build("create_schedule", body=_schedule_body(fields)), Schedule.model_validate)

    @staticmethod
    def get_schedule(schedule_id: int) -> Op[Schedule]:
        return Op(pl.build("get_schedule", {"schedule_id": schedule_id}), Schedule.model_validate)

    @staticmethod
    def list_schedules(
        status: str | None, sort: str | None, direction: str | None, since: Any
    ) -> _ListOp[Schedule]:
        params = _filters(status=status, sort=sort, direction=direction, since=since)
        return _ListOp(pl.build("list_schedules", params=params), Schedule.model_validate)

    @staticmethod
    def update_schedule(schedule_id: int, fields: Mapping[str, Any]) -> Op[Schedule]:
        if not fields:
            raise XplentyConfigError("update_schedule needs at least one field to change")
        ids = {"schedule_id": schedule_id}
        return Op(pl.build("update_schedule", ids, body=_schedule_body(fields)), Schedule.model_validate)

    @staticmethod
    def delete_schedule(schedule_id: int) -> Op[Schedule]:
        return Op(pl.build("delete_schedule", {"schedule_id": schedule_id}), Schedule.model_validate)

    @staticmethod
    def clone_schedule(schedule_id: int) -> Op[Schedule]:
        return Op(pl.build("clone_schedule", {"schedule_id": schedule_id}), Schedule.model_validate)

    @staticmethod
    def run_schedule(schedule_id: int) -> Op[Schedule]:
        return Op(pl.build("run_schedule", {"schedule_id": schedule_id}), Schedule.model_validate)

    @staticmethod
    def rate_limit_status() -> Op[RateLimitStatus]:
        return Op(pl.build("rate_limit_status"), _rate_limit)


def _check_query(q: Any) -> str:
    if not isinstance(q, str) or not q.strip():
        raise XplentyConfigError(f"search query q must be a non-empty string, got {q!r}")
    return q


def _schedule_body(fields: Mapping[str, Any]) -> dict[str, Any]:
    body = {
        k: pl.format_time(v) if isinstance(v, datetime) else v for k, v in fields.items() if v is not None
    }
    task = body.get("task")
    if isinstance(task, Mapping):
        for index, item in enumerate(task.get("packages") or []):
            if isinstance(item, Mapping):
                pl.check_variables(item.get("variables"), f"task.packages[{index}].variables")
    return body


def _pick_package(name: str, packages: list[Package]) -> Package:
    """Return the one active package called ``name`` or raise with the candidates."""
    if not isinstance(name, str) or not name:
        raise XplentyConfigError(f"package name must be a non-empty string, got {name!r}")
    exact = [p for p in packages if p.name == name]
    if len(exact) == 1:
        return exact[0]
    if len(exact) > 1:
        listed = ", ".join(f"{p.id} ({p.flow_type or 'unknown type'})" for p in exact)
        raise XplentyConfigError(
            f"{len(exact)} active packages are named {name!r}: ids {listed}. Pass package_id instead."
        )
    names = [p.name or "" for p in packages]
    close = set(difflib.get_close_matches(name, names, n=5, cutoff=0.5))
    close |= {n for n in names if name.lower() in n.lower()}
    candidates = [p for p in packages if (p.name or "") in close] or packages[:20]
    listed = ", ".join(f"{p.name!r} (id {p.id})" for p in candidates) or "none"
    raise XplentyConfigError(f"No active package is named {name!r}. Candidates: {listed}")


def _requests_failure(exc: Exception) -> TransportFailure:
    import requests

    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, requests.ConnectTimeout):
        return TransportFailure("connect", detail)
    if isinstance(exc, requests.Timeout):
        return TransportFailure("read_timeout", detail)
    if isinstance(exc, requests.ConnectionError):
        from urllib3.exceptions import MaxRetryError, NewConnectionError

        reason = exc.args[0] if exc.args else None
        if isinstance(reason, MaxRetryError):
            reason = reason.reason
        if isinstance(reason, NewConnectionError):
            return TransportFailure("connect", detail)
    return TransportFailure("dropped", detail)


def _httpx_failure(exc: Exception) -> TransportFailure:
    import httpx

    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return TransportFailure("connect", detail)
    if isinstance(exc, (httpx.ReadTimeout, httpx.WriteTimeout)):
        return TransportFailure("read_timeout", detail)
    return TransportFailure("dropped", detail)


# --------------------------------------------------------------------------------------------
# Shared hook base: connection settings, retry policy, plans
# --------------------------------------------------------------------------------------------
class _XplentyHookBase(BaseHook):
    """Everything both hooks share except the transport."""

    conn_name_attr = "xplenty_conn_id"
    default_conn_name = "xplenty_default"
    conn_type = "xplenty"
    hook_name = "Xplenty"

    def __init__(
        self,
        xplenty_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        retry_limit: int | None = None,
        retry_max_seconds: float | None = None,
        retry_backoff: float | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(xplenty_conn_id, str) or not xplenty_conn_id:
            raise XplentyConfigError(f"xplenty_conn_id must be a non-empty string, got {xplenty_conn_id!r}")
        self.xplenty_conn_id = xplenty_conn_id
        self.timeout = timeout
        self._retry_args = _filters(
            retry_limit=retry_limit, retry_max_seconds=retry_max_seconds, retry_backoff=retry_backoff
        )
        RetryPolicy(**self._policy_kwargs({}))  # validate arguments now
        self._config: ClientConfig | None = None
        self._policy: RetryPolicy | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(xplenty_conn_id={self.xplenty_conn_id!r})"

    def _policy_kwargs(self, from_extra: Mapping[str, float]) -> dict[str, Any]:
        merged: dict[str, Any] = {**from_extra, **self._retry_args}
        if "retry_limit" in merged:
            merged["retry_limit"] = int(merged["retry_limit"])
        return merged

    def _configure(self, conn: Any) -> ClientConfig:
        config = pl.config_from_connection(conn, self.xplenty_conn_id, self.timeout)
        self._policy = RetryPolicy(**self._policy_kwargs(pl.retry_settings_from_extra(conn)))
        # Airflow's connection lookup already registers the password with the secrets masker
        # (mask_secret / amask_secret); this hook never logs it in the first place.
        self._config = config
        return config

    def _not_found(self, exc: Exception) -> XplentyConfigError:
        return XplentyConfigError(
            f"Connection `{self.xplenty_conn_id}` is not defined: create it (conn type `xplenty`) or set "
            f"AIRFLOW_CONN_{self.xplenty_conn_id.upper()}"
        )

    @property
    def policy(self) -> RetryPolicy:
        """The retry policy in force (constructor arguments, else connection extras, else defaults)."""
        return self._policy or RetryPolicy(**self._policy_kwargs({}))

    def _plans(self, cfg: ClientConfig) -> pl.Plans:
        """Return the control flow of calls for these settings (run by the hook's driver)."""
        return pl.Plans(cfg, self.policy, self.log)


# --------------------------------------------------------------------------------------------
# Sync hook
# --------------------------------------------------------------------------------------------
class XplentyHook(_XplentyHookBase):
    """Talk to the Xplenty API with ``requests``: clusters, jobs, packages, schedules.

    :param xplenty_conn_id: Airflow connection id (password = API key, ``account_id`` extra or login =
        account id, host = API base, default ``https://api.xplenty.com``).
    :param timeout: read timeout in seconds (default: the connection's ``timeout`` extra, else 60).
    :param retry_limit: retries after the first attempt (default: extra ``retry_limit``, else 5).
    :param retry_max_seconds: total time budget for one call's retries (default 120).
    :param retry_backoff: first back-off step in seconds, doubled each retry, jittered (default 1).
    """

    _session: requests.Session | None = None

    # -- plumbing ------------------------------------------------------------------------------
    @property
    def config(self) -> ClientConfig:
        """The resolved connection settings (read once, on first use)."""
        if self._config is None:
            try:
                conn = self.get_connection(self.xplenty_conn_id)
            except AirflowNotFoundException as exc:
                raise self._not_found(exc) from None
            self._configure(conn)
        assert self._config is not None
        return self._config

    def get_conn(self) -> requests.Session:
        """Return the (lazily created) ``requests.Session``."""
        if self._session is None:
            import requests

            self._session = requests.Session()
            self._session.trust_env = True
        return self._session

    def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            self._session.close()
            self._session = None

    def __enter__(self) -> XplentyHook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _exchange(self, cfg: ClientConfig, request: ApiRequest) -> RawResponse | TransportFailure:
        import requests

        try:
            resp = self.get_conn().request(
                request.method,
                cfg.url(request.path),
                params=request.params or None,
                json=request.body,
                headers=pl.headers(cfg, has_body=request.body is not None),
                timeout=(cfg.connect_timeout, cfg.read_timeout),
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            return _requests_failure(exc)
        return RawResponse(resp.status_code, resp.headers, resp.text)

    def _drive(self, cfg: ClientConfig, plan: pl.Plan[T]) -> T:
        """Run a plan: send its requests with ``requests``, make its waits with ``time.sleep``."""
        outcome: pl.Outcome = None
        while True:
            try:
                step = plan.send(outcome)
            except StopIteration as done:
                result: T = done.value
                return result
            if isinstance(step, pl.Wait):
                time.sleep(step.seconds)
                outcome = None
            else:
                outcome = self._exchange(cfg, step)

    def _run(self, op: Op[T]) -> T:
        cfg = self.config
        return self._drive(cfg, self._plans(cfg).call(op))

    def _list(self, op: _ListOp[T]) -> Iterator[T]:
        cfg = self.config  # connection errors surface at the call, not at the first next()
        return (pl.parse_as(op.parse, op.request, item) for item in self._raw_pages(cfg, op.request))

    def _raw_pages(self, cfg: ClientConfig, request: ApiRequest) -> Iterator[Any]:
        pager, plans = pl.Pager(request), self._plans(cfg)
        while (page := pager.next_request()) is not None:
            yield from pager.take(self._drive(cfg, plans.send(page)))

    # -- clusters ------------------------------------------------------------------------------
    def create_cluster(
        self,
        *,
        nodes: int | None = None,
        type: str = "production",
        name: str | None = None,
        description: str | None = None,
        terminate_on_idle: bool | None = None,
        time_to_idle: int | None = None,
        region: str | None = None,
        zone: str | None = None,
        stack: str | None = None,
        **extra_fields: Any,
    ) -> Cluster:
        """Create a cluster (never twice: a lost response is resolved by looking the cluster up by name).

        :param nodes: number of nodes (production: 2..plan maximum; sandbox: 1).
        :param type: ``production`` or ``sandbox``.
        :param name: cluster name; a unique ``airflow-<hex>`` name is generated when omitted.
        :param description: free text.
        :param terminate_on_idle: terminate when idle for ``time_to_idle`` seconds.
        :param time_to_idle: idle seconds before the cluster counts as idle.
        :param region: region, e.g. ``amazon-web-services::us-east-1``.
        :param zone: availability zone.
        :param stack: stack name.
        :param extra_fields: other API fields (instance types, spot prices, bootstrap actions ...).
        """
        op = _Ops.create_cluster(
            nodes=nodes,
            type=type,
            name=name,
            description=description,
            terminate_on_idle=terminate_on_idle,
            time_to_idle=time_to_idle,
            region=region,
            zone=zone,
            stack=stack,
            extra_fields=extra_fields,
        )
        return self._run(op)

    def get_cluster(self, cluster_id: int) -> Cluster:
        """Return a cluster.

        :param cluster_id: cluster id.
        """
        return self._run(_Ops.get_cluster(cluster_id))

    def list_clusters(
        self,
        *,
        status: str | None = None,
        sort: str | None = None,
        direction: str | None = None,
        since: datetime | str | None = None,
    ) -> Iterator[Cluster]:
        """Iterate over clusters (all pages), filtered server-side.

        :param status: a cluster status or ``all``.
        :param sort: ``created`` or ``updated``.
        :param direction: ``asc`` or ``desc``.
        :param since: only clusters updated at or after this time.
        """
        return self._list(_Ops.list_clusters(status, sort, direction, since))

    def search_clusters(
        self, q: str, *, sort: str | None = None, direction: str | None = None
    ) -> Iterator[Cluster]:
        """Iterate over clusters matching a search query (e.g. ``name:"nightly"``).

        :param q: search query.
        :param sort: ``relevance``, ``created`` or ``modified``.
        :param direction: ``asc`` or ``desc``.
        """
        return self._list(_Ops.search_clusters(q, sort, direction))

    def update_cluster(self, cluster_id: int, **fields: Any) -> Cluster:
        """Change a cluster (``nodes``, ``name``, ``description``, ``terminate_on_idle``, ``time_to_idle``).

        :param cluster_id: cluster id.
        :param fields: fields to change.
        """
        return self._run(_Ops.update_cluster(cluster_id, fields))

    def terminate_cluster(self, cluster_id: int) -> Cluster:
        """Ask for a cluster to be terminated; returns it (status ``pending_terminate``).

        :param cluster_id: cluster id.
        """
        return self._run(_Ops.terminate_cluster(cluster_id))

    # -- jobs ----------------------------------------------------------------------------------
    def run_job(
        self,
        cluster_id: int,
        package_id: int,
        variables: Mapping[str, Any] | None = None,
        dynamic_variables: Mapping[str, Any] | None = None,
    ) -> Job:
        """Run a package on a cluster (never twice: a lost response is resolved by looking the job up).

        :param cluster_id: cluster to run on.
        :param package_id: package to run.
        :param variables: variable name to expression (string literals quoted: ``"'/path'"``).
        :param dynamic_variables: variable name to expression evaluated at run time.
        """
        return self._run(_Ops.run_job(cluster_id, package_id, variables, dynamic_variables))

    def get_job(self, job_id: int, *, include: str | list[str] | None = None) -> Job:
        """Return a job.

        :param job_id: job id.
        :param include: ``cluster``, ``package``, ``log_summary`` or a list of them.
        """
        return self._run(_Ops.get_job(job_id, include))

    def list_jobs(
        self,
        *,
        status: str | None = None,
        sort: str | None = None,
        direction: str | None = None,
        since: datetime | str | None = None,
        package_id: int | None = None,
    ) -> Iterator[Job]:
        """Iterate over jobs (all pages), filtered server-side.

        :param status: a job status or ``all``.
        :param sort: ``created`` or ``updated``.
        :param direction: ``asc`` or ``desc``.
        :param since: only jobs updated at or after this time.
        :param package_id: only jobs of this package.
        """
        return self._list(_Ops.list_jobs(status, sort, direction, since, package_id))

    def search_jobs(self, q: str, *, sort: str | None = None, direction: str | None = None) -> Iterator[Job]:
        """Iterate over jobs matching a search query.

        :param q: search query (e.g. ``status:failed``).
        :param sort: ``id``, ``updated``, ``created`` or ``relevance``.
        :param direction: ``asc`` or ``desc``.
        """
        return self._list(_Ops.search_jobs(q, sort, direction))

    def stop_job(self, job_id: int) -> Job:
        """Ask for a job to stop; returns it (status ``pending_stoppage``).

        :param job_id: job id.
        """
        return self._run(_Ops.stop_job(job_id))

    def list_job_children(
        self,
        job_id: int,
        *,
        status: str | None = None,
        sort: str | None = None,
        direction: str | None = None,
        since: datetime | str | None = None,
    ) -> Iterator[Job]:
        """Iterate over the jobs a workflow job started.

        :param job_id: the workflow job.
        :param status: a job status or ``all``.
        :param sort: ``created`` or ``updated``.
        :param direction: ``asc`` or ``desc``.
        :param since: only jobs updated at or after this time.
        """
        return self._list(_Ops.list_job_children(job_id, status, sort, direction, since))

    def get_job_variables(self, job_id: int) -> dict[str, Any]:
        """Return every variable a job used (user, package and system variables).

        :param job_id: job id.
        """
        return self._run(_Ops.get_job_variables(job_id))

    def get_job_log(self, job_id: int) -> str:
        """Return a job's log summary text.

        :param job_id: job id.
        """
        return self._run(_Ops.get_job_log(job_id))

    def get_job_output(self, job_id: int, output_id: int) -> JobOutput:
        """Return one output of a job.

        :param job_id: job id.
        :param output_id: output id.
        """
        return self._run(_Ops.get_job_output(job_id, output_id))

    def preview_output(self, job_id: int, output_id: int) -> str:
        """Return the first lines (up to 100) of a job output.

        :param job_id: job id.
        :param output_id: output id.
        """
        return self._run(_Ops.preview_output(job_id, output_id))

    # -- packages ------------------------------------------------------------------------------
    def get_package(self, package_id: int) -> Package:
        """Return a package.

        :param package_id: package id.
        """
        return self._run(_Ops.get_package(package_id))

    def list_packages(
        self,
        *,
        status: str | None = None,
        flow_type: str | None = None,
        sort: str | None = None,
        direction: str | None = None,
        since: datetime | str | None = None,
    ) -> Iterator[Package]:
        """Iterate over packages (all pages), filtered server-side.

        :param status: ``active`` (API default) or ``archived``.
        :param flow_type: ``dataflow``, ``workflow`` or ``all``.
        :param sort: ``created``, ``updated`` or ``name``.
        :param direction: ``asc`` or ``desc``.
        :param since: only packages updated at or after this time.
        """
        return self._list(_Ops.list_packages(status, flow_type, sort, direction, since))

    def search_packages(
        self, q: str, *, sort: str | None = None, direction: str | None = None
    ) -> Iterator[Package]:
        """Iterate over packages matching a search query.

        :param q: search query (e.g. ``name:"daily rollup"``).
        :param sort: ``id``, ``updated``, ``created``, ``name`` or ``relevance``.
        :param direction: ``asc`` or ``desc``.
        """
        return self._list(_Ops.search_packages(q, sort, direction))

    def find_package(self, name: str) -> Package:
        """Return the one active package called ``name``, else raise an error listing candidates.

        :param name: exact package name.
        """
        if not isinstance(name, str) or not name:
            raise XplentyConfigError(f"package name must be a non-empty string, got {name!r}")
        return _pick_package(name, list(self.list_packages(status="active")))

    # -- schedules -----------------------------------------------------------------------------
    def create_schedule(self, **fields: Any) -> Schedule:
        """Create a schedule (not retried after a lost response: check ``list_schedules``).

        :param fields: schedule fields (``name``, ``start_at``, ``interval_amount``, ``interval_unit``,
            ``task`` ...).
        """
        return self._run(_Ops.create_schedule(fields))

    def get_schedule(self, schedule_id: int) -> Schedule:
        """Return a schedule.

        :param schedule_id: schedule id.
        """
        return self._run(_Ops.get_schedule(schedule_id))

    def list_schedules(
        self,
        *,
        status: str | None = None,
        sort: str | None = None,
        direction: str | None = None,
        since: datetime | str | None = None,
    ) -> Iterator[Schedule]:
        """Iterate over schedules (all pages), filtered server-side.

        :param status: ``enabled``, ``disabled`` or ``all``.
        :param sort: ``created`` or ``updated``.
        :param direction: ``asc`` or ``desc``.
        :param since: only schedules updated at or after this time.
        """
        return self._list(_Ops.list_schedules(status, sort, direction, since))

    def update_schedule(self, schedule_id: int, **fields: Any) -> Schedule:
        """Change a schedule.

        :param schedule_id: schedule id.
        :param fields: fields to change.
        """
        return self._run(_Ops.update_schedule(schedule_id, fields))

    def delete_schedule(self, schedule_id: int) -> Schedule:
        """Delete a schedule; returns the deleted schedule.

        :param schedule_id: schedule id.
        """
        return self._run(_Ops.delete_schedule(schedule_id))

    def clone_schedule(self, schedule_id: int) -> Schedule:
        """Copy a schedule; returns the copy.

        :param schedule_id: schedule id.
        """
        return self._run(_Ops.clone_schedule(schedule_id))

    def run_schedule(self, schedule_id: int) -> Schedule:
        """Run a schedule now.

        :param schedule_id: schedule id.
        """
        return self._run(_Ops.run_schedule(schedule_id))

    # -- account -------------------------------------------------------------------------------
    def get_rate_limit_status(self) -> RateLimitStatus:
        """Return the hourly credit budget and what is left (free call)."""
        return self._run(_Ops.rate_limit_status())

    def test_connection(self) -> tuple[bool, str]:
        """Check the connection with the free ``rate_limit_status`` call."""
        try:
            status = self.get_rate_limit_status()
        except Exception as exc:
            return False, str(exc)
        return True, _connected(self.config, status)


def _connected(cfg: ClientConfig, status: RateLimitStatus) -> str:
    return (
        f"Connected to Xplenty account `{cfg.account_id}` at {cfg.base_url}: "
        f"{status.remaining} of {status.limit} hourly API credits left"
    )


# --------------------------------------------------------------------------------------------
# Async hook
# --------------------------------------------------------------------------------------------
@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """Return one TLS context for every async client of the process.

    Building httpx's default context costs about 20 ms of blocking CPU; a triggerer that starts 50
    triggers at once would otherwise stall its event loop for a second (``make bench``).
    """
    import httpx

    return httpx.create_ssl_context()


class XplentyAsyncHook(_XplentyHookBase):
    """Talk to the Xplenty API with ``httpx.AsyncClient``; same methods as :class:`XplentyHook`, awaitable.

    ``list_*`` / ``search_*`` return async iterators (``async for``). The connection is read with
    ``BaseHook.aget_connection`` on first use, so the hook is safe inside triggers.

    :param xplenty_conn_id: Airflow connection id.
    :param timeout: read timeout in seconds (default: the connection's ``timeout`` extra, else 60).
    :param retry_limit: retries after the first attempt (default 5).
    :param retry_max_seconds: total time budget for one call's retries (default 120).
    :param retry_backoff: first back-off step in seconds (default 1).
    """

    _client: httpx.AsyncClient | None = None
    _client_loop: asyncio.AbstractEventLoop | None = None

    # -- plumbing ------------------------------------------------------------------------------
    async def get_config(self) -> ClientConfig:
        """Return the resolved connection settings (read once, on first use)."""
        if self._config is None:
            try:
                conn = await self.aget_connection(self.xplenty_conn_id)
            except AirflowNotFoundException as exc:
                raise self._not_found(exc) from None
            self._configure(conn)
        assert self._config is not None
        return self._config

    def _get_client(self, cfg: ClientConfig) -> httpx.AsyncClient:
        import httpx

        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop or self._client.is_closed:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(cfg.read_timeout, connect=cfg.connect_timeout),
                follow_redirects=False,
                verify=_ssl_context(),
            )
            self._client_loop = loop
        return self._client

    async def close(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            if self._client_loop is asyncio.get_running_loop():
                await self._client.aclose()
            self._client = None
            self._client_loop = None

    async def __aenter__(self) -> XplentyAsyncHook:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _exchange(self, cfg: ClientConfig, request: ApiRequest) -> RawResponse | TransportFailure:
        import httpx

        try:
            resp = await self._get_client(cfg).request(
                request.method,
                cfg.url(request.path),
                params=request.params or None,
                json=request.body,
                headers=pl.headers(cfg, has_body=request.body is not None),
            )
        except httpx.TransportError as exc:
            return _httpx_failure(exc)
        return RawResponse(resp.status_code, resp.headers, resp.text)

    async def _drive(self, cfg: ClientConfig, plan: pl.Plan[T]) -> T:
        """Run a plan: send its requests with ``httpx``, make its waits with ``asyncio.sleep``."""
        outcome: pl.Outcome = None
        while True:
            try:
                step = plan.send(outcome)
            except StopIteration as done:
                result: T = done.value
                return result
            if isinstance(step, pl.Wait):
                await asyncio.sleep(step.seconds)
                outcome = None
            else:
                outcome = await self._exchange(cfg, step)

    async def _run(self, op: Op[T]) -> T:
        cfg = await self.get_config()
        return await self._drive(cfg, self._plans(cfg).call(op))

    async def _list(self, op: _ListOp[T]) -> AsyncIterator[T]:
        cfg = await self.get_config()
        pager, plans = pl.Pager(op.request), self._plans(cfg)
        while (page := pager.next_request()) is not None:
            for item in pager.take(await self._drive(cfg, plans.send(page))):
                yield pl.parse_as(op.parse, op.request, item)

    # -- clusters ------------------------------------------------------------------------------
    async def create_cluster(
        self,
        *,
        nodes: int | None = None,
        type: str = "production",
        name: str | None = None,
        description: str | None = None,
        terminate_on_idle: bool | None = None,
        time_to_idle: int | None = None,
        region: str | None = None,
        zone: str | None = None,
        stack: str | None = None,
        **extra_fields: Any,
    ) -> Cluster:
        """Create a cluster (see :meth:`XplentyHook.create_cluster`)."""
        op = _Ops.create_cluster(
            nodes=nodes,
            type=type,
            name=name,
            description=description,
            terminate_on_idle=terminate_on_idle,
            time_to_idle=time_to_idle,
            region=region,
            zone=zone,
            stack=stack,
            extra_fields=extra_fields,
        )
        return await self._run(op)

    async def get_cluster(self, cluster_id: int) -> Cluster:
        """Return a cluster.

        :param cluster_id: cluster id.
        """
        return await self._run(_Ops.get_cluster(cluster_id))

    def list_clusters(
        self,
        *,
        status: str | None = None,
        sort: str | None = None,
        direction: str | None = None,
        since: datetime | str | None = None,
    ) -> AsyncIterator[Cluster]:
        """Iterate over clusters (see :meth:`XplentyHook.list_clusters`)."""
        return self._list(_Ops.list_clusters(status, sort, direction, since))

    def search_clusters(
        self, q: str, *, sort: str | None = None, direction: str | None = None
    ) -> AsyncIterator[Cluster]:
        """Iterate over clusters matching a search query."""
        return self._list(_Ops.search_clusters(q, sort, direction))

    async def update_cluster(self, cluster_id: int, **fields: Any) -> Cluster:
        """Change a cluster."""
        return await self._run(_Ops.update_cluster(cluster_id, fields))

    async def terminate_cluster(self, cluster_id: int) -> Cluster:
        """Ask for a cluster to be terminated."""
        return await self._run(_Ops.terminate_cluster(cluster_id))

    # -- jobs ----------------------------------------------------------------------------------
    async def run_job(
        self,
        cluster_id: int,
        package_id: int,
        variables: Mapping[str, Any] | None = None,
        dynamic_variables: Mapping[str, Any] | None = None,
    ) -> Job:
        """Run a package on a cluster (see :meth:`XplentyHook.run_job`)."""
        return await self._run(_Ops.run_job(cluster_id, package_id, variables, dynamic_variables))

    async def get_job(self, job_id: int, *, include: str | list[str] | None = None) -> Job:
        """Return a job."""
        return await self._run(_Ops.get_job(job_id, include))

    def list_jobs(
        self,
        *,
        status: str | None = None,
        sort: str | None = None,
        direction: str | None = None,
        since: datetime | str | None = None,
        package_id: int | None = None,
    ) -> AsyncIterator[Job]:
        """Iterate over jobs (see :meth:`XplentyHook.list_jobs`)."""
        return self._list(_Ops.list_jobs(status, sort, direction, since, package_id))

    def search_jobs(
        self, q: str, *, sort: str | None = None, direction: str | None = None
    ) -> AsyncIterator[Job]:
        """Iterate over jobs matching a search query."""
        return self._list(_Ops.search_jobs(q, sort, direction))

    async def stop_job(self, job_id: int) -> Job:
        """Ask for a job to stop."""
        return await self._run(_Ops.stop_job(job_id))

    def list_job_children(
        self,
        job_id: int,
        *,
        status: str | None = None,
        sort: str | None = None,
        direction: str | None = None,
        since: datetime | str | None = None,
    ) -> AsyncIterator[Job]:
        """Iterate over the jobs a workflow job started."""
        return self._list(_Ops.list_job_children(job_id, status, sort, direction, since))

    async def get_job_variables(self, job_id: int) -> dict[str, Any]:
        """Return every variable a job used."""
        return await self._run(_Ops.get_job_variables(job_id))

    async def get_job_log(self, job_id: int) -> str:
        """Return a job's log summary text."""
        return await self._run(_Ops.get_job_log(job_id))

    async def get_job_output(self, job_id: int, output_id: int) -> JobOutput:
        """Return one output of a job."""
        return await self._run(_Ops.get_job_output(job_id, output_id))

    async def preview_output(self, job_id: int, output_id: int) -> str:
        """Return the first lines of a job output."""
        return await self._run(_Ops.preview_output(job_id, output_id))

    # -- packages ------------------------------------------------------------------------------
    async def get_package(self, package_id: int) -> Package:
        """Return a package."""
        return await self._run(_Ops.get_package(package_id))

    def list_packages(
        self,
        *,
        status: str | None = None,
        flow_type: str | None = None,
        sort: str | None = None,
        direction: str | None = None,
        since: datetime | str | None = None,
    ) -> AsyncIterator[Package]:
        """Iterate over packages (see :meth:`XplentyHook.list_packages`)."""
        return self._list(_Ops.list_packages(status, flow_type, sort, direction, since))

    def search_packages(
        self, q: str, *, sort: str | None = None, direction: str | None = None
    ) -> AsyncIterator[Package]:
        """Iterate over packages matching a search query."""
        return self._list(_Ops.search_packages(q, sort, direction))

    async def find_package(self, name: str) -> Package:
        """Return the one active package called ``name`` (see :meth:`XplentyHook.find_package`)."""
        if not isinstance(name, str) or not name:
            raise XplentyConfigError(f"package name must be a non-empty string, got {name!r}")
        return _pick_package(name, [p async for p in self.list_packages(status="active")])

    # -- schedules -----------------------------------------------------------------------------
    async def create_schedule(self, **fields: Any) -> Schedule:
        """Create a schedule."""
        return await self._run(_Ops.create_schedule(fields))

    async def get_schedule(self, schedule_id: int) -> Schedule:
        """Return a schedule."""
        return await self._run(_Ops.get_schedule(schedule_id))

    def list_schedules(
        self,
        *,
        status: str | None = None,
        sort: str | None = None,
        direction: str | None = None,
        since: datetime | str | None = None,
    ) -> AsyncIterator[Schedule]:
        """Iterate over schedules."""
        return self._list(_Ops.list_schedules(status, sort, direction, since))

    async def update_schedule(self, schedule_id: int, **fields: Any) -> Schedule:
        """Change a schedule."""
        return await self._run(_Ops.update_schedule(schedule_id, fields))

    async def delete_schedule(self, schedule_id: int) -> Schedule:
        """Delete a schedule."""
        return await self._run(_Ops.delete_schedule(schedule_id))

    async def clone_schedule(self, schedule_id: int) -> Schedule:
        """Copy a schedule."""
        return await self._run(_Ops.clone_schedule(schedule_id))

    async def run_schedule(self, schedule_id: int) -> Schedule:
        """Run a schedule now."""
        return await self._run(_Ops.run_schedule(schedule_id))

    # -- account -------------------------------------------------------------------------------
    async def get_rate_limit_status(self) -> RateLimitStatus:
        """Return the hourly credit budget and what is left (free call)."""
        return await self._run(_Ops.rate_limit_status())

    async def test_connection(self) -> tuple[bool, str]:  # type: ignore[override]
        """Check the connection with the free ``rate_limit_status`` call."""
        try:
            status = await self.get_rate_limit_status()
        except Exception as exc:
            return False, str(exc)
        return True, _connected(await self.get_config(), status)
