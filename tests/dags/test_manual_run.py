"""The manual-run DAG: Params from "Trigger DAG w/ config", and no logical date (Airflow 3 manual runs)."""

from __future__ import annotations

from typing import Any

import pytest
from _airflow_compat import AIRFLOW_V_3_0_PLUS, dag_test
from dag_test_support import task_states, xcom

SPEED = 100.0


@pytest.fixture()
def emulator(xplenty_emulator: Any) -> Any:
    xplenty_emulator.reset(speed=SPEED)
    return xplenty_emulator


def test_manual_run_creates_a_cluster_runs_by_name_and_terminates(manual_dag: Any, emulator: Any) -> None:
    conf = {
        "package": "enrich_orders",
        "variables": {"InputPath": "/orders/manual", "OutputPath": "/orders/manual_out"},  # plain text
        "nodes": 1,
        "cluster_type": "sandbox",
        "cluster_id": None,
        "terminate_cluster": True,
    }
    dag_run = dag_test(manual_dag, logical_date=None, run_conf=conf)

    states = task_states(dag_run)
    assert dag_run.logical_date is None or not AIRFLOW_V_3_0_PLUS  # 2.11: every run has one
    assert dag_run.state == "success", states
    assert states == {
        **dict.fromkeys(
            [
                "resolve_package",
                "plan",
                "create_cluster",
                "use_cluster",
                "run_job",
                "decide_termination",
                "terminate_cluster",
            ],
            "success",
        ),
        "reuse_cluster": "skipped",
    }
    (cluster,) = emulator.clusters()
    assert cluster["name"].startswith("ManualCluster_") and len(cluster["name"]) == len(
        "ManualCluster_20250101"
    )
    assert (cluster["type"], cluster["nodes"], cluster["status"]) == ("sandbox", 1, "terminated")
    (job,) = emulator.jobs()
    assert job["package_id"] == 102 and job["status"] == "completed"
    assert job["variables"] == {"InputPath": "'/orders/manual'", "OutputPath": "'/orders/manual_out'"}
    assert xcom(dag_run, "run_job", "job_id") == job["id"]


def test_manual_run_reuses_a_cluster_and_keeps_it(manual_dag: Any, emulator: Any) -> None:
    from airflow_provider_xplenty.hooks.xplenty import XplentyHook

    existing = XplentyHook().create_cluster(nodes=2, type="production", name="shared")
    emulator.advance(120)  # provisioned

    dag_run = dag_test(
        manual_dag,
        logical_date=None,
        run_conf={"package": 101, "cluster_id": existing.id, "terminate_cluster": False},
    )

    states = task_states(dag_run)
    assert dag_run.state == "success", states
    assert states["create_cluster"] == "skipped"
    assert states["reuse_cluster"] == "success"
    assert states["decide_termination"] == "success"
    assert states["terminate_cluster"] == "skipped"
    assert states["run_job"] == "success"
    (cluster,) = emulator.clusters()
    assert cluster["id"] == existing.id and cluster["status"] in {"available", "idle"}
    (job,) = emulator.jobs()
    assert (job["cluster_id"], job["package_id"], job["status"]) == (existing.id, 101, "completed")
    assert job["variables"]["InputPath"] == "'/input'"  # the form's default variables, quoted


@pytest.mark.parametrize("package", ["no_such_package", 999, 700], ids=["name", "id", "archived"])
def test_manual_run_with_an_unusable_package_fails_before_any_cluster(
    manual_dag: Any, emulator: Any, package: Any
) -> None:
    emulator.seed(packages=[{"account_id": "demo", "id": 700, "name": "old_rollup", "status": "archived"}])
    dag_run = dag_test(manual_dag, logical_date=None, run_conf={"package": package})

    states = task_states(dag_run)
    assert dag_run.state == "failed", states
    assert states["resolve_package"] == "failed"
    tries = {ti.task_id: ti.try_number for ti in dag_run.get_task_instances()}
    assert tries["resolve_package"] == 1  # a wrong package in the form is not retried
    assert states["run_job"] == "upstream_failed"
    assert states["create_cluster"] == "upstream_failed"  # resolve_package comes first
    assert emulator.jobs() == []
    assert emulator.clusters() == []


@pytest.mark.parametrize("terminate", [True, False], ids=["terminate", "keep"])
def test_manual_run_terminates_the_created_cluster_when_use_cluster_fails(
    manual_dag: Any, emulator: Any, monkeypatch: pytest.MonkeyPatch, terminate: bool
) -> None:
    """A failure after create_cluster succeeded still ends in the teardowns, which honour the param."""

    def broken_use_cluster() -> int:
        raise RuntimeError("use_cluster broke after the cluster was created")

    # Under dag.test() the tasks run in this process on the DAG's own task objects.
    monkeypatch.setattr(manual_dag.get_task("use_cluster"), "python_callable", broken_use_cluster)
    dag_run = dag_test(
        manual_dag, logical_date=None, run_conf={"package": 101, "terminate_cluster": terminate}
    )

    states = task_states(dag_run)
    assert dag_run.state == "failed", states
    assert (states["create_cluster"], states["use_cluster"], states["run_job"]) == (
        "success",
        "failed",
        "upstream_failed",
    )
    assert states["decide_termination"] == "success"
    assert emulator.jobs() == []
    (cluster,) = emulator.clusters()
    if terminate:
        assert states["terminate_cluster"] == "success"
        assert cluster["status"] == "terminated"
    else:
        assert states["terminate_cluster"] == "skipped"
        assert cluster["status"] in {"available", "idle"}
        # kept on purpose: made without the run's marker, so the sweep leaves it alone too
        assert "[airflow-run:" not in cluster["description"]


def test_manual_run_with_a_cluster_that_fails_to_provision(manual_dag: Any, emulator: Any) -> None:
    # Every try's cluster goes pending -> creating -> error (create_cluster retries twice, each
    # time with a new cluster: the failed one was terminated, so there is nothing to adopt).
    for _ in range(3):
        emulator.add_fault(kind="cluster_failure")

    dag_run = dag_test(manual_dag, logical_date=None, run_conf={"package": 101})

    states = task_states(dag_run)
    assert dag_run.state == "failed", states
    assert (states["create_cluster"], states["use_cluster"], states["run_job"]) == (
        "failed",
        "upstream_failed",
        "upstream_failed",
    )
    assert states["terminate_cluster"] == "success"  # idempotent after create_cluster's own cleanup
    assert emulator.jobs() == []
    clusters = emulator.clusters()
    assert [c["status"] for c in clusters] == ["terminated"] * 3


def test_manual_run_retries_a_cluster_that_failed_to_provision(manual_dag: Any, emulator: Any) -> None:
    emulator.add_fault(kind="cluster_failure")  # only the first try's cluster ends in error

    dag_run = dag_test(manual_dag, logical_date=None, run_conf={"package": 101})

    states = task_states(dag_run)
    assert dag_run.state == "success", states
    first, second = emulator.clusters()
    assert (first["status"], second["status"]) == ("terminated", "terminated")
    (job,) = emulator.jobs()
    assert (job["cluster_id"], job["status"]) == (second["id"], "completed")


#: What someone allowed to trigger the DAG might type to break out of the string literal.
INJECTION = "x' + ReadFile('/etc/passwd') + '"


def test_manual_run_sends_form_values_as_escaped_literals(manual_dag: Any, emulator: Any) -> None:
    """The form's values are plain text: a quote cannot end the literal and start an expression."""
    conf = {"package": 101, "variables": {"InputPath": INJECTION, "OutputPath": "/out\\put"}}

    dag_run = dag_test(manual_dag, logical_date=None, run_conf=conf)

    assert dag_run.state == "success", task_states(dag_run)
    (job,) = emulator.jobs()
    assert job["variables"] == {
        "InputPath": "'x\\' + ReadFile(\\'/etc/passwd\\') + \\''",
        "OutputPath": "'/out\\\\put'",
    }
    # the emulator reads each literal back as Xplenty would: the run saw the plain text typed
    outputs = xcom(dag_run, "run_job", "outputs")
    first_line = outputs[0]["preview"].splitlines()[0]
    assert first_line.split("\t") == [f"InputPath={INJECTION}", "OutputPath=/out\\put"]


@pytest.mark.parametrize(
    ("variables", "match"),
    [
        ({"Input Path": "/in"}, "'Input Path' does not match"),
        ({"a=b": "/in"}, "'a=b' does not match"),
        ({"1st": "/in"}, "'1st' does not match"),
        ({"P": {"nested": 1}}, "is not of type 'string', 'number', 'boolean'"),
    ],
    ids=["space", "equals", "leading-digit", "object"],
)
def test_manual_run_form_refuses_bad_variables(
    manual_dag: Any, emulator: Any, variables: dict[str, Any], match: str
) -> None:
    """The form checks names and value types when the run is triggered; the operator checks again."""
    from _airflow_compat import ParamValidationError

    # Airflow 3.3 raises ParamValidationError; older dag.test() reports the same check as a ValueError.
    with pytest.raises((ParamValidationError, ValueError), match=match):
        dag_test(manual_dag, logical_date=None, run_conf={"package": 101, "variables": variables})
    assert emulator.jobs() == [] and emulator.clusters() == []
