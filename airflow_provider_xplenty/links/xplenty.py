"""Extra links from Xplenty tasks to the Xplenty web UI (the cluster's or job's ``html_url``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_xplenty._compat import BaseOperatorLink, xcom_value

if TYPE_CHECKING:
    from airflow_provider_xplenty._compat import BaseOperator, TaskInstanceKey

#: XCom key under which every Xplenty operator and sensor pushes the web URL of the cluster or job it
#: manages (one resource per task), before it starts waiting.
HTML_URL_XCOM_KEY = "html_url"


class _XplentyHtmlUrlLink(BaseOperatorLink):
    """Link to the ``html_url`` the task pushed (the one cluster or job it manages)."""

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """Return the ``html_url`` pushed by the task, or ``""`` when there is none yet."""
        value = xcom_value(ti_key, HTML_URL_XCOM_KEY)
        return value if isinstance(value, str) else ""


class XplentyClusterLink(_XplentyHtmlUrlLink):
    """Link to the cluster's page in the Xplenty web UI."""

    name = "Xplenty Cluster"


class XplentyJobLink(_XplentyHtmlUrlLink):
    """Link to the job's page in the Xplenty web UI."""

    name = "Xplenty Job"
