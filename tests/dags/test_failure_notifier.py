"""XplentySmtpNotifier through real Airflow (dag.test) and a real SMTP server, on a tiny DAG."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from _airflow_compat import dag_test
from dag_test_support import ALERT_TO

from airflow_provider_xplenty.testing import SmtpSink

START = datetime(2025, 1, 1, tzinfo=timezone.utc)


def _probe_dag(dag_id: str, fail_tries: int, register_dag: Any, **notifier_kwargs: Any) -> Any:
    from _airflow_compat import DAG, get_current_context, task

    from airflow_provider_xplenty.notifications import XplentySmtpNotifier

    with DAG(
        dag_id,
        schedule=None,
        start_date=START,
        on_failure_callback=XplentySmtpNotifier(**notifier_kwargs),
    ) as dag:

        @task(retries=2, retry_delay=timedelta(0))
        def flaky() -> int:
            ti: Any = get_current_context()["ti"]
            ti.xcom_push(key="job_id", value=7000 + ti.try_number)
            ti.xcom_push(key="html_url", value=f"http://xplenty.invalid/demo/jobs/{7000 + ti.try_number}")
            if ti.try_number <= fail_tries:
                raise RuntimeError(f"try {ti.try_number} failed")
            return 1

        flaky()
    return register_dag(dag)


def test_one_email_when_every_try_fails(register_dag: Any, smtp_sink: SmtpSink) -> None:
    dag = _probe_dag("notifier_probe_fail", 3, register_dag)
    dag_run = dag_test(dag, logical_date=START)
    assert dag_run.state == "failed"
    assert len(smtp_sink.messages) == 1
    msg = smtp_sink.messages[0]
    body = SmtpSink.body(msg)
    assert sorted(smtp_sink.envelopes[0]["to"]) == sorted(a.strip() for a in ALERT_TO.split(","))
    assert "notifier_probe_fail" in msg["Subject"] and "flaky" in msg["Subject"]
    assert "Xplenty job 7003" in msg["Subject"]
    assert dag_run.run_id in body
    assert ">3 of 3<" in body  # the try that failed last
    assert "http://xplenty.invalid/demo/jobs/7003" in body


def test_no_email_when_a_retry_succeeds(register_dag: Any, smtp_sink: SmtpSink) -> None:
    dag = _probe_dag("notifier_probe_recover", 1, register_dag)
    dag_run = dag_test(dag, logical_date=START)
    assert dag_run.state == "success"
    assert smtp_sink.messages == []


def test_no_recipients_sends_nothing(
    register_dag: Any, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIRFLOW_VAR_XPLENTY_ALERT_EMAILS")
    dag = _probe_dag("notifier_probe_norcpt", 3, register_dag)
    dag_run = dag_test(dag, logical_date=START)
    assert dag_run.state == "failed"
    assert smtp_sink.messages == []


def test_recipients_from_a_param(register_dag: Any, smtp_sink: SmtpSink) -> None:
    dag = _probe_dag("notifier_probe_param", 3, register_dag, to="{{ params.get('alert_to', '') }}")
    dag_run = dag_test(dag, logical_date=None, run_conf={"alert_to": "param@example.com"})
    assert dag_run.state == "failed"
    assert [e["to"] for e in smtp_sink.envelopes] == [["param@example.com"]]


def test_task_level_callback_sends_one_email_after_the_last_try(
    register_dag: Any, smtp_sink: SmtpSink
) -> None:
    from _airflow_compat import DAG, get_current_context, task

    from airflow_provider_xplenty.notifications import XplentySmtpNotifier

    with DAG("notifier_probe_task_level", schedule=None, start_date=START) as dag:

        @task(retries=1, retry_delay=timedelta(0), on_failure_callback=XplentySmtpNotifier())
        def always_fails() -> None:
            ti: Any = get_current_context()["ti"]
            ti.xcom_push(key="job_id", value=8000 + ti.try_number)
            raise RuntimeError("no")

        always_fails()
    register_dag(dag)

    dag_run = dag_test(dag, logical_date=START)

    assert dag_run.state == "failed"
    assert len(smtp_sink.messages) == 1
    assert "Xplenty job 8002" in smtp_sink.messages[0]["Subject"]
    assert ">2 of 2<" in SmtpSink.body(smtp_sink.messages[0])


def test_the_email_lists_the_clusters_of_the_run_still_up(
    register_dag: Any, smtp_sink: SmtpSink, xplenty_emulator: Any
) -> None:
    """A run that failed with its cluster still up (no teardown here): the e-mail names it and the sweep."""
    from _airflow_compat import DAG, task

    from airflow_provider_xplenty.notifications import XplentySmtpNotifier
    from airflow_provider_xplenty.operators.cluster import XplentyCreateClusterOperator

    with DAG(
        "notifier_probe_cluster",
        schedule=None,
        start_date=START,
        on_failure_callback=XplentySmtpNotifier(cluster_task_id="create"),
    ) as dag:

        @task
        def boom() -> None:
            raise RuntimeError("the work failed")

        create = XplentyCreateClusterOperator(
            task_id="create", nodes=2, name="probe-cluster", wait_for_available=False
        )
        create >> boom()
    register_dag(dag)

    dag_run = dag_test(dag, logical_date=START)

    assert dag_run.state == "failed"
    (cluster,) = xplenty_emulator.clusters()
    (msg,) = smtp_sink.messages
    body = SmtpSink.body(msg)
    assert "Clusters that may still be up" in body
    assert f"{cluster['id']} probe-cluster (" in body
    assert "xplenty_sweep" in body
