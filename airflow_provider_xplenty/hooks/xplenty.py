"""Hooks for the Xplenty (Integrate.io ETL) REST API: :class:`XplentyHook` and :class:`XplentyAsyncHook`.

The two hooks stand side by side in this module, method for method, so that their parity can be read
(``tests/hooks/test_hook_surface.py`` checks it); that is why the module is longer than most. Every
method is thin: it builds its call with :mod:`._operations` (argument checks happen there, before
any request) or a multi-call flow with :mod:`._flows`, and hands it to the hook's driver. The control
flow of every call (retries, recheck after a lost response, adopt-or-resend for creates, paging) is
written once as generator plans in :mod:`._http.plans`; only the driver differs: ``requests`` and
``time.sleep`` (sync) or ``httpx`` and ``asyncio.sleep`` (async).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_xplenty._compat import AirflowNotFoundException, get_async_connection
from airflow_provider_xplenty.hooks import _flows as flows
from airflow_provider_xplenty.hooks import _operations as ops
from airflow_provider_xplenty.hooks._base import (
    XplentyHookBase,
    connected_message,
    connection_form_widgets,
    ui_field_behaviour,
)
from airflow_provider_xplenty.hooks._flows import EXPIRE_FIELDS
from airflow_provider_xplenty.hooks._http.config import ClientConfig
from airflow_provider_xplenty.hooks._http.plans import (
    Flow,
    ListOp,
    Op,
    Outcome,
    Pager,
    Plan,
    PlanRunner,
    Wait,
)
from airflow_provider_xplenty.hooks._http.reconcile import job_matches
from airflow_provider_xplenty.hooks._http.variables import normalise_variables
from airflow_provider_xplenty.hooks._http.wire import ApiRequest, parse_as
from airflow_provider_xplenty.hooks._transport import httpx_exchange, new_async_client, requests_exchange

if TYPE_CHECKING:
    import httpx
    import requests

    from airflow_provider_xplenty.models import (
        Cluster,
        Job,
        JobOutput,
        Package,
        RateLimitStatus,
        Schedule,
    )

T = TypeVar("T")

__all__ = ["EXPIRE_FIELDS", "XplentyAsyncHook", "XplentyHook", "job_matches", "normalise_variables"]


def _call(op: Op[T]) -> Flow[T]:
    """Return the flow of a single call."""
    return lambda plans: plans.call(op)


# --------------------------------------------------------------------------------------------
# Sync hook
# --------------------------------------------------------------------------------------------
class XplentyHook(XplentyHookBase):
    """Talk to the Xplenty API with ``requests``: clusters, jobs, packages, schedules.

    :param xplenty_conn_id: Airflow connection id (password = API key, ``account_id`` extra or login =
        account id, host = API base, default ``https://api.xplenty.com``).
    :param timeout: read timeout in seconds (default: the connection's ``timeout`` extra, else 60).
    :param retry_limit: retries after the first attempt (default: extra ``retry_limit``, else 5).
    :param retry_max_seconds: total time budget for one call's retries (default 120).
    :param retry_backoff: first back-off step in seconds, doubled each retry, jittered (default 1).
    """

    _session: requests.Session | None = None

    # -- connection form (Airflow 2.11 to 3.1 only look for these on the hook class itself) -------
    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """The connection form's extra fields (the ``timeout`` extra)."""
        return connection_form_widgets()

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Labels, placeholders and hidden fields of the connection form."""
        return ui_field_behaviour()

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

    def _drive(self, cfg: ClientConfig, plan: Plan[T]) -> T:
        """Run a plan: send its requests with ``requests``, make its waits with ``time.sleep``."""
        run = PlanRunner(plan)
        outcome: Outcome = None
        while (step := run.next_step(outcome)) is not None:
            if isinstance(step, Wait):
                time.sleep(step.seconds)
                outcome = None
            else:
                outcome = requests_exchange(self.get_conn(), cfg, step)
        return run.result

    def _follow(self, flow: Flow[T]) -> T:
        cfg = self.config
        return self._drive(cfg, flow(self._plans(cfg)))

    def _run(self, op: Op[T]) -> T:
        return self._follow(_call(op))

    def _list(self, op: ListOp[T]) -> Iterator[T]:
        cfg = self.config  # connection errors surface at the call, not at the first next()
        return (parse_as(op.parse, op.request, item) for item in self._raw_pages(cfg, op.request))

    def _raw_pages(self, cfg: ClientConfig, request: ApiRequest) -> Iterator[Any]:
        pager, plans = Pager(request), self._plans(cfg)
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
        op = ops.create_cluster(
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
        return self._run(ops.get_cluster(cluster_id))

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
        return self._list(ops.list_clusters(status, sort, direction, since))

    def search_clusters(
        self, q: str, *, sort: str | None = None, direction: str | None = None
    ) -> Iterator[Cluster]:
        """Iterate over clusters matching a search query (e.g. ``name:"nightly"``).

        :param q: search query.
        :param sort: ``relevance``, ``created`` or ``modified``.
        :param direction: ``asc`` or ``desc``.
        """
        return self._list(ops.search_clusters(q, sort, direction))

    def update_cluster(self, cluster_id: int, **fields: Any) -> Cluster:
        """Change a cluster (``nodes``, ``name``, ``description``, ``terminate_on_idle``, ``time_to_idle``).

        :param cluster_id: cluster id.
        :param fields: fields to change.
        """
        return self._run(ops.update_cluster(cluster_id, fields))

    def terminate_cluster(self, cluster_id: int) -> Cluster:
        """Ask for a cluster to be terminated; returns it (status ``pending_terminate``).

        :param cluster_id: cluster id.
        """
        return self._run(ops.terminate_cluster(cluster_id))

    def terminate_cluster_or_expire(self, cluster_id: int) -> str | None:
        """Terminate a cluster now, or make one still provisioning (or scaling) terminate itself once idle.

        A cluster that cannot be deleted yet (``DELETE`` refused with 422 while it is ``pending``,
        ``creating`` or ``scaling``) is set to ``terminate_on_idle=True, time_to_idle=60`` and a warning
        is logged. Returns the cluster's status afterwards, ``None`` when the API does not know it.

        :param cluster_id: cluster id.
        """
        return self._follow(flows.terminate_cluster_or_expire(cluster_id))

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
        return self._run(ops.run_job(cluster_id, package_id, variables, dynamic_variables))

    def get_job(self, job_id: int, *, include: str | list[str] | None = None) -> Job:
        """Return a job.

        :param job_id: job id.
        :param include: ``cluster``, ``package``, ``log_summary`` or a list of them.
        """
        return self._run(ops.get_job(job_id, include))

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
        return self._list(ops.list_jobs(status, sort, direction, since, package_id))

    def search_jobs(self, q: str, *, sort: str | None = None, direction: str | None = None) -> Iterator[Job]:
        """Iterate over jobs matching a search query.

        :param q: search query (e.g. ``status:failed``).
        :param sort: ``id``, ``updated``, ``created`` or ``relevance``.
        :param direction: ``asc`` or ``desc``.
        """
        return self._list(ops.search_jobs(q, sort, direction))

    def stop_job(self, job_id: int) -> Job:
        """Ask for a job to stop; returns it (status ``pending_stoppage``).

        :param job_id: job id.
        """
        return self._run(ops.stop_job(job_id))

    def stop_job_and_confirm(self, job_id: int) -> str | None:
        """Stop a job; return its status afterwards, ``None`` when the API does not know it.

        A refused stop (404 or 422) is fine when the job is gone, has ended or is already being
        stopped (:meth:`~airflow_provider_xplenty.models.JobStatus.stop_settled_states`); otherwise the
        refusal is raised.

        :param job_id: job id.
        """
        return self._follow(flows.stop_job_and_confirm(job_id))

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
        return self._list(ops.list_job_children(job_id, status, sort, direction, since))

    def get_job_variables(self, job_id: int) -> dict[str, Any]:
        """Return every variable a job used (user, package and system variables).

        :param job_id: job id.
        """
        return self._run(ops.get_job_variables(job_id))

    def get_job_log(self, job_id: int) -> str:
        """Return a job's log summary text.

        :param job_id: job id.
        """
        return self._run(ops.get_job_log(job_id))

    def get_job_output(self, job_id: int, output_id: int) -> JobOutput:
        """Return one output of a job.

        :param job_id: job id.
        :param output_id: output id.
        """
        return self._run(ops.get_job_output(job_id, output_id))

    def preview_output(self, job_id: int, output_id: int) -> str:
        """Return the first lines (up to 100) of a job output.

        :param job_id: job id.
        :param output_id: output id.
        """
        return self._run(ops.preview_output(job_id, output_id))

    # -- packages ------------------------------------------------------------------------------
    def get_package(self, package_id: int) -> Package:
        """Return a package.

        :param package_id: package id.
        """
        return self._run(ops.get_package(package_id))

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
        return self._list(ops.list_packages(status, flow_type, sort, direction, since))

    def search_packages(
        self, q: str, *, sort: str | None = None, direction: str | None = None
    ) -> Iterator[Package]:
        """Iterate over packages matching a search query.

        :param q: search query (e.g. ``name:"daily rollup"``).
        :param sort: ``id``, ``updated``, ``created``, ``name`` or ``relevance``.
        :param direction: ``asc`` or ``desc``.
        """
        return self._list(ops.search_packages(q, sort, direction))

    def find_package(self, name: str) -> Package:
        """Return the one active package called ``name``, else raise an error listing candidates.

        :param name: exact package name.
        """
        return self._follow(flows.find_package(name))

    # -- schedules -----------------------------------------------------------------------------
    def create_schedule(self, **fields: Any) -> Schedule:
        """Create a schedule (not retried after a lost response: check ``list_schedules``).

        :param fields: schedule fields (``name``, ``start_at``, ``interval_amount``, ``interval_unit``,
            ``task`` ...).
        """
        return self._run(ops.create_schedule(fields))

    def get_schedule(self, schedule_id: int) -> Schedule:
        """Return a schedule.

        :param schedule_id: schedule id.
        """
        return self._run(ops.get_schedule(schedule_id))

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
        return self._list(ops.list_schedules(status, sort, direction, since))

    def update_schedule(self, schedule_id: int, **fields: Any) -> Schedule:
        """Change a schedule.

        :param schedule_id: schedule id.
        :param fields: fields to change.
        """
        return self._run(ops.update_schedule(schedule_id, fields))

    def delete_schedule(self, schedule_id: int) -> Schedule:
        """Delete a schedule; returns the deleted schedule.

        :param schedule_id: schedule id.
        """
        return self._run(ops.delete_schedule(schedule_id))

    def clone_schedule(self, schedule_id: int) -> Schedule:
        """Copy a schedule; returns the copy.

        :param schedule_id: schedule id.
        """
        return self._run(ops.clone_schedule(schedule_id))

    def run_schedule(self, schedule_id: int) -> Schedule:
        """Run a schedule now.

        :param schedule_id: schedule id.
        """
        return self._run(ops.run_schedule(schedule_id))

    # -- account -------------------------------------------------------------------------------
    def get_rate_limit_status(self) -> RateLimitStatus:
        """Return the hourly credit budget and what is left (free call)."""
        return self._run(ops.rate_limit_status())

    def test_connection(self) -> tuple[bool, str]:
        """Check the connection with the free ``rate_limit_status`` call."""
        try:
            status = self.get_rate_limit_status()
        except Exception as exc:
            return False, str(exc)
        return True, connected_message(self.config, status)

    def get_server_clock_skew(self) -> timedelta:
        """Return how far the API's clock is ahead of this machine's (negative: behind); never raises.

        One call to the free ``rate_limit_status`` endpoint: the ``Date`` header of the answer against
        the midpoint of the call. Zero when it cannot be measured or is within the header's one-second
        resolution (2 s).
        """
        try:
            return self._follow(flows.server_clock_skew())
        except Exception:
            return timedelta(0)


# --------------------------------------------------------------------------------------------
# Async hook
# --------------------------------------------------------------------------------------------
class XplentyAsyncHook(XplentyHookBase):
    """Talk to the Xplenty API with ``httpx.AsyncClient``; same methods as :class:`XplentyHook`, awaitable.

    ``list_*`` / ``search_*`` return async iterators (``async for``). The connection is read with
    ``_compat.get_async_connection`` on first use, so the hook is safe inside triggers.

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
                conn = await get_async_connection(self.xplenty_conn_id)
            except AirflowNotFoundException as exc:
                raise self._not_found(exc) from None
            self._configure(conn)
        assert self._config is not None
        return self._config

    def _get_client(self, cfg: ClientConfig) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop or self._client.is_closed:
            self._client = new_async_client(cfg)
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

    async def _drive(self, cfg: ClientConfig, plan: Plan[T]) -> T:
        """Run a plan: send its requests with ``httpx``, make its waits with ``asyncio.sleep``."""
        run = PlanRunner(plan)
        outcome: Outcome = None
        while (step := run.next_step(outcome)) is not None:
            if isinstance(step, Wait):
                await asyncio.sleep(step.seconds)
                outcome = None
            else:
                outcome = await httpx_exchange(self._get_client(cfg), cfg, step)
        return run.result

    async def _follow(self, flow: Flow[T]) -> T:
        cfg = await self.get_config()
        return await self._drive(cfg, flow(self._plans(cfg)))

    async def _run(self, op: Op[T]) -> T:
        return await self._follow(_call(op))

    async def _list(self, op: ListOp[T]) -> AsyncIterator[T]:
        cfg = await self.get_config()
        pager, plans = Pager(op.request), self._plans(cfg)
        while (page := pager.next_request()) is not None:
            for item in pager.take(await self._drive(cfg, plans.send(page))):
                yield parse_as(op.parse, op.request, item)

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
        op = ops.create_cluster(
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
        return await self._run(ops.get_cluster(cluster_id))

    def list_clusters(
        self,
        *,
        status: str | None = None,
        sort: str | None = None,
        direction: str | None = None,
        since: datetime | str | None = None,
    ) -> AsyncIterator[Cluster]:
        """Iterate over clusters (see :meth:`XplentyHook.list_clusters`)."""
        return self._list(ops.list_clusters(status, sort, direction, since))

    def search_clusters(
        self, q: str, *, sort: str | None = None, direction: str | None = None
    ) -> AsyncIterator[Cluster]:
        """Iterate over clusters matching a search query."""
        return self._list(ops.search_clusters(q, sort, direction))

    async def update_cluster(self, cluster_id: int, **fields: Any) -> Cluster:
        """Change a cluster."""
        return await self._run(ops.update_cluster(cluster_id, fields))

    async def terminate_cluster(self, cluster_id: int) -> Cluster:
        """Ask for a cluster to be terminated."""
        return await self._run(ops.terminate_cluster(cluster_id))

    async def terminate_cluster_or_expire(self, cluster_id: int) -> str | None:
        """Terminate a cluster, or make one still provisioning terminate itself once idle.

        See :meth:`XplentyHook.terminate_cluster_or_expire`.
        """
        return await self._follow(flows.terminate_cluster_or_expire(cluster_id))

    # -- jobs ----------------------------------------------------------------------------------
    async def run_job(
        self,
        cluster_id: int,
        package_id: int,
        variables: Mapping[str, Any] | None = None,
        dynamic_variables: Mapping[str, Any] | None = None,
    ) -> Job:
        """Run a package on a cluster (see :meth:`XplentyHook.run_job`)."""
        return await self._run(ops.run_job(cluster_id, package_id, variables, dynamic_variables))

    async def get_job(self, job_id: int, *, include: str | list[str] | None = None) -> Job:
        """Return a job."""
        return await self._run(ops.get_job(job_id, include))

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
        return self._list(ops.list_jobs(status, sort, direction, since, package_id))

    def search_jobs(
        self, q: str, *, sort: str | None = None, direction: str | None = None
    ) -> AsyncIterator[Job]:
        """Iterate over jobs matching a search query."""
        return self._list(ops.search_jobs(q, sort, direction))

    async def stop_job(self, job_id: int) -> Job:
        """Ask for a job to stop."""
        return await self._run(ops.stop_job(job_id))

    async def stop_job_and_confirm(self, job_id: int) -> str | None:
        """Stop a job; return its status afterwards (see :meth:`XplentyHook.stop_job_and_confirm`)."""
        return await self._follow(flows.stop_job_and_confirm(job_id))

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
        return self._list(ops.list_job_children(job_id, status, sort, direction, since))

    async def get_job_variables(self, job_id: int) -> dict[str, Any]:
        """Return every variable a job used."""
        return await self._run(ops.get_job_variables(job_id))

    async def get_job_log(self, job_id: int) -> str:
        """Return a job's log summary text."""
        return await self._run(ops.get_job_log(job_id))

    async def get_job_output(self, job_id: int, output_id: int) -> JobOutput:
        """Return one output of a job."""
        return await self._run(ops.get_job_output(job_id, output_id))

    async def preview_output(self, job_id: int, output_id: int) -> str:
        """Return the first lines of a job output."""
        return await self._run(ops.preview_output(job_id, output_id))

    # -- packages ------------------------------------------------------------------------------
    async def get_package(self, package_id: int) -> Package:
        """Return a package."""
        return await self._run(ops.get_package(package_id))

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
        return self._list(ops.list_packages(status, flow_type, sort, direction, since))

    def search_packages(
        self, q: str, *, sort: str | None = None, direction: str | None = None
    ) -> AsyncIterator[Package]:
        """Iterate over packages matching a search query."""
        return self._list(ops.search_packages(q, sort, direction))

    async def find_package(self, name: str) -> Package:
        """Return the one active package called ``name`` (see :meth:`XplentyHook.find_package`)."""
        return await self._follow(flows.find_package(name))

    # -- schedules -----------------------------------------------------------------------------
    async def create_schedule(self, **fields: Any) -> Schedule:
        """Create a schedule."""
        return await self._run(ops.create_schedule(fields))

    async def get_schedule(self, schedule_id: int) -> Schedule:
        """Return a schedule."""
        return await self._run(ops.get_schedule(schedule_id))

    def list_schedules(
        self,
        *,
        status: str | None = None,
        sort: str | None = None,
        direction: str | None = None,
        since: datetime | str | None = None,
    ) -> AsyncIterator[Schedule]:
        """Iterate over schedules."""
        return self._list(ops.list_schedules(status, sort, direction, since))

    async def update_schedule(self, schedule_id: int, **fields: Any) -> Schedule:
        """Change a schedule."""
        return await self._run(ops.update_schedule(schedule_id, fields))

    async def delete_schedule(self, schedule_id: int) -> Schedule:
        """Delete a schedule."""
        return await self._run(ops.delete_schedule(schedule_id))

    async def clone_schedule(self, schedule_id: int) -> Schedule:
        """Copy a schedule."""
        return await self._run(ops.clone_schedule(schedule_id))

    async def run_schedule(self, schedule_id: int) -> Schedule:
        """Run a schedule now."""
        return await self._run(ops.run_schedule(schedule_id))

    # -- account -------------------------------------------------------------------------------
    async def get_rate_limit_status(self) -> RateLimitStatus:
        """Return the hourly credit budget and what is left (free call)."""
        return await self._run(ops.rate_limit_status())

    async def test_connection(self) -> tuple[bool, str]:  # type: ignore[override]
        """Check the connection with the free ``rate_limit_status`` call."""
        try:
            status = await self.get_rate_limit_status()
        except Exception as exc:
            return False, str(exc)
        return True, connected_message(await self.get_config(), status)

    async def get_server_clock_skew(self) -> timedelta:
        """Return how far the API's clock is ahead of this machine's; never raises.

        See :meth:`XplentyHook.get_server_clock_skew`.
        """
        try:
            return await self._follow(flows.server_clock_skew())
        except Exception:
            return timedelta(0)
