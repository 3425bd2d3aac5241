"""Operators that run and stop Xplenty jobs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_xplenty.exceptions import (
    XplentyApiError,
    XplentyConfigError,
    XplentyError,
    XplentyJobFailedError,
    XplentyTimeoutError,
)
from airflow_provider_xplenty.hooks.xplenty import XplentyHook
from airflow_provider_xplenty.links.xplenty import HTML_URL_XCOM_KEY, XplentyJobLink
from airflow_provider_xplenty.models import Job, JobStatus
from airflow_provider_xplenty.triggers.xplenty import (
    XplentyJobTrigger,
    default_deferrable,
    timeout_seconds,
    utc_iso,
    validate_event,
    wait_sync,
    wall_clock_deadlines,
)

if TYPE_CHECKING:
    from airflow.sdk import Context
    from pydantic import JsonValue

#: XCom keys pushed by :class:`XplentyRunJobOperator`.
JOB_ID_XCOM_KEY = "job_id"
STATUS_HISTORY_XCOM_KEY = "status_history"
OUTPUTS_XCOM_KEY = "outputs"
#: Longest preview text kept per output (log and XCom).
PREVIEW_MAX_CHARS = 2000


class _ResumableJobFallback:
    """Airflow 3.2 stand-in for ``airflow.sdk.ResumableJobMixin`` (no ``task_state_store`` there).

    The operator's ``submit_job`` looks for the job a previous try started (``list_jobs``), so the
    no-duplicate guarantee holds without the store.
    """

    external_id_key: str = "remote_job_id"

    def __init__(self, *, durable: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.durable = durable

    def execute_resumable(self, context: Context) -> Any:
        external_id = self.submit_job(context)  # type: ignore[attr-defined]
        self.poll_until_complete(external_id, context)  # type: ignore[attr-defined]
        return self.get_job_result(external_id, context)  # type: ignore[attr-defined]


try:
    from airflow.sdk import ResumableJobMixin  # type: ignore[attr-defined]  # Airflow 3.3+
except ImportError:  # Airflow 3.2: same guarantee through the list_jobs search in submit_job
    ResumableJobMixin = _ResumableJobFallback  # type: ignore[misc,assignment]


def _push(context: Context | dict[str, Any], key: str, value: Any) -> None:
    ti = context.get("ti")
    if ti is not None:
        ti.xcom_push(key=key, value=value)


def _as_int(value: Any, what: str) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        raise XplentyConfigError(f"{what} must be an integer id, got {value!r}") from None


class XplentyRunJobOperator(ResumableJobMixin, BaseOperator):
    """Run an Xplenty package as a job on a cluster and wait for it to end.

    The job id and its ``html_url`` go to XCom (keys ``job_id``, ``html_url``) as soon as the job
    exists. A ``completed`` job returns its id and its outputs (record counts, previews) are logged
    and pushed to XCom (``outputs``); ``failed`` or ``stopped`` fails the task with the job's
    ``errors`` text and its link. A retried task reattaches to the job it started before instead of
    starting another one; killing or timing out the task stops the job.

    :param cluster_id: the cluster to run on (templated).
    :param package_id: the package to run (templated); give this or ``package_name``.
    :param package_name: the name of exactly one active package (templated).
    :param variables: package variables, values are expressions such as ``"'/in'"`` (templated).
    :param dynamic_variables: variables evaluated at run time, e.g. ``"CurrentTime()"`` (templated).
    :param xplenty_conn_id: the Airflow connection (templated).
    :param wait_for_completion: wait for the job to end; ``False`` returns the job id at once.
    :param deferrable: wait in the triggerer instead of a worker slot
        (default ``[operators] default_deferrable``).
    :param poll_interval: seconds between two status checks.
    :param timeout: longest wait for the job (seconds or timedelta); on expiry the job is stopped
        and the task fails. ``None`` waits forever (``execution_timeout`` still applies).
    :param preview_outputs: fetch, log and push a preview of each output when the job completed.
    :param stop_on_kill: stop the job when the task is killed (worker ``on_kill``, trigger ``on_kill``).
    :param reattach: on a retry, wait on the job a previous try started instead of starting another.
    :param durable: Airflow 3.3 ``ResumableJobMixin`` switch: keep the job id in ``task_state_store``.
    :param hook_params: extra keyword arguments for the hooks (e.g. ``{"retry_limit": 3}``).
    :param transient_error_timeout: seconds of consecutive transient API errors tolerated while waiting.
    """

    template_fields: Sequence[str] = (
        "cluster_id",
        "package_id",
        "package_name",
        "variables",
        "dynamic_variables",
        "xplenty_conn_id",
    )
    template_fields_renderers = {"variables": "json", "dynamic_variables": "json"}
    operator_extra_links = (XplentyJobLink(),)
    ui_color = "#d9f0ff"
    external_id_key = "xplenty_job_id"

    def __init__(
        self,
        *,
        cluster_id: int | str,
        package_id: int | str | None = None,
        package_name: str | None = None,
        variables: dict[str, Any] | None = None,
        dynamic_variables: dict[str, Any] | None = None,
        xplenty_conn_id: str = "xplenty_default",
        wait_for_completion: bool = True,
        deferrable: bool = default_deferrable(),
        poll_interval: float = 30,
        timeout: float | timedelta | None = None,
        preview_outputs: bool = True,
        stop_on_kill: bool = True,
        reattach: bool = True,
        durable: bool = True,
        hook_params: dict[str, Any] | None = None,
        transient_error_timeout: float = 600.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(durable=durable, **kwargs)
        if (package_id is None) == (package_name is None):
            raise XplentyConfigError("XplentyRunJobOperator needs exactly one of package_id or package_name")
        if poll_interval <= 0:
            raise XplentyConfigError("poll_interval must be positive")
        self.cluster_id = cluster_id
        self.package_id = package_id
        self.package_name = package_name
        self.variables = variables
        self.dynamic_variables = dynamic_variables
        self.xplenty_conn_id = xplenty_conn_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = float(poll_interval)
        self.timeout = timeout
        self.preview_outputs = preview_outputs
        self.stop_on_kill = stop_on_kill
        self.reattach = reattach
        self.hook_params = dict(hook_params or {})
        self.transient_error_timeout = transient_error_timeout
        self.job_id: int | None = None
        self._finished_job_id: int | None = None

    @cached_property
    def hook(self) -> XplentyHook:
        """The sync hook (built on first use, never at DAG parse time)."""
        return XplentyHook(self.xplenty_conn_id, **self.hook_params)

    # -- entry points ------------------------------------------------------------------------------
    def execute(self, context: Context) -> Any:
        """Start (or reattach to) the job, then wait for it unless ``wait_for_completion`` is off."""
        return self.execute_resumable(context)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> int:
        """Resume after the trigger fired: validate the event and finish like the blocking path."""
        event = validate_event(event, kind="job", resource_id=self.job_id)
        job_id = int(event["resource_id"])
        self.job_id = job_id
        history = list(event.get("history") or [])
        status = event["status"]
        if status == "success":
            return self._finish(context, self.hook.get_job(job_id), history)
        _push(context, STATUS_HISTORY_XCOM_KEY, history)
        if status == "failed":
            return self._finish(context, self.hook.get_job(job_id), history)
        if status == "timeout":
            if not event.get("stopped"):
                self._stop_job(f"{event['reason']} while deferred")
            raise XplentyTimeoutError(
                f"{event['message']}; the job was stopped. See {event.get('html_url') or self._link(job_id)}"
            )
        raise XplentyError(
            f"{event['message']}. The job keeps running; a retry of this task waits on it again "
            f"(no new job). See {event.get('html_url') or self._link(job_id)}"
        )

    def on_kill(self) -> None:
        """Stop the job when the task is killed or hits ``execution_timeout`` while running in a worker."""
        if self.stop_on_kill and self.job_id is not None:
            self._stop_job("task killed")

    # -- ResumableJobMixin -------------------------------------------------------------------------
    def submit_job(self, context: Context) -> JsonValue:
        """Start the job, or adopt the one a previous try of this task started."""
        cluster_id = _as_int(self.cluster_id, "cluster_id")
        package_id = self._resolve_package_id()
        variables = self._clean_vars(self.variables)
        if self.reattach and self._try_number(context) > 1:
            previous = self._find_previous_job(context, cluster_id, package_id, variables)
            if previous is not None:
                self.log.info(
                    "Reattaching to Xplenty job %s (%s) started by an earlier try of this task",
                    previous.id,
                    previous.status,
                )
                self._remember(context, previous)
                return previous.id
        job = self.hook.run_job(
            cluster_id,
            package_id,
            variables=variables or None,
            dynamic_variables=self._clean_vars(self.dynamic_variables) or None,
        )
        self.log.info(
            "Started Xplenty job %s (package %s on cluster %s): %s",
            job.id,
            package_id,
            cluster_id,
            job.html_url,
        )
        self._remember(context, job)
        return job.id

    def get_job_status(self, external_id: JsonValue, context: Context) -> str:
        """Return the job's status, or ``"not_found"`` when the API no longer knows it."""
        try:
            return str(self.hook.get_job(_as_int(external_id, "job id")).status)
        except XplentyApiError as error:
            if error.status_code == 404:
                return "not_found"
            raise

    def is_job_active(self, status: str) -> bool:
        """Whether a job in this status has not ended yet (unknown statuses count as active)."""
        return status != "not_found" and status not in JobStatus.terminal_states()

    def is_job_succeeded(self, status: str) -> bool:
        """Whether the job completed."""
        return status in JobStatus.success_states()

    def poll_until_complete(self, external_id: JsonValue, context: Context) -> Any:
        """Wait for the job (in the worker or, when deferrable, in the triggerer); return its id."""
        job_id = _as_int(external_id, "job id")
        job = self.hook.get_job(job_id)
        self._remember(context, job)
        history = [{"status": job.status, "at": utc_iso()}]
        if not self.wait_for_completion:
            self.log.info("Not waiting for Xplenty job %s (%s)", job_id, job.status)
            _push(context, STATUS_HISTORY_XCOM_KEY, history)
            self._finished_job_id = job_id
            return job_id
        if job.is_terminal:
            return self._finish(context, job, history)
        end_time, execution_deadline = wall_clock_deadlines(context, self.timeout, self.execution_timeout)
        self.log.info("Waiting for Xplenty job %s (%s): %s", job_id, job.status, job.html_url)
        if self.deferrable:
            self.defer(
                trigger=XplentyJobTrigger(
                    job_id=job_id,
                    xplenty_conn_id=self.xplenty_conn_id,
                    poll_interval=self.poll_interval,
                    end_time=end_time,
                    execution_deadline=execution_deadline,
                    history=history,
                    stop_on_timeout=True,
                    stop_on_kill=self.stop_on_kill,
                    hook_params=self.hook_params,
                    transient_error_timeout=self.transient_error_timeout,
                ),
                method_name="execute_complete",
                timeout=None,
            )
        event, _snap = wait_sync(
            hook=self.hook,
            kind="job",
            resource_id=job_id,
            target_statuses=JobStatus.success_states(),
            failed_statuses=JobStatus.failed_states(),
            poll_interval=self.poll_interval,
            end_time=end_time,
            history=history,
            log=self.log,
            transient_error_timeout=self.transient_error_timeout,
        )
        if event["status"] == "timeout":
            _push(context, STATUS_HISTORY_XCOM_KEY, history)
            self._stop_job("timeout")
            raise XplentyTimeoutError(f"{event['message']}; the job was stopped. See {job.html_url}")
        return self._finish(context, self.hook.get_job(job_id), history)

    def get_job_result(self, external_id: JsonValue, context: Context) -> Any:
        """Return the job id; for a job a previous try saw complete, report its outputs first."""
        job_id = _as_int(external_id, "job id")
        if self._finished_job_id == job_id:
            return job_id
        job = self.hook.get_job(job_id)
        self._remember(context, job)
        return self._finish(context, job, [{"status": job.status, "at": utc_iso()}])

    # -- helpers -----------------------------------------------------------------------------------
    @staticmethod
    def _clean_vars(values: dict[str, Any] | None) -> dict[str, Any]:
        if values is None:
            return {}
        if not isinstance(values, dict):
            raise XplentyConfigError(f"variables must be a dict, got {type(values).__name__}")
        return {str(k): v for k, v in values.items()}

    @staticmethod
    def _try_number(context: Context) -> int:
        ti = context.get("ti")
        return int(getattr(ti, "try_number", 1) or 1)

    def _resolve_package_id(self) -> int:
        if self.package_id is not None and str(self.package_id).strip():
            return _as_int(self.package_id, "package_id")
        if not self.package_name:
            raise XplentyConfigError("XplentyRunJobOperator needs package_id or package_name")
        package = self.hook.find_package(str(self.package_name))
        self.log.info("Package %r is package %s", self.package_name, package.id)
        self.package_id = package.id
        return package.id

    def _find_previous_job(
        self, context: Context, cluster_id: int, package_id: int, variables: dict[str, Any]
    ) -> Job | None:
        """Find a job an earlier try started: same package, cluster and variables, since the run began."""
        dag_run = context.get("dag_run")
        since = getattr(dag_run, "start_date", None) or getattr(dag_run, "run_after", None)
        if not isinstance(since, datetime):
            return None
        since = since - timedelta(seconds=5)
        for job in self.hook.list_jobs(package_id=package_id, since=since, sort="created", direction="desc"):
            if job.created_at is not None and job.created_at < since:
                break
            if job.package_id not in (None, package_id) or job.cluster_id != cluster_id:
                continue
            if {str(k): v for k, v in (job.variables or {}).items()} != variables:
                continue
            if self.is_job_active(job.status) or self.is_job_succeeded(job.status):
                return job
        return None

    def _remember(self, context: Context, job: Job) -> None:
        self.job_id = job.id
        _push(context, JOB_ID_XCOM_KEY, job.id)
        _push(context, HTML_URL_XCOM_KEY, job.html_url)

    def _link(self, job_id: int) -> str:
        return f"Xplenty job {job_id}"

    def _finish(self, context: Context, job: Job, history: list[dict[str, Any]]) -> int:
        if not history or history[-1]["status"] != job.status:
            history.append({"status": job.status, "at": utc_iso()})
        _push(context, STATUS_HISTORY_XCOM_KEY, history)
        self._finished_job_id = job.id
        if job.is_successful:
            outputs = self._report_outputs(job)
            _push(context, OUTPUTS_XCOM_KEY, outputs)
            self.log.info("Xplenty job %s completed in %ss: %s", job.id, job.runtime_in_seconds, job.html_url)
            return job.id
        errors = (job.errors or "").strip() or "no error text given by the API"
        raise XplentyJobFailedError(f"Xplenty job {job.id} {job.status}: {errors}. See {job.html_url}")

    def _report_outputs(self, job: Job) -> list[dict[str, Any]]:
        reported: list[dict[str, Any]] = []
        for output in job.outputs:
            item: dict[str, Any] = {
                "id": output.id,
                "name": output.name,
                "records_count": output.records_count,
                "preview": None,
            }
            if self.preview_outputs:
                try:
                    item["preview"] = self.hook.preview_output(job.id, output.id)[:PREVIEW_MAX_CHARS]
                except XplentyError as error:
                    self.log.warning("Could not preview output %s of job %s: %s", output.id, job.id, error)
            self.log.info(
                "Output %s (%s): %s records%s",
                output.id,
                output.name,
                output.records_count,
                f"\n{item['preview']}" if item["preview"] else "",
            )
            reported.append(item)
        return reported

    def _stop_job(self, why: str) -> None:
        if self.job_id is None:
            return
        self.log.warning("Stopping Xplenty job %s (%s)", self.job_id, why)
        try:
            job = self.hook.stop_job(self.job_id)
            self.log.info("Xplenty job %s is now %s", self.job_id, job.status)
        except XplentyApiError as error:
            if error.status_code in (404, 422):
                self.log.info("Xplenty job %s was not stopped: %s", self.job_id, error.message)
            else:
                self.log.exception("Could not stop Xplenty job %s", self.job_id)
        except Exception:
            self.log.exception("Could not stop Xplenty job %s", self.job_id)


class XplentyStopJobOperator(BaseOperator):
    """Stop an Xplenty job; a job that already ended is left as it is (success).

    :param job_id: the job to stop (templated).
    :param xplenty_conn_id: the Airflow connection (templated).
    :param wait_for_stop: wait until the job is ``stopped`` (or otherwise ended).
    :param poll_interval: seconds between two status checks while waiting.
    :param timeout: longest wait (seconds or timedelta).
    :param hook_params: extra keyword arguments for the hook.
    """

    template_fields: Sequence[str] = ("job_id", "xplenty_conn_id")
    operator_extra_links = (XplentyJobLink(),)
    ui_color = "#ffd9d9"

    def __init__(
        self,
        *,
        job_id: int | str,
        xplenty_conn_id: str = "xplenty_default",
        wait_for_stop: bool = True,
        poll_interval: float = 5,
        timeout: float | timedelta | None = 600,
        hook_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_id = job_id
        self.xplenty_conn_id = xplenty_conn_id
        self.wait_for_stop = wait_for_stop
        self.poll_interval = float(poll_interval)
        self.timeout = timeout
        self.hook_params = dict(hook_params or {})

    @cached_property
    def hook(self) -> XplentyHook:
        """The sync hook (built on first use)."""
        return XplentyHook(self.xplenty_conn_id, **self.hook_params)

    def execute(self, context: Context) -> str:
        """Stop the job and return its final (or current, when not waiting) status."""
        job_id = _as_int(self.job_id, "job_id")
        job = self.hook.get_job(job_id)
        _push(context, HTML_URL_XCOM_KEY, job.html_url)
        if job.is_terminal:
            self.log.info("Xplenty job %s already ended (%s); nothing to stop", job_id, job.status)
            return job.status
        try:
            job = self.hook.stop_job(job_id)
        except XplentyApiError as error:
            if error.status_code != 422:
                raise
            job = self.hook.get_job(job_id)
            if not job.is_terminal and job.status not in ("pending_stoppage", "stopping"):
                raise
        self.log.info("Asked Xplenty to stop job %s: %s", job_id, job.status)
        if not self.wait_for_stop or job.is_terminal:
            return job.status
        seconds = timeout_seconds(self.timeout)
        event, _snap = wait_sync(
            hook=self.hook,
            kind="job",
            resource_id=job_id,
            target_statuses=JobStatus.terminal_states(),
            failed_statuses=(),
            poll_interval=self.poll_interval,
            end_time=None if seconds is None else wall_clock_deadlines(context, seconds, None)[0],
            history=[{"status": job.status, "at": utc_iso()}],
            log=self.log,
        )
        if event["status"] == "timeout":
            raise XplentyTimeoutError(event["message"])
        return str(event["xplenty_status"])
