"""Apache Airflow provider for the Xplenty (Integrate.io ETL) API."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def get_provider_info() -> dict[str, Any]:
    """Return provider metadata for Airflow's ProvidersManager."""
    from airflow_provider_xplenty.get_provider_info import get_provider_info as _info

    return _info()
