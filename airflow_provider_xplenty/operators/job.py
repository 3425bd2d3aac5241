"""Operators that run and stop Xplenty jobs.

Longer than most modules: the run-job operator carries its whole lifecycle (submit or reattach,
blocking and deferred waits, outputs, stop on kill or timeout) in one class at its documented import
path; the shared waiting machinery is in ``_waiting/``, the API flows in the hook.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_xplenty._compat import BaseOperator, ResumableJobMixin, task_state_store
from airflow_provider_xplenty._waiting.deadlines import timeout_seconds
from airflow_provider_xplenty._waiting.events import utc_iso, validate_event
from airflow_provider_xplenty._waiting.task import (
    STATUS_HISTORY_XCOM_KEY,
    IdArg,
    XplentyTaskMixin,
    api_floor,
    as_int,
    dag_run_start,
    default_deferrable,
    push,
    try_number,
)
from airflow_provider_xplenty.exceptions import (
    XplentyApiError,
    XplentyConfigError,
    XplentyError,
    XplentyJobFailedError,
    XplentyNotFoundError,
    XplentyTimeoutError,
)
from airflow_provider_xplenty.links.xplenty import HTML_URL_XCOM_KEY, XplentyJobLink
from airflow_provider_xplenty.models import JobStatus
from airflow_provider_xplenty.variables import check_known_variables, job_variables

if TYPE_CHECKING:
    from pydantic import JsonValue

    from airflow_provider_xplenty._compat import Context
    from airflow_provider_xplenty.models import Job

#: XCom keys pushed by :class:`XplentyRunJobOperator`.
JOB_ID_XCOM_KEY = "job_id"
OUTPUTS_XCOM_KEY = "outputs"
#: Longest preview text kept per output (log and XCom).
PREVIEW_MAX_CHARS = 2000
#: task_state_store key (Airflow 3.3+) holding when the first try of the task instance started.
FIRST_TRY_STARTED_KEY = "xplenty_first_try_started_at"


class XplentyRunJobOperator(ResumableJobMixin, XplentyTaskMixin, BaseOperator):
    """Run an Xplenty package as a job on a cluster and wait for it to end.

    The job id and its ``html_url`` go to XCom (keys ``job_id``, ``html_url``) as soon as the job
    exists. A ``completed`` job returns its id and its outputs (record counts, previews) are logged
    and pushed to XCom (``outputs``); ``failed`` or ``stopped`` fails the task with the job's
    ``errors`` text and its link. A retried task reattaches to the job it started before instead of
    starting another one; killing or timing out the task stops the job.

    :param cluster_id: the cluster to run on (templated).
    :param package_id: the package to run (templated); give this or ``package_name``.
    :param package_name: the name of exactly one active package (templated).
    :param variables: package variables whose values are Xplenty expressions, e.g. ``"'/in'"`` or
        ``"CurrentTime()"`` (templated). For DAG authors only: never put user input (params, conf,
        XCom from outside) here, it would run as an expression; use ``literal_variables``.
    :param literal_variables: package variables whose values are plain text, quoted and escaped by
        the provider into string literals (``O'Brien`` is sent as ``'O\\'Brien'``) (templated). The
        safe way to pass values someone typed. A name may not also be in ``variables``.
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
    :param reattach: on a retry, wait on the job a previous try started instead of starting another
        (the job id kept in ``task_state_store`` on Airflow 3.3, else a ``list_jobs`` search). This is
        also ``ResumableJobMixin``'s ``durable`` switch: one switch for one behaviour.
    :param hook_params: extra keyword arguments for the hooks (e.g. ``{"retry_limit": 3}``).
    :param transient_error_timeout: seconds of consecutive transient API errors tolerated while waiting.
    """

    template_fields: Sequence[str] = (
        "cluster_id",
        "package_id",
        "package_name",
        "variables",
        "literal_variables",
        "dynamic_variables",
        "xplenty_conn_id",
    )
    template_fields_renderers = {
        "variables": "json",
        "literal_variables": "json",
        "dynamic_variables": "json",
    }
    operator_extra_links = (XplentyJobLink(),)
    ui_color = "#d9f0ff"
    external_id_key = "xplenty_job_id"

    def __init__(
        self,
        *,
        cluster_id: IdArg,
        package_id: IdArg | None = None,
        package_name: str | None = None,
        variables: dict[str, Any] | None = None,
        literal_variables: dict[str, Any] | None = None,
        dynamic_variables: dict[str, Any] | None = None,
        xplenty_conn_id: str = "xplenty_default",
        wait_for_completion: bool = True,
        deferrable: bool = default_deferrable(),
        poll_interval: float = 30,
        timeout: float | timedelta | None = None,
        preview_outputs: bool = True,
        stop_on_kill: bool = True,
        reattach: bool = True,
        hook_params: dict[str, Any] | None = None,
        transient_error_timeout: float = 600.0,
        **kwargs: Any,
    ) -> None:
        if "durable" in kwargs:
            raise XplentyConfigError("XplentyRunJobOperator: use reattach=, not durable= (one switch)")
        super().__init__(durable=reattach, **kwargs)
        if (package_id is None) == (package_name is None):
            raise XplentyConfigError("XplentyRunJobOperator needs exactly one of package_id or package_name")
        self._init_waiting(
            xplenty_conn_id, deferrable, poll_interval, timeout, hook_params, transient_error_timeout
        )
        self.cluster_id = cluster_id
        self.package_id = package_id
        self.package_name = package_name
        # names, and the sizes and quoting of values already known: fail at DAG parse time
        check_known_variables(variables, literal_variables, dynamic_variables)
        self.variables = variables
        self.literal_variables = literal_variables
        self.dynamic_variables = dynamic_variables
        self.wait_for_completion = wait_for_completion
        self.preview_outputs = preview_outputs
        self.stop_on_kill = stop_on_kill
        self.reattach = reattach
        self.job_id: int | None = None
        self._finished_job_id: int | None = None

    # -- entry points ------------------------------------------------------------------------------
    def execute(self, context: Context) -> Any:
        """Start (or reattach to) the job, then wait for it unless ``wait_for_completion`` is off."""
        self._variables_to_send()  # rendered now: check them before any request
        return self.execute_resumable(context)

    def execute_complete(
        self, context: Context, event: dict[str, Any] | None = None, job_id: int | None = None
    ) -> int:
        """Resume after the trigger fired: validate the event and finish like the blocking path.

        :param job_id: the job the task deferred on (passed through ``defer(kwargs=...)``: the operator
            Airflow builds to resume has no ``self.job_id``); an event for another job is rejected.
        """
        expected = job_id if job_id is not None else self.job_id
        event = validate_event(event, kind="job", resource_id=expected)
        job_id = int(event["resource_id"])
        self.job_id = job_id
        history = list(event.get("history") or [])
        status = event["status"]
        if status == "success":
            return self._finish(context, self.hook.get_job(job_id), history)
        push(context, STATUS_HISTORY_XCOM_KEY, history)
        if status == "failed":
            return self._finish(context, self.hook.get_job(job_id), history)
        if status == "timeout":
            link = event.get("html_url") or self._link(job_id)
            if event["reason"] == "execution_timeout" and not self.stop_on_kill:
                # like a worker's execution_timeout: on_kill leaves the job alone without stop_on_kill
                raise XplentyTimeoutError(
                    f"{event['message']}; the job keeps running (stop_on_kill=False). See {link}"
                )
            stopped = bool(event.get("stopped")) or self._stop_job(f"{event['reason']} while deferred")
            return self._after_timeout(context, job_id, history, str(event["message"]), stopped, link)
        raise XplentyError(f"{event['message']}. {self._after_error(context, job_id)}")

    def on_kill(self) -> None:
        """Stop the job when the task is killed or hits ``execution_timeout`` while running in a worker."""
        if self.stop_on_kill and self.job_id is not None:
            self._stop_job("task killed")

    # -- ResumableJobMixin -------------------------------------------------------------------------
    def submit_job(self, context: Context) -> JsonValue:
        """Start the job, or adopt the one a previous try of this task started."""
        variables = self._variables_to_send()
        cluster_id = as_int(self.cluster_id, "cluster_id")
        package_id = self._resolve_package_id()
        store = task_state_store(context)
        if store is not None and store.get(FIRST_TRY_STARTED_KEY) is None:
            store.set(FIRST_TRY_STARTED_KEY, self._this_try_started(context).isoformat())
        # With the 3.3 store, the mixin already decided about a stored job; search only when none was
        # stored (e.g. the worker was lost between creating the job and storing its id).
        nothing_stored = store is None or store.get(self.external_id_key) is None
        if self.reattach and nothing_stored and try_number(context) > 1:
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
            cluster_id, package_id, variables=variables, dynamic_variables=self.dynamic_variables
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
            return str(self.hook.get_job(as_int(external_id, "job id")).status)
        except XplentyNotFoundError:
            return "not_found"

    def is_job_active(self, status: str) -> bool:
        """Whether a retry may wait on a job in this status: it runs or will run.

        A job being stopped (``pending_stoppage``/``stopping``, e.g. by the timeout of an earlier try
        or by a user clearing the task) will end ``stopped``: waiting on it would waste the retry.
        Unknown statuses count as active.
        """
        if status == "not_found" or status in JobStatus.terminal_states():
            return False
        return status in JobStatus.stoppable_states() or status not in JobStatus.active_states()

    def is_job_succeeded(self, status: str) -> bool:
        """Whether the job completed."""
        return status in JobStatus.success_states()

    def poll_until_complete(self, external_id: JsonValue, context: Context) -> Any:
        """Wait for the job (in the worker or, when deferrable, in the triggerer); return its id."""
        job_id = as_int(external_id, "job id")
        job = self.hook.get_job(job_id)
        self._remember(context, job)
        history = [{"status": job.status, "at": utc_iso()}]
        if not self.wait_for_completion:
            self.log.info("Not waiting for Xplenty job %s (%s)", job_id, job.status)
            push(context, STATUS_HISTORY_XCOM_KEY, history)
            self._finished_job_id = job_id
            return job_id
        if job.is_terminal:
            return self._finish(context, job, history)
        self.log.info("Waiting for Xplenty job %s (%s): %s", job_id, job.status, job.html_url)
        try:
            event = self._wait_or_defer(
                context,
                kind="job",
                resource_id=job_id,
                target_statuses=JobStatus.success_states(),
                failed_statuses=JobStatus.failed_states(),
                history=history,
                poll_interval=self.poll_interval,
                trigger_extra={"stop_on_timeout": True, "stop_on_kill": self.stop_on_kill},
            )
        except XplentyError as error:
            # the blocking wait gave up on API errors: say what happens to the job, as a deferred task does
            # (TaskDeferred is a BaseException and passes through)
            push(context, STATUS_HISTORY_XCOM_KEY, history)
            raise XplentyError(
                f"Error while waiting for Xplenty job {job_id}: {error}. {self._after_error(context, job_id)}"
            ) from error
        if event["status"] == "timeout":
            push(context, STATUS_HISTORY_XCOM_KEY, history)
            stopped = self._stop_job("timeout")
            link = job.html_url or self._link(job_id)
            return self._after_timeout(context, job_id, history, str(event["message"]), stopped, link)
        return self._finish(context, self.hook.get_job(job_id), history)

    def get_job_result(self, external_id: JsonValue, context: Context) -> Any:
        """Return the job id; for a job a previous try saw complete, report its outputs first."""
        job_id = as_int(external_id, "job id")
        if self._finished_job_id == job_id:
            return job_id
        job = self.hook.get_job(job_id)
        self._remember(context, job)
        return self._finish(context, job, [{"status": job.status, "at": utc_iso()}])

    # -- helpers -----------------------------------------------------------------------------------
    def _variables_to_send(self) -> Any:
        """The rendered ``variables`` plus ``literal_variables`` quoted; names and sizes checked."""
        return job_variables(self.variables, self.literal_variables, self.dynamic_variables)

    @staticmethod
    def _this_try_started(context: Context) -> datetime:
        start = getattr(context.get("ti"), "start_date", None)
        return start if isinstance(start, datetime) else datetime.now(timezone.utc)

    def _resolve_package_id(self) -> int:
        """The package to run; one given by id is read first (one GET): an archived one is refused."""
        if self.package_id is not None and str(self.package_id).strip():
            package_id = as_int(self.package_id, "package_id")
            package = self.hook.get_package(package_id)
            if package.status not in (None, "active"):
                raise XplentyConfigError(
                    f"package_id {package_id} ({package.name!r}) is {package.status}, not active: "
                    f"no job was started. Restore the package in Xplenty or run an active one. "
                    f"See {package.html_url}"
                )
            return package_id
        if not self.package_name:
            raise XplentyConfigError("XplentyRunJobOperator needs package_id or package_name")
        package = self.hook.find_package(str(self.package_name))
        self.log.info("Package %r is package %s", self.package_name, package.id)
        self.package_id = package.id
        return package.id

    def _search_since(self, context: Context) -> datetime | None:
        """Since when (on the API's clock) a job of an earlier try of this task instance can exist.

        The first try's start (kept in ``task_state_store`` on Airflow 3.3), else the DAG run's start,
        both on Airflow's clock, moved to the API's clock by the skew measured from the ``Date`` header
        (:func:`api_floor`), less a small margin. There is no upper bound: an API clock running ahead
        would push this task's own job past it, and the earliest match wins anyway.
        """
        since: datetime | None = None
        store = task_state_store(context)
        if store is not None:
            stored = store.get(FIRST_TRY_STARTED_KEY)
            if isinstance(stored, str):
                since = datetime.fromisoformat(stored)
        if since is None:
            since = dag_run_start(context)
        return None if since is None else api_floor(self.hook, since)

    def _find_previous_job(
        self, context: Context, cluster_id: int, package_id: int, variables: Any
    ) -> Job | None:
        """Find the job an earlier try of this task instance started and that a retry may adopt.

        Same cluster, package, variables as sent (``literal_variables`` quoted) and dynamic variables
        (compared as the API stores them), created since :meth:`_search_since`, still running or
        completed. Of several, the earliest created: the other candidates were started later, by
        other task instances.
        """
        from airflow_provider_xplenty.hooks.xplenty import job_matches

        since = self._search_since(context)
        if since is None:
            return None
        candidates: list[Job] = []
        jobs: Iterable[Job] = self.hook.list_jobs(
            package_id=package_id, since=since, sort="created", direction="desc"
        )
        for job in jobs:
            if job.created_at is not None and job.created_at < since:
                break
            if not job_matches(job, cluster_id, package_id, variables, self.dynamic_variables):
                continue
            if self.is_job_active(job.status) or self.is_job_succeeded(job.status):
                candidates.append(job)
        return candidates[-1] if candidates else None

    def _remember(self, context: Context, job: Job) -> None:
        self.job_id = job.id
        push(context, JOB_ID_XCOM_KEY, job.id)
        push(context, HTML_URL_XCOM_KEY, job.html_url)

    def _link(self, job_id: int) -> str:
        return f"Xplenty job {job_id}"

    def _after_error(self, context: Context, job_id: int) -> str:
        """What happens to the job after an ``error`` event, as it really is for this task."""
        link = self._link(job_id)
        try:
            job = self.hook.get_job(job_id)
        except XplentyNotFoundError:
            return f"The API does not know {link} (404); nothing is left running."
        except XplentyApiError as error:
            return f"Its state is unknown ({error.message}); check {link}."
        except Exception as error:
            return f"Its state is unknown ({error}); check {link}."
        link = job.html_url or link
        if job.is_terminal:
            return f"The job is {job.status}. See {link}"
        ti = context.get("ti")
        retried = ti is not None and try_number(context) <= int(getattr(ti, "max_tries", 0) or 0)
        if self.reattach and retried:
            return (
                f"The job is {job.status} and keeps running; the retry of this task waits on it. See {link}"
            )
        return f"The job is {job.status} and keeps running (no retry will wait on it). See {link}"

    def _finish(self, context: Context, job: Job, history: list[dict[str, Any]]) -> int:
        if not history or history[-1]["status"] != job.status:
            history.append({"status": job.status, "at": utc_iso()})
        push(context, STATUS_HISTORY_XCOM_KEY, history)
        self._finished_job_id = job.id
        if job.is_successful:
            outputs = self._report_outputs(job)
            push(context, OUTPUTS_XCOM_KEY, outputs)
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

    def _stop_job(self, why: str) -> bool:
        """Ask Xplenty to stop the job; return whether it is stopping or already ended (never raises)."""
        if self.job_id is None:
            return False
        self.log.warning("Stopping Xplenty job %s (%s)", self.job_id, why)
        try:
            status = self.hook.stop_job_and_confirm(self.job_id)
        except Exception:
            self.log.exception("Could not stop Xplenty job %s", self.job_id)
            return False
        self.log.info("Xplenty job %s is now %s", self.job_id, status or "unknown to the API (404)")
        return True

    def _after_timeout(
        self,
        context: Context,
        job_id: int,
        history: list[dict[str, Any]],
        message: str,
        stopped: bool,
        link: str,
    ) -> int:
        """Report a job whose deadline passed as it really is: read it again after the stop.

        A job that ended by itself as the deadline passed (the stop came too late) is reported like
        any ended job: ``completed`` succeeds, ``failed`` fails with its errors. Otherwise the task
        fails with the timeout, saying whether the job was stopped.
        """
        try:
            job: Job | None = self.hook.get_job(job_id)
        except Exception as error:
            self.log.warning("Could not read Xplenty job %s after its timeout: %s", job_id, error)
            job = None
        if job is not None and job.is_terminal and job.status != JobStatus.STOPPED.value:
            self.log.warning("Xplenty job %s %s by itself as the deadline passed", job_id, job.status)
            return self._finish(context, job, history)
        status = None if job is None else job.status
        raise XplentyTimeoutError(f"{message}; {self._stopped_text(stopped, link, status)}")

    def _stopped_text(self, stopped: bool, link: str, status: str | None = None) -> str:
        if stopped and (status is None or status in JobStatus.stop_settled_states()):
            return f"the job was stopped{f' ({status})' if status else ''}. See {link}"
        return f"the job could NOT be stopped and may still be running; stop it by hand: {link}"


class XplentyStopJobOperator(XplentyTaskMixin, BaseOperator):
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
        job_id: IdArg,
        xplenty_conn_id: str = "xplenty_default",
        wait_for_stop: bool = True,
        poll_interval: float = 5,
        timeout: float | timedelta | None = 600,
        hook_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_id = job_id
        self._init_waiting(xplenty_conn_id, False, poll_interval, timeout, hook_params, 600.0)
        self.wait_for_stop = wait_for_stop

    def execute(self, context: Context) -> str:
        """Stop the job and return its final (or current, when not waiting) status."""
        job_id = as_int(self.job_id, "job_id")
        job = self.hook.get_job(job_id)
        push(context, HTML_URL_XCOM_KEY, job.html_url)
        if job.is_terminal:
            self.log.info("Xplenty job %s already ended (%s); nothing to stop", job_id, job.status)
            return job.status
        status = self.hook.stop_job_and_confirm(job_id)
        if status is None:
            self.log.info("Xplenty job %s no longer exists; nothing to stop", job_id)
            return "not_found"
        self.log.info("Asked Xplenty to stop job %s: %s", job_id, status)
        if not self.wait_for_stop or status in JobStatus.terminal_states():
            return status
        from airflow_provider_xplenty._waiting.blocking import wait_sync

        seconds = timeout_seconds(self.timeout)
        event, _snap = wait_sync(
            hook=self.hook,
            kind="job",
            resource_id=job_id,
            target_statuses=JobStatus.terminal_states(),
            failed_statuses=(),
            poll_interval=self.poll_interval,
            end_time=None if seconds is None else time.time() + seconds,
            history=[{"status": status, "at": utc_iso()}],
            log=self.log,
        )
        if event["status"] == "timeout":
            raise XplentyTimeoutError(event["message"])
        return str(event["xplenty_status"])
