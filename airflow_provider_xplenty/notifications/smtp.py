"""Failure e-mail for DAGs that run Xplenty jobs, built on Airflow's SMTP notifier."""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

from airflow_provider_xplenty._compat import (
    SmtpNotifier,
    dag_with_template_env,
    failed_task_instance,
    keep_empty_renders,
    xcom_from_metadata_db,
)

if TYPE_CHECKING:
    import jinja2

    from airflow_provider_xplenty._compat import Context

log = logging.getLogger(__name__)

#: Recipients come from configuration: the Airflow Variable ``xplenty_alert_emails``
#: (comma- or semicolon-separated addresses).
DEFAULT_TO = "{{ var.value.get('xplenty_alert_emails', '') }}"

DEFAULT_SUBJECT = (
    "[Airflow] {{ dag.dag_id }} failed: task {{ xplenty.task_id }}"
    "{% if xplenty.job_id %} (Xplenty job {{ xplenty.job_id }}){% endif %}"
)


def _row(label: str, value: str, when: str | None = None) -> str:
    row = f'<tr><th align="left">{label}</th><td>{value}</td></tr>'
    return f"{{% if {when} %}}{row}{{% endif %}}" if when else row


DEFAULT_HTML = "\n".join(
    [
        "<h3>Airflow DAG run failed</h3>",
        "<table>",
        _row("DAG", "{{ dag.dag_id }}"),
        _row("Run", "{{ run_id }}"),
        _row(
            "Task",
            "{{ xplenty.task_id }}{% if xplenty.map_index is not none and xplenty.map_index >= 0 %}"
            " [map index {{ xplenty.map_index }}]{% endif %}",
        ),
        _row(
            "Try",
            "{{ xplenty.try_number }}"
            "{% if xplenty.max_tries is not none %} of {{ xplenty.max_tries + 1 }}{% endif %}",
        ),
        _row("Reason", "{{ reason | default('task_failure') }}"),
        _row("Xplenty job", "{{ xplenty.job_id or 'none (the failed task did not start a job)' }}"),
        _row("Job status", "{{ xplenty.job_status }}", when="xplenty.job_status"),
        _row("Job error", "<pre>{{ xplenty.job_errors | e }}</pre>", when="xplenty.job_errors"),
        _row("Job link", '<a href="{{ xplenty.job_url }}">{{ xplenty.job_url }}</a>', when="xplenty.job_url"),
        _row(
            "Cluster",
            "{{ xplenty.cluster_id }} ({{ xplenty.cluster_status or 'status unknown' }})",
            when="xplenty.cluster_id",
        ),
        _row(
            "Cluster link",
            '<a href="{{ xplenty.cluster_url }}">{{ xplenty.cluster_url }}</a>',
            when="xplenty.cluster_url",
        ),
        _row(
            "Clusters that may still be up",
            "{% for c in xplenty.run_clusters %}{{ c.id }} {{ c.name | e }} ({{ c.status }})"
            '{% if c.html_url %} <a href="{{ c.html_url }}">{{ c.html_url }}</a>{% endif %}<br>{% endfor %}'
            "{% if xplenty.run_clusters_unknown %}unknown: the API could not be asked. This run's clusters"
            "{% if xplenty.cluster_name %} (named {{ xplenty.cluster_name | e }}){% endif %} carry"
            " <code>{{ xplenty.run_marker | e }}</code> in their description.{% endif %}"
            "<br><i>The sweep (XplentySweepClustersOperator, DAG xplenty_sweep) terminates the clusters of"
            " ended DAG runs.</i>",
            when="xplenty.run_clusters or xplenty.run_clusters_unknown",
        ),
        _row("Task log", '<a href="{{ xplenty.log_url }}">{{ xplenty.log_url }}</a>', when="xplenty.log_url"),
        "</table>",
        "{% for note in xplenty.notes %}<p><i>{{ note | e }}</i></p>{% endfor %}",
    ]
)


class XplentySmtpNotifier(SmtpNotifier):
    """Send one e-mail about a failed DAG run, with the failed task's Xplenty job details.

    Use it as the DAG's ``on_failure_callback``: the DAG run fails once, so one e-mail goes out,
    and task retries that later succeed send nothing. Before rendering, the notifier looks up
    the failed task's XCom ``job_id`` (pushed by ``XplentyRunJobOperator`` as soon as the job
    exists) and reads the job from the API for its status, ``errors`` text and web link. The
    template context gains an ``xplenty`` dict with ``task_id``, ``map_index``, ``try_number``,
    ``max_tries``, ``job_id``, ``job_status``, ``job_errors``, ``job_url``, ``cluster_id``,
    ``cluster_status``, ``cluster_url``, ``log_url`` and ``notes``.

    With ``cluster_task_id``, the e-mail also lists the run's clusters that are still up (every
    cluster the create operator makes carries the run's marker ``[airflow-run:...]``): once the run
    has failed, its teardowns are over, so such a cluster leaked. When the API cannot be asked, the
    e-mail gives the marker and the cluster name instead (``run_clusters``, ``run_clusters_unknown``,
    ``run_marker``, ``cluster_name``), and says the sweep terminates them.

    It also works as a task-level ``on_failure_callback``, and under ``dag.test()`` /
    ``airflow dags test`` (it works around Airflow's ``SerializedDAG`` template-env bug there).

    :param to: recipients (templated); by default the Variable ``xplenty_alert_emails``.
        Nothing is sent (an error is logged) when it renders empty.
    :param from_email: sender; by default the SMTP connection's ``from_email`` extra.
    :param subject: subject template (templated).
    :param html_content: body template (templated).
    :param smtp_conn_id: SMTP connection; by default ``[email] email_conn_id`` or ``smtp_default``.
    :param xplenty_conn_id: Xplenty connection used to read the job and cluster (templated).
    :param cluster_task_id: task whose return value (else XCom ``cluster_id``) is the cluster id
        (e.g. the create-cluster task); its status and link are added to the e-mail, and so are the
        run's clusters still up (templated).
    :param job_id_key: XCom key under which the failed task pushed its job id.
    """

    template_fields = (*SmtpNotifier.template_fields, "xplenty_conn_id", "cluster_task_id")  # type: ignore[assignment]

    def __init__(
        self,
        *,
        to: str | Iterable[str] = DEFAULT_TO,
        from_email: str | None = None,
        subject: str = DEFAULT_SUBJECT,
        html_content: str = DEFAULT_HTML,
        smtp_conn_id: str | None = None,
        xplenty_conn_id: str = "xplenty_default",
        cluster_task_id: str | None = None,
        job_id_key: str = "job_id",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            to=to,
            from_email=from_email,
            subject=subject,
            html_content=html_content,
            smtp_conn_id=smtp_conn_id,
            **kwargs,
        )
        self.xplenty_conn_id = xplenty_conn_id
        self.cluster_task_id = cluster_task_id
        self.job_id_key = job_id_key

    def render_template_fields(
        self,
        context: Context,
        jinja_env: jinja2.Environment | None = None,
    ) -> None:
        """Render the template fields; fall back to a plain sandboxed env when the DAG cannot build one."""
        dag = context.get("dag")
        if jinja_env is None and dag is not None and dag_with_template_env(dag) is None:
            jinja_env = self.get_template_env(dag=None)
        templates = {name: getattr(self, name) for name in self.template_fields}
        super().render_template_fields(context, jinja_env)
        # An unset recipients Variable must leave `to` empty (no e-mail), not the template text.
        keep_empty_renders(
            self,
            templates,
            lambda template: self.render_template(
                template, context, jinja_env or self.get_template_env(dag=dag)
            ),
        )

    def get_template_env(self, dag: Any = None) -> jinja2.Environment:
        """Return the DAG's template env, or a plain sandboxed env when ``dag`` cannot build one."""
        return cast("jinja2.Environment", super().get_template_env(dag=dag_with_template_env(dag)))

    def __call__(self, *args: Any) -> None:
        """Collect the Xplenty details, render a copy of this notifier and send it.

        Rendering is done on a copy because Airflow renders template fields in place: the DAG
        object (and this notifier) may be reused for later runs in the same process.
        """
        if len(args) != 1:  # the (dag, task_list, ...) form is for SLA misses, not failures
            super().__call__(*args)
            return
        context = args[0]
        cast("dict[str, Any]", context)["xplenty"] = self.collect_details(context)
        notifier = copy.copy(self)
        notifier.__dict__.pop("hook", None)
        SmtpNotifier.__call__(notifier, context)

    def notify(self, context: Context) -> None:
        """Send the e-mail (skipped with an error log when there are no recipients)."""
        recipients = self.to if isinstance(self.to, str) else ",".join(self.to)
        if not recipients.replace(",", "").replace(";", "").strip():
            log.error(
                "No recipients for the failure e-mail of %s: set the Variable 'xplenty_alert_emails' "
                "(or the notifier's `to`).",
                getattr(context.get("dag"), "dag_id", "?"),
            )
            return
        super().notify(context)
        log.info("Failure e-mail sent to %s", recipients)

    # -- details --------------------------------------------------------------------------------
    def collect_details(self, context: Context) -> dict[str, Any]:
        """Return the ``xplenty`` template variables for this failure (never raises)."""
        ti: Any = failed_task_instance(context)
        details: dict[str, Any] = {
            "task_id": getattr(ti, "task_id", None) or "(unknown)",
            "map_index": getattr(ti, "map_index", None),
            "try_number": getattr(ti, "try_number", None),
            "max_tries": _max_tries(ti),
            "log_url": None,
            "job_id": None,
            "job_status": None,
            "job_errors": None,
            "job_url": None,
            "cluster_id": None,
            "cluster_status": None,
            "cluster_url": None,
            "cluster_name": None,
            "run_marker": None,
            "run_clusters": [],
            "run_clusters_unknown": False,
            "notes": [],
        }
        if ti is None:
            return details
        try:
            details["log_url"] = ti.log_url
        except Exception:
            details["log_url"] = None
        map_index = details["map_index"] if isinstance(details["map_index"], int) else -1
        job_id = _xcom_pull(context, ti.task_id, self.job_id_key, map_index)
        if job_id is not None:  # the same key holds a cluster's link for cluster tasks
            details["job_url"] = _xcom_pull(context, ti.task_id, "html_url", map_index)
        cluster_id = None
        if self.cluster_task_id:
            # the create task pushes "cluster_id" the moment it knows it, even when it then fails
            cluster_id = _xcom_pull(context, self.cluster_task_id, "return_value", -1)
            if cluster_id is None:
                cluster_id = _xcom_pull(context, self.cluster_task_id, "cluster_id", -1)
            details["cluster_name"] = _xcom_pull(context, self.cluster_task_id, "cluster_name", -1)
        if job_id is None and not self.cluster_task_id:
            return details

        try:
            from airflow_provider_xplenty.hooks.xplenty import XplentyHook

            hook = XplentyHook(self.xplenty_conn_id, retry_limit=2, retry_max_seconds=10.0)
        except Exception as err:
            details["notes"].append(f"Could not create the Xplenty hook: {err}")
            hook = None
        if job_id is not None:
            details["job_id"] = job_id
            if hook is not None:
                try:
                    job = hook.get_job(int(job_id))
                    details["job_status"] = job.status
                    details["job_errors"] = job.errors
                    details["job_url"] = job.html_url or details["job_url"]
                except Exception as err:
                    details["notes"].append(f"Could not read Xplenty job {job_id}: {err}")
        if cluster_id is not None:
            details["cluster_id"] = cluster_id
            if hook is not None:
                try:
                    cluster = hook.get_cluster(int(cluster_id))
                    details["cluster_status"] = cluster.status
                    details["cluster_url"] = cluster.html_url
                except Exception as err:
                    details["notes"].append(f"Could not read Xplenty cluster {cluster_id}: {err}")
        if self.cluster_task_id:
            self._add_run_clusters(context, details, hook)
        return details

    @staticmethod
    def _add_run_clusters(context: Context, details: dict[str, Any], hook: Any) -> None:
        """Add this run's clusters that are still up, or (API unavailable) how to recognise them."""
        from airflow_provider_xplenty._waiting.task import dag_run_start
        from airflow_provider_xplenty.operators._ownership import (
            context_run,
            live_run_clusters,
            run_marker_of,
        )

        run, since = context_run(context), dag_run_start(context)
        if run is None or since is None:
            return
        details["run_marker"] = run_marker_of(*run)
        try:
            if hook is None:
                raise RuntimeError("no Xplenty hook")
            clusters = live_run_clusters(hook, *run, since)
        except Exception as err:
            details["run_clusters_unknown"] = True
            details["notes"].append(f"Could not list this run's Xplenty clusters: {err}")
            return
        details["run_clusters"] = [
            {"id": c.id, "name": c.name, "status": c.status, "html_url": c.html_url} for c in clusters
        ]


def _max_tries(ti: Any) -> int | None:
    """Return the retries allowed after the first try (the dag-processor's TI may not carry it)."""
    retries = getattr(getattr(ti, "task", None), "retries", None)
    if isinstance(retries, int) and not isinstance(retries, bool):
        return retries
    max_tries = getattr(ti, "max_tries", None)
    return max_tries if isinstance(max_tries, int) else None


def _xcom_pull(context: Context, task_id: str, key: str, map_index: int) -> Any:
    """Read one XCom of this run, through the task SDK or (under ``dag.test``) the metadata DB."""
    ti: Any = context.get("ti")
    try:
        return ti.xcom_pull(task_ids=task_id, key=key, map_indexes=map_index)
    except Exception as sdk_err:
        # dag.test() runs DAG callbacks in its own process, where no task supervisor answers
        # XCom requests; the metadata DB is local there, so read it directly.
        try:
            return xcom_from_metadata_db(ti.dag_id, ti.run_id, task_id, key, map_index)
        except Exception as db_err:
            log.warning("Could not read XCom %s of %s: %s / %s", key, task_id, sdk_err, db_err)
            return None
