"""Moved to :mod:`airflow_provider_xplenty._waiting`; these names stay importable from here."""

from __future__ import annotations

from airflow_provider_xplenty._waiting.events import ResourceKind, StatusSnapshot, snapshot_of
from airflow_provider_xplenty._waiting.seam import get_status_source, shared_watching_enabled
from airflow_provider_xplenty._waiting.shared import SharedStatusPoller, SharedStatusSource
from airflow_provider_xplenty._waiting.sources import (
    PollingStatusSource,
    StatusSource,
    SyncPollingStatusSource,
)
from airflow_provider_xplenty._waiting.transient import TransientErrors, is_transient

__all__ = [
    "PollingStatusSource",
    "ResourceKind",
    "SharedStatusPoller",
    "SharedStatusSource",
    "StatusSnapshot",
    "StatusSource",
    "SyncPollingStatusSource",
    "TransientErrors",
    "get_status_source",
    "is_transient",
    "shared_watching_enabled",
    "snapshot_of",
]
