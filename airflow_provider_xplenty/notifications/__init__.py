"""Notifiers for DAGs that run Xplenty jobs."""

from __future__ import annotations

from airflow_provider_xplenty.notifications.smtp import XplentySmtpNotifier

__all__ = ["XplentySmtpNotifier"]
