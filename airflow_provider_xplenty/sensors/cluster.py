"""Sensor that waits for an Xplenty cluster to reach a status."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_xplenty._waiting.task import IdArg
from airflow_provider_xplenty.exceptions import XplentyClusterEndedError
from airflow_provider_xplenty.links.xplenty import XplentyClusterLink
from airflow_provider_xplenty.models import ClusterStatus
from airflow_provider_xplenty.sensors._base import XplentyStatusSensorBase


class XplentyClusterSensor(XplentyStatusSensorBase):
    """Wait for an Xplenty cluster to reach a status (by default: ready to run jobs).

    :param cluster_id: the cluster (templated).
    :param target_statuses: statuses that end the wait successfully.
    :param failed_statuses: statuses that fail the task at once, without retries (default ``error``, plus
        ``pending_terminate``, ``terminating`` and ``terminated`` unless one of those is a target).
        Every target and failed status must be a :class:`~airflow_provider_xplenty.models.ClusterStatus`
        value (checked when the DAG is parsed).
    :param skip_without_id: skip (instead of failing) when ``cluster_id`` renders empty, e.g. read from
        a task that never learned a cluster id.
    :param xplenty_conn_id: the Airflow connection (templated).
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param hook_params: extra keyword arguments for the hooks.
    :param transient_error_timeout: seconds of consecutive transient API errors tolerated (deferred).

    Plus the ``BaseSensorOperator`` arguments: ``mode`` (``poke``/``reschedule``), ``poke_interval``
    (default 30 here), ``timeout``, ``soft_fail`` (skip instead of failing, on a timeout or a failed status).
    """

    kind = "cluster"
    id_field = "cluster_id"
    statuses = ClusterStatus
    failure_error = XplentyClusterEndedError
    template_fields: Sequence[str] = ("cluster_id", "xplenty_conn_id")
    operator_extra_links = (XplentyClusterLink(),)

    def __init__(
        self,
        *,
        cluster_id: IdArg,
        target_statuses: Sequence[str] | str = tuple(sorted(ClusterStatus.ready_states())),
        failed_statuses: Sequence[str] | str | None = None,
        **kwargs: Any,
    ) -> None:
        if failed_statuses is None:
            targets = set(self._as_list(target_statuses))
            failed: set[str] = {ClusterStatus.ERROR.value}
            if not targets & ClusterStatus.terminating_states():
                # waiting for a usable cluster: one going away will never become usable
                failed |= ClusterStatus.terminating_states()
            failed_statuses = sorted(failed - targets)
        super().__init__(target_statuses=target_statuses, failed_statuses=failed_statuses, **kwargs)
        self.cluster_id = cluster_id
