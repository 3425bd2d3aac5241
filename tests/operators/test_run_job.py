"""XplentyRunJobOperator and XplentyStopJobOperator through real Airflow (dag.test) and the emulator."""

from __future__ import annotations

from datetime import timedelta

import airflow
import pytest
from packaging.version import Version
from xplenty_dagtest import HOOK, POLL, new_dag, run_dag, states, try_numbers, when, xcom

from airflow_provider_xplenty.operators.job import XplentyRunJobOperator, XplentyStopJobOperator

pytestmark = pytest.mark.usefixtures("airflow_db")

FAST_JOBS = {"job_idle": 0.2, "job_pending": 0.2, "job_running": 1.0, "job_stopping": 0.2}
#: Airflow 3.3 added ResumableJobMixin and task_state_store; 3.2 has neither.
HAS_TASK_STATE_STORE = Version(airflow.__version__) >= Version("3.3")


@pytest.fixture()
def emu(xplenty_emulator):
    xplenty_emulator.set_speed(1.0, durations=FAST_JOBS)
    return xplenty_emulator


def run_job_task(**kwargs):
    params = {
        "task_id": "run_job",
        "cluster_id": "{{ params.cluster_id }}",
        "package_id": 101,
        "poll_interval": POLL,
        "hook_params": HOOK,
    }
    params.update(kwargs)
    return XplentyRunJobOperator(**params)


def available_cluster(emu) -> int:
    emu.set_speed(1.0, durations={"cluster_pending": 0, "cluster_creating": 0, **FAST_JOBS})
    from airflow_provider_xplenty.hooks.xplenty import XplentyHook

    cluster = XplentyHook().create_cluster(nodes=2, name="test")
    emu.advance(1)
    return cluster.id


@pytest.mark.parametrize("deferrable", [False, True], ids=["blocking", "deferrable"])
def test_run_job_success(emu, register_dag, deferrable):
    cluster_id = available_cluster(emu)
    with new_dag("run_ok") as dag:
        dag.params = {"cluster_id": cluster_id}
        run_job_task(
            deferrable=deferrable,
            package_name="{{ 'enrich_orders' }}",
            package_id=None,
            variables={"InputPath": "'/in/{{ run_id[:6] }}'"},
            dynamic_variables={"StartedBy": "'{{ task.task_id }}'", "Now": "CurrentTime()"},
        )
    dr = run_dag(dag, register_dag)
    assert states(dr) == {"run_job": "success"}
    jobs = emu.jobs()
    assert len(jobs) == 1
    job = jobs[0]
    assert job["status"] == "completed"
    assert job["package_id"] == 102
    assert job["cluster_id"] == cluster_id
    assert job["variables"]["InputPath"].startswith("'/in/manual")
    assert job["dynamic_variables"] == {"StartedBy": "'run_job'", "Now": "CurrentTime()"}
    assert xcom(dr, "run_job") == job["id"]
    assert xcom(dr, "run_job", "job_id") == job["id"]
    assert xcom(dr, "run_job", "html_url") == job["html_url"]
    history = xcom(dr, "run_job", "status_history")
    assert [h["status"] for h in history][-1] == "completed"
    assert all("at" in h for h in history)
    outputs = xcom(dr, "run_job", "outputs")
    assert isinstance(outputs, list)
    for output in outputs:
        assert set(output) >= {"id", "name", "records_count", "preview"}
    # the extra link was stored at finalize time and points at the emulator's page
    assert xcom(dr, "run_job", "_link_XplentyJobLink") == job["html_url"]


STOPPED = {"pending_stoppage", "stopping", "stopped"}


def failure_recorder():
    seen: list[str] = []

    def on_failure(context):
        seen.append(str(context.get("exception")))

    return seen, on_failure


@pytest.mark.parametrize("deferrable", [False, True], ids=["blocking", "deferrable"])
def test_run_job_failure_fails_task_with_error_text_and_link(emu, register_dag, deferrable):
    cluster_id = available_cluster(emu)
    emu.add_fault(kind="job_failure", package_id=101, message="Boom: input path /customers is empty")
    seen, on_failure = failure_recorder()
    with new_dag("run_fail", on_failure_callback=on_failure) as dag:
        dag.params = {"cluster_id": cluster_id}
        run_job_task(deferrable=deferrable)
    dr = run_dag(dag, register_dag)
    assert states(dr) == {"run_job": "failed"}
    job = emu.jobs()[0]
    assert job["status"] == "failed"
    assert len(seen) == 1
    assert "Boom: input path /customers is empty" in seen[0]
    assert job["html_url"] in seen[0]
    assert xcom(dr, "run_job", "job_id") == job["id"]
    assert xcom(dr, "run_job", "_link_XplentyJobLink") == job["html_url"]


@pytest.mark.parametrize(
    ("deferrable", "durable"),
    [(False, True), (True, True), (False, False)],
    ids=["blocking", "deferrable", "list-jobs-fallback"],
)
def test_retry_after_failure_while_waiting_reattaches_to_the_same_job(emu, register_dag, deferrable, durable):
    """Same job, one job total: via task_state_store (3.3), or via list_jobs (the 3.2 path, durable=False)."""
    cluster_id = available_cluster(emu)
    emu.set_speed(1.0, durations={**FAST_JOBS, "job_running": 2.5})

    def running_job():
        jobs = [j for j in emu.jobs() if j["status"] == "running"]
        return jobs[0]["id"] if jobs else None

    # While try 1 waits, the job's status endpoint fails (more than the hook retries): try 1 fails.
    when(
        lambda: running_job() is not None,
        lambda: emu.add_fault(
            kind="server_error", status=503, path_contains=f"/jobs/{running_job()}", method="GET", count=2
        ),
    )
    with new_dag("run_retry", retries=1) as dag:
        dag.params = {"cluster_id": cluster_id}
        run_job_task(deferrable=deferrable, durable=durable, transient_error_timeout=0)
    dr = run_dag(dag, register_dag)
    assert states(dr) == {"run_job": "success"}
    assert try_numbers(dr) == {"run_job": 2}
    jobs = emu.jobs()
    assert len(jobs) == 1, jobs
    assert jobs[0]["status"] == "completed"
    requests = emu.requests()["requests"]
    posts = [r for r in requests if r["method"] == "POST" and r["path"].endswith("/jobs")]
    assert len(posts) == 1
    assert xcom(dr, "run_job") == jobs[0]["id"]
    # Which path found the job: the 3.3 store needs no job search; 3.2 (no store) and durable=False
    # search with list_jobs (GET .../jobs?...) once the first try has created the job.
    after_post = requests[requests.index(posts[0]) + 1 :]
    searches = [r for r in after_post if r["method"] == "GET" and r["path"].endswith("/jobs")]
    if durable and HAS_TASK_STATE_STORE:
        assert searches == []
    else:
        assert len(searches) >= 1


def test_resumable_job_mixin_matches_the_airflow_version():
    """On 3.3+ the operator is Airflow's ResumableJobMixin; on 3.2 it is the list_jobs stand-in."""
    from airflow_provider_xplenty.operators import job as module

    bases = XplentyRunJobOperator.__mro__
    if HAS_TASK_STATE_STORE:
        from airflow.sdk import ResumableJobMixin

        assert ResumableJobMixin in bases
        assert module._ResumableJobFallback not in bases
    else:
        assert module._ResumableJobFallback in bases


def test_on_kill_stops_the_job(emu, register_dag):
    """execution_timeout in a worker: Airflow calls on_kill, which stops the job."""
    cluster_id = available_cluster(emu)
    emu.set_speed(1.0, durations={**FAST_JOBS, "job_running": 60})
    with new_dag("run_kill") as dag:
        dag.params = {"cluster_id": cluster_id}
        run_job_task(deferrable=False, execution_timeout=timedelta(seconds=1.5))
    dr = run_dag(dag, register_dag)
    assert states(dr) == {"run_job": "failed"}
    assert emu.jobs()[0]["status"] in STOPPED


def test_execution_timeout_while_deferred_stops_the_job(emu, register_dag):
    cluster_id = available_cluster(emu)
    emu.set_speed(1.0, durations={**FAST_JOBS, "job_running": 60})
    seen, on_failure = failure_recorder()
    with new_dag("run_exec_timeout", on_failure_callback=on_failure) as dag:
        dag.params = {"cluster_id": cluster_id}
        run_job_task(deferrable=True, execution_timeout=timedelta(seconds=1.5))
    dr = run_dag(dag, register_dag)
    assert states(dr) == {"run_job": "failed"}
    assert emu.jobs()[0]["status"] in STOPPED
    assert "execution_timeout" in seen[0]


@pytest.mark.parametrize("deferrable", [False, True], ids=["blocking", "deferrable"])
def test_timeout_stops_the_job(emu, register_dag, deferrable):
    cluster_id = available_cluster(emu)
    emu.set_speed(1.0, durations={**FAST_JOBS, "job_running": 60})
    with new_dag("run_timeout") as dag:
        dag.params = {"cluster_id": cluster_id}
        run_job_task(deferrable=deferrable, timeout=1)
    dr = run_dag(dag, register_dag)
    assert states(dr) == {"run_job": "failed"}
    assert emu.jobs()[0]["status"] in STOPPED


def test_no_wait_then_stop_job_operator_twice(emu, register_dag):
    cluster_id = available_cluster(emu)
    emu.set_speed(1.0, durations={**FAST_JOBS, "job_running": 60})
    with new_dag("run_stop") as dag:
        dag.params = {"cluster_id": cluster_id}
        start = run_job_task(wait_for_completion=False)
        stop = XplentyStopJobOperator(
            task_id="stop", job_id="{{ ti.xcom_pull('run_job', key='job_id') }}", poll_interval=POLL
        )
        stop_again = XplentyStopJobOperator(task_id="stop_again", job_id=start.output, poll_interval=POLL)
        start >> stop >> stop_again
    dr = run_dag(dag, register_dag)
    assert states(dr) == {"run_job": "success", "stop": "success", "stop_again": "success"}
    job = emu.jobs()[0]
    assert job["status"] == "stopped"
    assert xcom(dr, "stop") == "stopped"
    assert xcom(dr, "stop_again") == "stopped"


def test_constructor_makes_no_api_calls(emu):
    before = emu.requests()["totals"]["count"]
    op = XplentyRunJobOperator(task_id="t", cluster_id=1, package_name="x")
    assert op.package_name == "x"
    assert emu.requests()["totals"]["count"] == before
    with pytest.raises(ValueError, match="exactly one"):
        XplentyRunJobOperator(task_id="t2", cluster_id=1)


def test_deferrable_run_job_through_the_shared_watcher(emu, register_dag, monkeypatch):
    monkeypatch.setenv("AIRFLOW__XPLENTY__SHARED_WATCHER", "True")
    cluster_id = available_cluster(emu)
    with new_dag("run_shared") as dag:
        dag.params = {"cluster_id": cluster_id}
        run_job_task(deferrable=True)
    dr = run_dag(dag, register_dag)
    assert states(dr) == {"run_job": "success"}
    (job,) = emu.jobs()
    assert job["status"] == "completed"
    lists = [
        r for r in emu.requests()["requests"] if r["method"] == "GET" and r["path"].endswith("/api/jobs")
    ]
    assert lists, "the shared poller lists jobs instead of getting each one"
