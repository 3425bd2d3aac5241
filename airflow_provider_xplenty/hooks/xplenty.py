"""Hooks for the Xplenty (Integrate.io ETL) REST API: :class:`XplentyHook` and :class:`XplentyAsyncHook`.

Both hooks share one request pipeline (``_pipeline``): endpoint table, URL building, headers and
auth, response parsing, error mapping and the retry classifier. Only the transport differs
(``requests.Session`` for the sync hook, ``httpx.AsyncClient`` for the async hook).
"""

from __future__ import annotations

import asyncio
import difflib
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException
from pydantic import ValidationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
)

from airflow_provider_xplenty.exceptions import XplentyApiError, XplentyConfigError
from airflow_provider_xplenty.hooks import _pipeline as pl
from airflow_provider_xplenty.hooks._pipeline import (
    ApiRequest,
    ClientConfig,
    Floor,
    RawResponse,
    Reconciler,
    RetryableError,
    RetryPolicy,
    TransportFailure,
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

__all__ = ["XplentyAsyncHook", "XplentyHook"]


# --------------------------------------------------------------------------------------------
# Operations: what each public method sends and how it reads the answer (shared by both hooks)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Op(Generic[T]):
    """One call: the request, the parser of its body, and its duplicate/lost-response handling."""

    request: ApiRequest
    parse: Callable[[Any], T]
    reconciler: Reconciler[T] | None = None
    #: After a lost DELETE response, a 422 may mean "already done": re-read with this request ...
    recheck: ApiRequest | None = None
    #: ... and accept the object when this says it is already in the requested state.
    accept: Callable[[T], bool] | None = None


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
    ) -> _Op[Cluster]:
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
        return _Op(
            pl.build("create_cluster", body=body),
            Cluster.model_validate,
            reconciler=pl.cluster_reconciler(body, Cluster.model_validate),
        )

    @staticmethod
    def get_cluster(cluster_id: int) -> _Op[Cluster]:
        return _Op(pl.build("get_cluster", {"cluster_id": cluster_id}), Cluster.model_validate)

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
    def update_cluster(cluster_id: int, fields: Mapping[str, Any]) -> _Op[Cluster]:
        if not fields:
            raise XplentyConfigError("update_cluster needs at least one field to change")
        return _Op(
            pl.build("update_cluster", {"cluster_id": cluster_id}, body=dict(fields)), Cluster.model_validate
        )

    @staticmethod
    def terminate_cluster(cluster_id: int) -> _Op[Cluster]:
        ids = {"cluster_id": cluster_id}
        return _Op(
            pl.build("terminate_cluster", ids),
            Cluster.model_validate,
            recheck=pl.build("get_cluster", ids),
            accept=lambda c: c.status in ClusterStatus.terminating_states(),
        )

    @staticmethod
    def run_job(cluster_id: int, package_id: int, variables: Any, dynamic_variables: Any) -> _Op[Job]:
        body = _body(
            {
                "cluster_id": pl.check_id(cluster_id, "cluster_id"),
                "package_id": pl.check_id(package_id, "package_id"),
                "variables": pl.check_variables(variables, "variables"),
                "dynamic_variables": pl.check_variables(dynamic_variables, "dynamic_variables"),
            }
        )
        return _Op(
            pl.build("run_job", body=body),
            Job.model_validate,
            reconciler=pl.job_reconciler(body, Job.model_validate),
        )

    @staticmethod
    def get_job(job_id: int, include: Any) -> _Op[Job]:
        params = _filters(include=_include(include))
        return _Op(pl.build("get_job", {"job_id": job_id}, params=params), Job.model_validate)

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
    def stop_job(job_id: int) -> _Op[Job]:
        ids = {"job_id": job_id}
        stopping = {JobStatus.PENDING_STOPPAGE.value, JobStatus.STOPPING.value, JobStatus.STOPPED.value}
        return _Op(
            pl.build("stop_job", ids),
            Job.model_validate,
            recheck=pl.build("get_job", ids),
            accept=lambda j: j.status in stopping,
        )

    @staticmethod
    def list_job_children(
        job_id: int, status: str | None, sort: str | None, direction: str | None, since: Any
    ) -> _ListOp[Job]:
        params = _filters(status=status, sort=sort, direction=direction, since=since)
        return _ListOp(pl.build("list_job_children", {"job_id": job_id}, params=params), Job.model_validate)

    @staticmethod
    def get_job_variables(job_id: int) -> _Op[dict[str, Any]]:
        return _Op(pl.build("get_job_variables", {"job_id": job_id}), _as_dict)

    @staticmethod
    def get_job_log(job_id: int) -> _Op[str]:
        return _Op(pl.build("get_job_log", {"job_id": job_id}), _as_text("body"))

    @staticmethod
    def get_job_output(job_id: int, output_id: int) -> _Op[JobOutput]:
        ids = {"job_id": job_id, "output_id": output_id}
        return _Op(pl.build("get_job_output", ids), JobOutput.model_validate)

    @staticmethod
    def preview_output(job_id: int, output_id: int) -> _Op[str]:
        ids = {"job_id": job_id, "output_id": output_id}
        return _Op(pl.build("preview_output", ids), _as_text("preview"))

    @staticmethod
    def get_package(package_id: int) -> _Op[Package]:
        return _Op(pl.build("get_package", {"package_id": package_id}), Package.model_validate)

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
    def create_schedule(fields: Mapping[str, Any]) -> _Op[Schedule]:
        return _Op(pl.build("create_schedule", body=_schedule_body(fields)), Schedule.model_validate)

    @staticmethod
    def get_schedule(schedule_id: int) -> _Op[Schedule]:
        return _Op(pl.build("get_schedule", {"schedule_id": schedule_id}), Schedule.model_validate)

    @staticmethod
    def list_schedules(
        status: str | None, sort: str | None, direction: str | None, since: Any
    ) -> _ListOp[Schedule]:
        params = _filters(status=status, sort=sort, direction=direction, since=since)
        return _ListOp(pl.build("list_schedules", params=params), Schedule.model_validate)

    @staticmethod
    def update_schedule(schedule_id: int, fields: Mapping[str, Any]) -> _Op[Schedule]:
        if not fields:
            raise XplentyConfigError("update_schedule needs at least one field to change")
        ids = {"schedule_id": schedule_id}
        return _Op(pl.build("update_schedule", ids, body=_schedule_body(fields)), Schedule.model_validate)

    @staticmethod
    def delete_schedule(schedule_id: int) -> _Op[Schedule]:
        return _Op(pl.build("delete_schedule", {"schedule_id": schedule_id}), Schedule.model_validate)

    @staticmethod
    def clone_schedule(schedule_id: int) -> _Op[Schedule]:
        return _Op(pl.build("clone_schedule", {"schedule_id": schedule_id}), Schedule.model_validate)

    @staticmethod
    def run_schedule(schedule_id: int) -> _Op[Schedule]:
        return _Op(pl.build("run_schedule", {"schedule_id": schedule_id}), Schedule.model_validate)

    @staticmethod
    def rate_limit_status() -> _Op[RateLimitStatus]:
        return _Op(pl.build("rate_limit_status"), _rate_limit)


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


def _parse(op_parse: Callable[[Any], T], request: ApiRequest, data: Any) -> T:
    try:
        return op_parse(data)
    except (ValidationError, ValueError, TypeError) as exc:
        raise XplentyApiError(
            None, f"unexpected response shape: {str(exc).splitlines()[0]}", request.method, request.path
        ) from None


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
# Shared hook base: connection settings, retry policy, response handling
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

    # -- responses ---------------------------------------------------------------------------
    def _observe(self, resp: RawResponse) -> None:
        if pl.rate_limit_remaining(resp) == 0 and resp.status < 400:
            self.log.warning(
                "Xplenty rate limit: no credits left in this hour's budget; next calls may get 429"
            )

    def _handle(self, cfg: ClientConfig, request: ApiRequest, resp: RawResponse) -> Any:
        """Return the parsed body of a 2xx response; raise the mapped (maybe retryable) error otherwise."""
        self._observe(resp)
        if 200 <= resp.status < 300:
            return pl.parse_body(request, resp)
        error = pl.api_error(cfg, request, resp)
        decision = pl.classify(request.endpoint, resp)
        if decision.retry:
            raise RetryableError(error, decision)
        raise error

    def _failure(self, request: ApiRequest, failure: TransportFailure) -> Exception:
        error = pl.transport_error(request, failure)
        decision = pl.classify(request.endpoint, failure)
        if decision.retry:
            return RetryableError(error, decision)
        if decision.unknown_outcome:
            error = XplentyApiError(
                None,
                f"{error.message}; the request may or may not have been carried out (not retried because "
                f"{request.method} {request.endpoint.path} is not idempotent)",
                request.method,
                request.path,
            )
        return error

    # -- retries -------------------------------------------------------------------------------
    def _retry_kwargs(self, request: ApiRequest) -> dict[str, Any]:
        policy = self.policy

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, RetryableError):
                return policy.wait(exc.decision, state.attempt_number)
            return 0.0

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            reason = exc.decision.reason if isinstance(exc, RetryableError) else repr(exc)
            self.log.warning(
                "Xplenty API %s %s failed: %s; retry %d of %d in %.2f s",
                request.method,
                request.path,
                reason,
                state.attempt_number,
                policy.retry_limit,
                state.upcoming_sleep,
            )

        return {
            "stop": stop_after_attempt(policy.retry_limit + 1) | stop_before_delay(policy.retry_max_seconds),
            "wait": wait,
            "retry": retry_if_exception_type(RetryableError),
            "before_sleep": before_sleep,
            "reraise": True,
        }

    def _give_up(
        self, request: ApiRequest, exc: RetryableError, started: float, attempts: int
    ) -> XplentyApiError:
        err = exc.error
        elapsed = time.monotonic() - started
        self.log.error(
            "Xplenty API %s %s failed: %s; giving up after %d attempt(s) in %.1f s",
            request.method,
            request.path,
            exc.decision.reason,
            attempts,
            elapsed,
        )
        return XplentyApiError(
            err.status_code,
            f"{err.message} (gave up after {attempts} attempt(s) in {elapsed:.1f} s)",
            err.method,
            err.path,
        )

    def _adopt_log(self, reconciler: Reconciler[Any], item: Any) -> None:
        self.log.warning(
            "Xplenty: the response to a create call was lost; adopting the existing %s (id %s) "
            "instead of creating a duplicate",
            reconciler.describe,
            item.get("id") if isinstance(item, Mapping) else "?",
        )


class _Attempts:
    """Counts attempts of one retry loop (for the give-up message) and remembers unknown outcomes."""

    def __init__(self) -> None:
        self.count = 0
        self.unknown = False


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

    def __init__(
        self,
        xplenty_conn_id: str = _XplentyHookBase.default_conn_name,
        *,
        timeout: float | None = None,
        retry_limit: int | None = None,
        retry_max_seconds: float | None = None,
        retry_backoff: float | None = None,
    ) -> None:
        super().__init__(
            xplenty_conn_id,
            timeout=timeout,
            retry_limit=retry_limit,
            retry_max_seconds=retry_max_seconds,
            retry_backoff=retry_backoff,
        )
        self._session: requests.Session | None = None

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

    def _attempt(self, cfg: ClientConfig, request: ApiRequest) -> Any:
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
            raise self._failure(request, _requests_failure(exc)) from None
        return self._handle(cfg, request, RawResponse(resp.status_code, resp.headers, resp.text))

    def _send(self, request: ApiRequest) -> Any:
        cfg = self.config
        started = time.monotonic()
        attempts = _Attempts()

        def attempt() -> Any:
            attempts.count += 1
            return self._attempt(cfg, request)

        try:
            return Retrying(**self._retry_kwargs(request))(attempt)
        except RetryableError as exc:
            raise self._give_up(request, exc, started, attempts.count) from None

    def _run(self, op: _Op[T]) -> T:
        if op.reconciler is not None:
            return self._create(op, op.reconciler)
        if op.recheck is None:
            return _parse(op.parse, op.request, self._send(op.request))
        cfg = self.config
        started = time.monotonic()
        attempts = _Attempts()

        def attempt() -> T:
            attempts.count += 1
            try:
                return _parse(op.parse, op.request, self._attempt(cfg, op.request))
            except RetryableError:
                attempts.unknown = True
                raise
            except XplentyApiError as exc:
                if attempts.unknown and exc.status_code == 422 and op.recheck and op.accept:
                    current = _parse(op.parse, op.recheck, self._send(op.recheck))
                    if op.accept(current):
                        return current
                raise

        try:
            return Retrying(**self._retry_kwargs(op.request))(attempt)
        except RetryableError as exc:
            raise self._give_up(op.request, exc, started, attempts.count) from None

    def _find(self, reconciler: Reconciler[T], floor: Floor) -> T | None:
        for item in self._raw_pages(reconciler.request_after(floor)):
            picked = reconciler.pick(item, floor)
            if picked is None:
                break
            if picked:
                self._adopt_log(reconciler, item)
                return _parse(reconciler.parse, reconciler.lookup, item)
        return None

    def _create(self, op: _Op[T], reconciler: Reconciler[T]) -> T:
        cfg = self.config
        # What exists now (1 credit): anything newer that matches is ours after a lost response.
        floor = Reconciler.floor(self._send(reconciler.snapshot_request()))
        started = time.monotonic()
        attempts = _Attempts()

        def attempt() -> T:
            attempts.count += 1
            if attempts.unknown:
                found = self._find(reconciler, floor)
                if found is not None:
                    return found
            try:
                return _parse(op.parse, op.request, self._attempt(cfg, op.request))
            except RetryableError as exc:
                attempts.unknown = attempts.unknown or exc.decision.unknown_outcome
                raise

        try:
            return Retrying(**self._retry_kwargs(op.request))(attempt)
        except RetryableError as exc:
            if attempts.unknown:
                found = self._find(reconciler, floor)
                if found is not None:
                    return found
            raise self._give_up(op.request, exc, started, attempts.count) from None

    def _raw_pages(self, request: ApiRequest) -> Iterator[Any]:
        offset = 0
        while True:
            data = self._send(pl.page(request, offset))
            if not isinstance(data, list):
                raise XplentyApiError(200, "expected a JSON array", request.method, request.path)
            yield from data
            if len(data) < pl.PAGE_LIMIT:
                return
            offset += len(data)

    def _list(self, op: _ListOp[T]) -> Iterator[T]:
        _ = self.config  # connection errors surface at the call, not at the first next()
        return (_parse(op.parse, op.request, item) for item in self._raw_pages(op.request))

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

    def __init__(
        self,
        xplenty_conn_id: str = _XplentyHookBase.default_conn_name,
        *,
        timeout: float | None = None,
        retry_limit: int | None = None,
        retry_max_seconds: float | None = None,
        retry_backoff: float | None = None,
    ) -> None:
        super().__init__(
            xplenty_conn_id,
            timeout=timeout,
            retry_limit=retry_limit,
            retry_max_seconds=retry_max_seconds,
            retry_backoff=retry_backoff,
        )
        self._client: httpx.AsyncClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

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
                timeout=httpx.Timeout(cfg.read_timeout, connect=cfg.connect_timeout), follow_redirects=False
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

    async def _attempt(self, cfg: ClientConfig, request: ApiRequest) -> Any:
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
            raise self._failure(request, _httpx_failure(exc)) from None
        return self._handle(cfg, request, RawResponse(resp.status_code, resp.headers, resp.text))

    async def _send(self, request: ApiRequest) -> Any:
        cfg = await self.get_config()
        started = time.monotonic()
        attempts = _Attempts()

        async def attempt() -> Any:
            attempts.count += 1
            return await self._attempt(cfg, request)

        try:
            return await AsyncRetrying(**self._retry_kwargs(request))(attempt)
        except RetryableError as exc:
            raise self._give_up(request, exc, started, attempts.count) from None

    async def _run(self, op: _Op[T]) -> T:
        if op.reconciler is not None:
            return await self._create(op, op.reconciler)
        if op.recheck is None:
            return _parse(op.parse, op.request, await self._send(op.request))
        cfg = await self.get_config()
        started = time.monotonic()
        attempts = _Attempts()

        async def attempt() -> T:
            attempts.count += 1
            try:
                return _parse(op.parse, op.request, await self._attempt(cfg, op.request))
            except RetryableError:
                attempts.unknown = True
                raise
            except XplentyApiError as exc:
                if attempts.unknown and exc.status_code == 422 and op.recheck and op.accept:
                    current = _parse(op.parse, op.recheck, await self._send(op.recheck))
                    if op.accept(current):
                        return current
                raise

        try:
            result: T = await AsyncRetrying(**self._retry_kwargs(op.request))(attempt)
            return result
        except RetryableError as exc:
            raise self._give_up(op.request, exc, started, attempts.count) from None

    async def _find(self, reconciler: Reconciler[T], floor: Floor) -> T | None:
        async for item in self._raw_pages(reconciler.request_after(floor)):
            picked = reconciler.pick(item, floor)
            if picked is None:
                break
            if picked:
                self._adopt_log(reconciler, item)
                return _parse(reconciler.parse, reconciler.lookup, item)
        return None

    async def _create(self, op: _Op[T], reconciler: Reconciler[T]) -> T:
        cfg = await self.get_config()
        # What exists now (1 credit): anything newer that matches is ours after a lost response.
        floor = Reconciler.floor(await self._send(reconciler.snapshot_request()))
        started = time.monotonic()
        attempts = _Attempts()

        async def attempt() -> T:
            attempts.count += 1
            if attempts.unknown:
                found = await self._find(reconciler, floor)
                if found is not None:
                    return found
            try:
                return _parse(op.parse, op.request, await self._attempt(cfg, op.request))
            except RetryableError as exc:
                attempts.unknown = attempts.unknown or exc.decision.unknown_outcome
                raise

        try:
            result: T = await AsyncRetrying(**self._retry_kwargs(op.request))(attempt)
            return result
        except RetryableError as exc:
            if attempts.unknown:
                found = await self._find(reconciler, floor)
                if found is not None:
                    return found
            raise self._give_up(op.request, exc, started, attempts.count) from None

    async def _raw_pages(self, request: ApiRequest) -> AsyncIterator[Any]:
        offset = 0
        while True:
            data = await self._send(pl.page(request, offset))
            if not isinstance(data, list):
                raise XplentyApiError(200, "expected a JSON array", request.method, request.path)
            for item in data:
                yield item
            if len(data) < pl.PAGE_LIMIT:
                return
            offset += len(data)

    async def _list(self, op: _ListOp[T]) -> AsyncIterator[T]:
        async for item in self._raw_pages(op.request):
            yield _parse(op.parse, op.request, item)

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
