"""The polling seam: the one function that gives a trigger its status source.

Triggers never call the API themselves: they ask :func:`get_status_source` for a
:class:`~.sources.StatusSource` and iterate over the snapshots it yields. ``[xplenty] shared_watcher``
(env ``AIRFLOW__XPLENTY__SHARED_WATCHER``, default on) chooses between the shared poller and one
``GET`` per resource per poll interval.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_xplenty._compat import conf
from airflow_provider_xplenty._waiting.shared import SharedStatusSource
from airflow_provider_xplenty._waiting.sources import PollingStatusSource, StatusSource


def shared_watching_enabled() -> bool:
    """Whether ``[xplenty] shared_watcher`` (env ``AIRFLOW__XPLENTY__SHARED_WATCHER``) is on."""
    return bool(conf.getboolean("xplenty", "shared_watcher", fallback=True))


def get_status_source(
    xplenty_conn_id: str,
    *,
    poll_interval: float,
    hook_params: dict[str, Any] | None = None,
    transient_error_timeout: float = 600.0,
    log: Any = None,
) -> StatusSource:
    """Return the status source triggers use for this connection.

    By default one list call per account per interval serves every trigger
    (:class:`~.shared.SharedStatusPoller`); with ``[xplenty] shared_watcher = False``, one ``GET`` per
    resource per interval (:class:`~.sources.PollingStatusSource`).

    :param xplenty_conn_id: the Airflow connection.
    :param poll_interval: seconds between two polls.
    :param hook_params: keyword arguments for ``XplentyAsyncHook`` (JSON primitives).
    :param transient_error_timeout: seconds of consecutive transient errors tolerated.
    :param log: where to log transient errors.
    """
    cls: type[PollingStatusSource] | type[SharedStatusSource] = (
        SharedStatusSource if shared_watching_enabled() else PollingStatusSource
    )
    return cls(
        xplenty_conn_id,
        poll_interval=poll_interval,
        hook_params=hook_params,
        transient_error_timeout=transient_error_timeout,
        log=log,
    )
