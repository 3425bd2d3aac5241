"""Apache Airflow provider for the Xplenty (Integrate.io ETL) API.

Provider metadata lives in :mod:`airflow_provider_xplenty.get_provider_info` (the
``apache_airflow_provider`` entry point points at its ``get_provider_info`` function).
"""

from __future__ import annotations

__version__ = "0.1.0"
