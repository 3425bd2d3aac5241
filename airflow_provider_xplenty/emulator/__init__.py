"""A local emulator of the Xplenty REST API (FastAPI on uvicorn), for offline tests and demos.

Start it with ``python -m airflow_provider_xplenty.emulator`` or, in Python, with
:class:`airflow_provider_xplenty.testing.EmulatorServer`. Never imports Airflow.
"""

from __future__ import annotations

from airflow_provider_xplenty.emulator.app import create_app
from airflow_provider_xplenty.emulator.state import ApiError, Store

__all__ = ["ApiError", "Store", "create_app"]
