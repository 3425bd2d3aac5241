"""Each browser test drives one UI, Airflow 3's (React) or 2.11's (Flask AppBuilder): collect that one."""

from __future__ import annotations

from airflow_provider_xplenty._compat import AIRFLOW_V_3_0_PLUS

collect_ignore = ["test_browser_airflow2.py"] if AIRFLOW_V_3_0_PLUS else ["test_browser.py"]
