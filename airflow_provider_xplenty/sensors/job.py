"""Sensor that waits for an Xplenty job to end."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_xplenty._waiting.task import IdArg
from airflow_provider_xplenty.exceptions import XplentyJobEndedError
from airflow_provider_xplenty.links.xplenty import XplentyJobLink
from airflow_provider_xplenty.models import JobStatus
from airflow_provider_xplenty.sensors._base import XplentyStatusSensorBase


class XplentyJobSensor(XplentyStatusSensorBase):
    """Wait for an Xplenty job to complete; ``failed``/``stopped`` fail the task with the job's errors.

    :param job_id: the job (templated), e.g. ``"{{ ti.xcom_pull('run_job', key='job_id') }}"``.
    :param target_statuses: statuses that end the wait successfully (default ``completed``).
    :param failed_statuses: statuses that fail the task at once, without retries (default ``failed``,
        ``stopped``): looking again cannot change how the job ended. Every target and failed status must be
        a :class:`~airflow_provider_xplenty.models.JobStatus` value (checked when the DAG is parsed).
    :param skip_without_id: skip (instead of failing) when ``job_id`` renders empty.
    :param xplenty_conn_id: the Airflow connection (templated).
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param hook_params: extra keyword arguments for the hooks.
    :param transient_error_timeout: seconds of consecutive transient API errors tolerated (deferred).

    Plus the ``BaseSensorOperator`` arguments: ``mode`` (``poke``/``reschedule``), ``poke_interval``
    (default 30 here), ``timeout``, ``soft_fail`` (skip instead of failing, on a timeout or a failed status).
    """

    kind = "job"
    id_field = "job_id"
    statuses = JobStatus
    failure_error = XplentyJobEndedError
    template_fields: Sequence[str] = ("job_id", "xplenty_conn_id")
    operator_extra_links = (XplentyJobLink(),)

    def __init__(
        self,
        *,
        job_id: IdArg,
        target_statuses: Sequence[str] | str = tuple(sorted(JobStatus.success_states())),
        failed_statuses: Sequence[str] | str | None = None,
        **kwargs: Any,
    ) -> None:
        if failed_statuses is None:
            failed_statuses = sorted(JobStatus.failed_states() - set(self._as_list(target_statuses)))
        super().__init__(target_statuses=target_statuses, failed_statuses=failed_statuses, **kwargs)
        self.job_id = job_id

    def _trigger_extra(self) -> dict[str, Any]:
        # A sensor only watches: it never stops the job it did not start.
        return {"stop_on_timeout": False, "stop_on_kill": False}
