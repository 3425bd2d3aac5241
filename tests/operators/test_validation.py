"""Bad arguments fail clearly (naming the argument) when the DAG is parsed, else before any paid resource.

And the truths a task reports: a timeout that races a completion, an archived package.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from xplenty_dagtest import (
    HOOK,
    POLL,
    failure_recorder,
    fault_taken,
    new_dag,
    run_dag,
    states,
    try_numbers,
    when,
    xcom,
)

from airflow_provider_xplenty.exceptions import XplentyConfigError
from airflow_provider_xplenty.operators.cluster import (
    XplentyCreateClusterOperator,
    XplentyTerminateClusterOperator,
)
from airflow_provider_xplenty.operators.job import XplentyRunJobOperator, XplentyStopJobOperator
from airflow_provider_xplenty.sensors.cluster import XplentyClusterSensor
from airflow_provider_xplenty.sensors.job import XplentyJobSensor

pytestmark = pytest.mark.usefixtures("airflow_db")

WAITING_OPERATORS = {
    "create": lambda **kw: XplentyCreateClusterOperator(task_id="t", nodes=2, **kw),
    "terminate": lambda **kw: XplentyTerminateClusterOperator(task_id="t", cluster_id=1, **kw),
    "run_job": lambda **kw: XplentyRunJobOperator(task_id="t", cluster_id=1, package_id=101, **kw),
    "stop_job": lambda **kw: XplentyStopJobOperator(task_id="t", job_id=1, **kw),
}
OPERATORS = pytest.mark.parametrize("make", WAITING_OPERATORS.values(), ids=WAITING_OPERATORS.keys())


@OPERATORS
@pytest.mark.parametrize("value", [-1, 0, "abc", float("nan"), timedelta(0), True], ids=repr)
def test_an_unusable_timeout_fails_the_parse(make, value):
    with pytest.raises(XplentyConfigError, match=r"^timeout must be a number of seconds \(more than 0\)"):
        make(timeout=value)


@OPERATORS
@pytest.mark.parametrize("value", [None, 30, 0.5, "30", timedelta(minutes=5)], ids=repr)
def test_a_usable_timeout_is_accepted(make, value):
    make(timeout=value)


@OPERATORS
@pytest.mark.parametrize("value", ["abc", 0, -1, None], ids=repr)
def test_an_unusable_poll_interval_fails_the_parse(make, value):
    with pytest.raises(XplentyConfigError, match=r"^poll_interval must be a number of seconds"):
        make(poll_interval=value)


def test_an_unusable_transient_error_timeout_fails_the_parse():
    with pytest.raises(XplentyConfigError, match=r"^transient_error_timeout must be a number of seconds \(0"):
        WAITING_OPERATORS["create"](transient_error_timeout="soon")


@pytest.mark.parametrize(
    ("sensor", "kwargs", "match"),
    [
        (
            XplentyClusterSensor,
            {"target_statuses": ["availabel"]},
            r"target_statuses: 'availabel' .*'available'",
        ),
        (XplentyClusterSensor, {"failed_statuses": ["errror"]}, r"failed_statuses: 'errror' .*'error'"),
        (
            XplentyClusterSensor,
            {"target_statuses": "Terminated"},
            r"'Terminated' .*Did you mean 'terminated'",
        ),
        (XplentyJobSensor, {"target_statuses": ["complete"]}, r"not an Xplenty job status.*'completed'"),
    ],
    ids=["cluster-target", "cluster-failed", "capitalised", "job-target"],
)
def test_a_misspelt_sensor_status_fails_the_parse(sensor, kwargs, match):
    with pytest.raises(XplentyConfigError, match=match):
        sensor(task_id="s", **{sensor.id_field: 1}, **kwargs)


def test_a_single_status_string_is_one_status():
    sensor = XplentyClusterSensor(task_id="s", cluster_id=1, target_statuses="terminated")
    assert sensor.target_statuses == ["terminated"]
    assert sensor.failed_statuses == ["error"]


@pytest.mark.parametrize("nodes", ["two", 0, -2, 1.5], ids=repr)
def test_bad_nodes_fail_the_parse_naming_them(nodes):
    with pytest.raises(XplentyConfigError, match=r"^nodes must be a positive integer, got"):
        XplentyCreateClusterOperator(task_id="c", nodes=nodes)


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("Production", r"cluster_type must be 'production' or 'sandbox', got 'Production'; use lowercase"),
        ("big", r"cluster_type must be 'production' or 'sandbox', got 'big'$"),
    ],
)
def test_a_bad_cluster_type_fails_the_parse_naming_it(value, match):
    with pytest.raises(XplentyConfigError, match=match):
        XplentyCreateClusterOperator(task_id="c", nodes=2, cluster_type=value)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"nodes": "{{ 'two' }}"}, "nodes must be a positive integer, got 'two'"),
        ({"cluster_type": "{{ 'Sandbox' }}"}, "cluster_type must be .* use lowercase: 'sandbox'"),
    ],
    ids=["nodes", "cluster_type"],
)
def test_bad_rendered_cluster_arguments_fail_before_any_request_and_without_retry(
    xplenty_emulator, register_dag, kwargs, match
):
    """Templated values are checked once rendered: no request, no cluster, and no retry of a config error."""
    seen, on_failure = failure_recorder()
    with new_dag("bad_rendered", retries=2, on_failure_callback=on_failure) as dag:
        XplentyCreateClusterOperator(task_id="create", **{"nodes": 2, **kwargs})
    dr = run_dag(dag, register_dag)
    assert states(dr) == {"create": "failed"}
    assert try_numbers(dr) == {"create": 1}
    assert xplenty_emulator.requests()["requests"] == []
    assert re.search(match, seen[0]), seen


def test_a_config_error_of_a_job_task_is_not_retried(xplenty_emulator, register_dag):
    with new_dag("config_no_retry", retries=2) as dag:
        XplentyRunJobOperator(task_id="run_job", cluster_id="{{ 'abc' }}", package_id=101, poll_interval=POLL)
    dr = run_dag(dag, register_dag)
    assert states(dr) == {"run_job": "failed"}
    assert try_numbers(dr) == {"run_job": 1}
    assert xplenty_emulator.jobs() == []


def test_an_archived_package_runs_no_job(xplenty_emulator, register_dag):
    from airflow_provider_xplenty.hooks.xplenty import XplentyHook

    xplenty_emulator.seed(
        packages=[{"account_id": "demo", "id": 700, "name": "old_rollup", "status": "archived"}]
    )
    cluster = XplentyHook().create_cluster(nodes=2)
    seen, on_failure = failure_recorder()
    with new_dag("archived", retries=2, on_failure_callback=on_failure) as dag:
        XplentyRunJobOperator(
            task_id="run_job", cluster_id=cluster.id, package_id=700, poll_interval=POLL, hook_params=HOOK
        )
    dr = run_dag(dag, register_dag)
    assert states(dr) == {"run_job": "failed"}
    assert try_numbers(dr) == {"run_job": 1}
    assert xplenty_emulator.jobs() == []
    assert "package_id 700 ('old_rollup') is archived, not active: no job was started" in seen[0], seen


@pytest.mark.parametrize("deferrable", [False, True], ids=["blocking", "deferrable"])
def test_a_job_that_completes_as_the_timeout_passes_is_reported_completed(
    xplenty_emulator, register_dag, deferrable
):
    """The deadline passes, the stop is sent, and the job completes before the API acts on it.

    The API refuses the stop (the job has ended) and the task reports the truth: the job completed.
    """
    from airflow_provider_xplenty.hooks.xplenty import XplentyHook

    emu = xplenty_emulator
    emu.reset(speed=0)  # the job waits in `idle` until the clock is moved
    cluster = XplentyHook().create_cluster(nodes=2)
    emu.advance(120)
    emu.add_fault(kind="latency", seconds=1.5, method="DELETE", path_contains="/jobs/", count=1)
    # the stop is held for 1.5 s: meanwhile the job runs to its end
    watch = when(fault_taken(emu, "latency"), lambda: emu.advance(3600), timeout=60)
    with new_dag("timeout_race") as dag:
        XplentyRunJobOperator(
            task_id="run_job",
            cluster_id=cluster.id,
            package_id=101,
            timeout=0.5,
            poll_interval=POLL,
            deferrable=deferrable,
            hook_params=HOOK,
        )
    dr = run_dag(dag, register_dag)
    watch.check()
    (job,) = emu.jobs()
    assert job["status"] == "completed"
    assert "DELETE" in {r["method"] for r in emu.requests()["requests"]}  # the stop was really sent
    assert states(dr) == {"run_job": "success"}
    assert xcom(dr, "run_job") == job["id"]
