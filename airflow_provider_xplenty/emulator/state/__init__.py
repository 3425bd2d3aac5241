"""In-memory state of the emulator: accounts, objects, status machines on a clock, rate limits, log.

:class:`Store` is composed of one part per concern (see its docstring); the records and constants
are in :mod:`.records`. Never imports FastAPI.
"""

from __future__ import annotations

from airflow_provider_xplenty.emulator.clock import parse_iso
from airflow_provider_xplenty.emulator.state.records import (
    ACTIVE_JOB,
    CLUSTER_ERROR_TEXT,
    COUNTED_JOB,
    DEFAULT_JOB_FAILURE_TEXT,
    GONE_CLUSTER,
    HOOK_EVENTS,
    HOOK_TYPES,
    PROGRESS_STEPS,
    READY_CLUSTER,
    STOPPABLE_JOB,
    Account,
    ApiError,
    ClusterRec,
    Delivery,
    HookRec,
    JobRec,
    PackageRec,
    ScheduleRec,
    new_salt,
    not_found,
    signature,
    strip_expression,
)
from airflow_provider_xplenty.emulator.state.sorting import sort_filter
from airflow_provider_xplenty.emulator.state.store import Store

__all__ = [
    "ACTIVE_JOB",
    "CLUSTER_ERROR_TEXT",
    "COUNTED_JOB",
    "DEFAULT_JOB_FAILURE_TEXT",
    "GONE_CLUSTER",
    "HOOK_EVENTS",
    "HOOK_TYPES",
    "PROGRESS_STEPS",
    "READY_CLUSTER",
    "STOPPABLE_JOB",
    "Account",
    "ApiError",
    "ClusterRec",
    "Delivery",
    "HookRec",
    "JobRec",
    "PackageRec",
    "ScheduleRec",
    "Store",
    "new_salt",
    "not_found",
    "parse_iso",
    "signature",
    "sort_filter",
    "strip_expression",
]
