"""No leaked cluster when a create call's outcome is unknown: run markers, teardown by marker, clean-up.

The leak (issue 11): the response to ``POST /clusters`` is lost, then the API answers 429 for longer
than the task's retries. The emulator does both: a ``lost_response`` fault, and an hourly credit
budget left at exactly what the create call spends (so every later call gets 429 until it is refilled).
"""

from __future__ import annotations

import pytest
from xplenty_dagtest import HOOK, POLL, fault_taken, new_dag, run_dag, states, when, xcom

from airflow_provider_xplenty.operators._ownership import (
    MAX_RUN_REF,
    owner_of,
    run_marker_of,
)
from airflow_provider_xplenty.operators.cluster import (
    XplentyCreateClusterOperator,
    XplentyTerminateClusterOperator,
    run_marker,
)

pytestmark = pytest.mark.usefixtures("airflow_db")

FAST_CLUSTERS = {"cluster_pending": 0.2, "cluster_creating": 0.6, "cluster_terminating": 0.4}
GONE = {"pending_terminate", "terminating", "terminated"}
MODES = pytest.mark.parametrize("deferrable", [False, True], ids=["blocking", "deferrable"])
#: Credits of one create call: the floor read before the POST, and the POST.
CREATE_CREDITS = 2


@pytest.fixture()
def emu(xplenty_emulator):
    xplenty_emulator.set_speed(1.0, durations=FAST_CLUSTERS)
    return xplenty_emulator


def lose_the_create_response_then_refuse_everything(emu) -> None:
    """The POST creates the cluster but its answer is lost; from then on every call gets 429."""
    emu.add_fault(kind="lost_response", method="POST", path_contains="/clusters", mode="drop")
    emu.set_rate_limit(limit=5000, remaining=CREATE_CREDITS)


def recover(emu) -> None:
    emu.set_rate_limit(limit=5000, remaining=5000)


def live(emu) -> list[dict]:
    return [c for c in emu.clusters() if c["status"] not in GONE]


@MODES
def test_teardown_without_an_id_terminates_the_cluster_a_failed_create_made(emu, register_dag, deferrable):
    """create fails on every try without learning the id; once the API answers, the teardown finds it."""
    from _airflow_compat import task

    lose_the_create_response_then_refuse_everything(emu)
    with new_dag("leak_teardown") as dag:

        @task
        def plan() -> None:
            """A setup that always succeeds, so the teardown runs although create fails."""

        @task(trigger_rule="all_done")
        def api_recovers() -> None:
            recover(emu)

        planned = plan()
        create = XplentyCreateClusterOperator(
            task_id="create",
            nodes=2,
            name="etl-{{ run_id[:6] }}",
            poll_interval=POLL,
            hook_params=HOOK,
            retries=1,
            wait_for_available=False,
        )
        terminate = XplentyTerminateClusterOperator(
            task_id="terminate",
            cluster_id="{{ ti.xcom_pull(task_ids='create', key='cluster_id') }}",
            deferrable=deferrable,
            poll_interval=POLL,
            hook_params=HOOK,
        )
        # create is not a setup here: a setup's direct downstream must be all_success
        planned >> create >> api_recovers() >> terminate.as_teardown(setups=planned)
    dr = run_dag(dag, register_dag)

    assert states(dr)["create"] == "failed"
    assert states(dr)["terminate"] == "success"
    (cluster,) = emu.clusters()  # the retry created no second cluster
    assert cluster["status"] == "terminated", cluster["history"]
    assert run_marker_of(dr.dag_id, dr.run_id) in cluster["description"]
    assert xcom(dr, "terminate", "cluster_id") == cluster["id"]
    assert xcom(dr, "terminate", "cluster_ids") == [cluster["id"]]
    assert xcom(dr, "terminate") == "terminated"


def test_failed_create_cleans_up_the_cluster_it_made_when_the_api_answers_again(emu, register_dag):
    """The hook gives up on the lost response; the operator's own look-up finds the cluster and expires it."""
    emu.set_speed(1.0, durations={**FAST_CLUSTERS, "cluster_creating": 60})
    lose_the_create_response_then_refuse_everything(emu)
    # The operator's look-up starts with the free clock probe: hold it a second, and refill the
    # budget meanwhile (the hook has given up by then), so the look-up itself is answered.
    emu.add_fault(kind="latency", seconds=1.0, path_contains="rate_limit_status", count=1)
    watch = when(fault_taken(emu, "latency"), lambda: recover(emu), timeout=60)
    with new_dag("leak_cleanup") as dag:
        XplentyCreateClusterOperator(
            task_id="create", nodes=2, name="etl-{{ run_id[:6] }}", poll_interval=POLL, hook_params=HOOK
        )
    dr = run_dag(dag, register_dag)
    watch.check()

    assert states(dr) == {"create": "failed"}
    (cluster,) = emu.clusters()
    assert xcom(dr, "create", "cluster_id") == cluster["id"]  # recorded the moment it was known
    assert xcom(dr, "create", "cluster_name") == cluster["name"]
    # still provisioning (cannot be deleted yet): set to terminate itself a minute after it is idle
    assert cluster["status"] in ("pending", "creating")
    assert cluster["terminate_on_idle"] is True and cluster["time_to_idle"] == 60
    emu.advance(60)
    emu.advance(61)
    emu.advance(30)
    assert live(emu) == []


def test_teardown_without_an_id_and_no_cluster_of_the_run_succeeds(emu, register_dag):
    from airflow_provider_xplenty.hooks.xplenty import XplentyHook

    other = XplentyHook().create_cluster(nodes=2, description="not Airflow's")
    with new_dag("no_cluster") as dag:
        XplentyTerminateClusterOperator(task_id="terminate", cluster_id=None, poll_interval=POLL)
    dr = run_dag(dag, register_dag)
    assert states(dr) == {"terminate": "success"}
    assert xcom(dr, "terminate") == "not_found"
    assert [c["id"] for c in live(emu)] == [other.id]  # another cluster is left alone


def test_teardown_without_an_id_terminates_every_cluster_of_its_run_only(emu, register_dag):
    """Two clusters of the run (two create tasks) go; another run's cluster and an unmarked one stay."""
    from airflow_provider_xplenty.hooks.xplenty import XplentyHook

    emu.set_speed(1.0, durations={**FAST_CLUSTERS, "cluster_pending": 0, "cluster_creating": 0})
    other_run = XplentyHook().create_cluster(
        nodes=2, description=f"x {run_marker_of('some_dag', 'manual__2026-01-01')}"
    )
    with new_dag("two_clusters") as dag:
        first = XplentyCreateClusterOperator(task_id="first", nodes=2, poll_interval=POLL)
        second = XplentyCreateClusterOperator(task_id="second", nodes=2, poll_interval=POLL)
        terminate = XplentyTerminateClusterOperator(task_id="terminate", poll_interval=POLL)
        [first, second] >> terminate
    dr = run_dag(dag, register_dag)
    assert states(dr) == {"first": "success", "second": "success", "terminate": "success"}
    mine = {xcom(dr, "first"), xcom(dr, "second")}
    assert set(xcom(dr, "terminate", "cluster_ids")) == mine
    emu.advance(5)
    statuses = {c["id"]: c["status"] for c in emu.clusters()}
    assert all(statuses[i] in GONE for i in mine)
    assert statuses[other_run.id] not in GONE


def test_owned_by_run_false_leaves_out_the_run_marker(emu, register_dag):
    with new_dag("not_owned") as dag:
        XplentyCreateClusterOperator(
            task_id="create", nodes=2, owned_by_run="{{ 'False' }}", wait_for_available=False
        )
    dr = run_dag(dag, register_dag)
    (cluster,) = emu.clusters()
    owner = owner_of(cluster["description"])
    assert owner is not None and owner.digest is not None  # a retry still recognises it
    assert owner.run_marker is None and run_marker_of(dr.dag_id, dr.run_id) not in cluster["description"]


@pytest.mark.parametrize(
    ("dag_id", "run_id"),
    [
        ("daily", "scheduled__2026-11-25T00:00:00+00:00"),
        ("odd.dag-id_1", "custom run/with ] brackets % and spaces"),
    ],
    ids=["default-run-id", "odd-characters"],
)
def test_run_marker_round_trips(dag_id, run_id):
    marker = run_marker_of(dag_id, run_id)
    assert " " not in marker and marker.count("]") == 1
    owner = owner_of(f"user text [with brackets] [airflow:0123456789ab] {marker} more")
    assert owner is not None
    assert (owner.digest, owner.dag_id, owner.run_id) == ("0123456789ab", dag_id, run_id)
    assert owner.mapped


def test_a_long_run_marker_is_hashed_and_not_mapped():
    marker = run_marker_of("d" * 150, "r" * 150)
    assert len(marker) < MAX_RUN_REF
    owner = owner_of(f"[airflow:0123456789ab] {marker}")
    assert owner is not None and not owner.mapped and owner.run_marker == marker


def test_old_markers_are_recognised():
    owner = owner_of("nightly [airflow:0123456789ab]")
    assert owner is not None and owner.digest == "0123456789ab" and not owner.mapped
    assert owner_of("nightly, no marker") is None


def test_run_marker_of_a_context():
    from types import SimpleNamespace

    ti = SimpleNamespace(dag_id="daily", run_id="manual__1", task_id="t", map_index=-1)
    assert run_marker({"ti": ti}) == "[airflow-run:daily/manual__1]"
    assert run_marker({}) is None


def test_a_cleanup_whose_terminate_fails_leaves_the_cluster_set_to_expire(emu, register_dag):
    """The wait gives up on API errors and DELETE keeps failing: the cluster is set to terminate itself."""
    emu.set_speed(1.0, durations={**FAST_CLUSTERS, "cluster_creating": 60})
    emu.add_fault(kind="server_error", status=503, method="DELETE", path_contains="/clusters/", count=100)

    def creating() -> bool:
        return any(c["status"] == "creating" for c in emu.clusters())

    # once the cluster is creating, its status reads fail: the wait gives up (transient_error_timeout=0)
    watch = when(creating, lambda: emu.add_fault(kind="server_error", status=503, method="GET", count=100))
    with new_dag("cleanup_expires") as dag:
        XplentyCreateClusterOperator(
            task_id="create",
            nodes=2,
            terminate_on_idle=False,
            poll_interval=POLL,
            hook_params=HOOK,
            transient_error_timeout=0,
        )
    dr = run_dag(dag, register_dag)
    watch.check()
    emu.clear_faults()

    assert states(dr) == {"create": "failed"}
    (cluster,) = emu.clusters()
    assert cluster["status"] not in GONE  # DELETE never got through
    assert cluster["terminate_on_idle"] is True and cluster["time_to_idle"] == 60
