"""XplentyRunJobOperator and XplentyStopJobOperator through real Airflow (dag.test) and the emulator."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import airflow
import pytest
from _airflow_compat import operator_link_url, set_params
from packaging.version import Version
from xplenty_dagtest import (
    HOOK,
    POLL,
    fail_status_reads,
    failure_recorder,
    new_dag,
    run_dag,
    states,
    try_numbers,
    when,
    xcom,
)

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
        set_params(dag, {"cluster_id": cluster_id})
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
    assert operator_link_url(dag, dr, "run_job") == job["html_url"]


STOPPED = {"pending_stoppage", "stopping", "stopped"}


@pytest.mark.parametrize("deferrable", [False, True], ids=["blocking", "deferrable"])
def test_run_job_failure_fails_task_with_error_text_and_link(emu, register_dag, deferrable):
    cluster_id = available_cluster(emu)
    emu.add_fault(kind="job_failure", package_id=101, message="Boom: input path /customers is empty")
    seen, on_failure = failure_recorder()
    with new_dag("run_fail", on_failure_callback=on_failure) as dag:
        set_params(dag, {"cluster_id": cluster_id})
        run_job_task(deferrable=deferrable)
    dr = run_dag(dag, register_dag)
    assert states(dr) == {"run_job": "failed"}
    job = emu.jobs()[0]
    assert job["status"] == "failed"
    assert len(seen) == 1
    assert "Boom: input path /customers is empty" in seen[0]
    assert job["html_url"] in seen[0]
    assert xcom(dr, "run_job", "job_id") == job["id"]
    assert operator_link_url(dag, dr, "run_job") == job["html_url"]


@pytest.fixture()
def lose_stored_job_id(monkeypatch):
    """As if the worker died between creating the job and storing its id (3.3); 3.2 has no store."""
    if HAS_TASK_STATE_STORE:
        from airflow.sdk.execution_time.context import TaskStateStoreAccessor

        original = TaskStateStoreAccessor.set

        def set_(self, key, value, **kwargs):
            if key != XplentyRunJobOperator.external_id_key:
                original(self, key, value, **kwargs)

        monkeypatch.setattr(TaskStateStoreAccessor, "set", set_)


def running_job(emu):
    jobs = [j for j in emu.jobs() if j["status"] == "running"]
    return jobs[0]["id"] if jobs else None


@pytest.mark.parametrize(
    ("deferrable", "store_lost"),
    [(False, False), (True, False), (False, True)],
    ids=["blocking", "deferrable", "list-jobs-fallback"],
)
def test_retry_after_failure_while_waiting_reattaches_to_the_same_job(
    emu, register_dag, request, deferrable, store_lost
):
    """Same job, one job total: via task_state_store (3.3), or via list_jobs (3.2, or the id was lost).

    ``variables={"N": 10}``: the API stores ``"10"``; the list_jobs search compares them as stored.
    """
    if store_lost:
        request.getfixturevalue("lose_stored_job_id")
    cluster_id = available_cluster(emu)
    emu.set_speed(1.0, durations={**FAST_JOBS, "job_running": 2.5})

    # While try 1 waits, reading job statuses fails (more than the hook retries): try 1 fails.
    watch = when(lambda: running_job(emu) is not None, lambda: fail_status_reads(emu, "jobs"))
    with new_dag("run_retry", retries=1) as dag:
        set_params(dag, {"cluster_id": cluster_id})
        run_job_task(deferrable=deferrable, variables={"N": 10}, transient_error_timeout=0)
    dr = run_dag(dag, register_dag)
    watch.check()
    assert states(dr) == {"run_job": "success"}
    assert try_numbers(dr) == {"run_job": 2}
    jobs = emu.jobs()
    assert len(jobs) == 1, jobs
    assert jobs[0]["status"] == "completed"
    assert jobs[0]["variables"] == {"N": "10"}
    requests = emu.requests()["requests"]
    posts = [r for r in requests if r["method"] == "POST" and r["path"].endswith("/jobs")]
    assert len(posts) == 1
    assert xcom(dr, "run_job") == jobs[0]["id"]
    # Which path found the job: the 3.3 store needs no job search; 3.2 (no store) and a lost id
    # search with list_jobs (GET .../jobs?package_id=...) once the first try has created the job.
    # (The shared watcher's own list calls carry no package_id.)
    after_post = requests[requests.index(posts[0]) + 1 :]
    searches = [
        r
        for r in after_post
        if r["method"] == "GET" and r["path"].endswith("/jobs") and "package_id=" in r["query"]
    ]
    if HAS_TASK_STATE_STORE and not store_lost:
        assert searches == []
    else:
        assert len(searches) >= 1


@pytest.mark.parametrize("deferrable", [False, True], ids=["blocking", "deferrable"])
def test_retry_after_timeout_runs_a_new_job_instead_of_the_stopping_one(emu, register_dag, deferrable):
    """The timeout stops job 1 (slow to stop); the retry must not wait on it but run a new job."""
    cluster_id = available_cluster(emu)
    emu.set_speed(1.0, durations={**FAST_JOBS, "job_running": 60, "job_stopping": 30})
    watch = when(
        lambda: any(j["status"] in ("pending_stoppage", "stopping") for j in emu.jobs()),
        lambda: emu.set_speed(1.0, durations={"job_running": 0.3}),  # the next job runs fast
    )
    with new_dag("run_timeout_retry", retries=1) as dag:
        set_params(dag, {"cluster_id": cluster_id})
        run_job_task(deferrable=deferrable, timeout=2)
    dr = run_dag(dag, register_dag)
    watch.check()
    assert states(dr) == {"run_job": "success"}
    assert try_numbers(dr) == {"run_job": 2}
    first, second = sorted(emu.jobs(), key=lambda j: j["id"])
    assert first["status"] in ("pending_stoppage", "stopping", "stopped")
    assert second["status"] == "completed"
    assert xcom(dr, "run_job") == second["id"]


def test_blocking_timeout_is_kept_while_the_api_fails(emu, register_dag):
    """503s on the job while waiting in a worker: the timeout still fires and stops the job."""
    cluster_id = available_cluster(emu)
    emu.set_speed(1.0, durations={**FAST_JOBS, "job_running": 60})
    watch = when(
        lambda: running_job(emu) is not None,
        lambda: emu.add_fault(
            kind="server_error",
            status=503,
            path_contains=f"/jobs/{running_job(emu)}",
            method="GET",
            count=10**6,
        ),
    )
    seen, on_failure = failure_recorder()
    with new_dag("run_timeout_503", on_failure_callback=on_failure) as dag:
        set_params(dag, {"cluster_id": cluster_id})
        run_job_task(deferrable=False, timeout=1, transient_error_timeout=8)
    started = time.monotonic()
    dr = run_dag(dag, register_dag)
    watch.check()
    emu.clear_faults()
    assert states(dr) == {"run_job": "failed"}
    assert time.monotonic() - started < 8, "waited for transient_error_timeout instead of timeout"
    assert emu.jobs()[0]["status"] in STOPPED
    assert "before the timeout" in seen[0] and "the job was stopped" in seen[0], seen


def test_resumable_job_mixin_matches_the_airflow_version():
    """On 3.3+ the operator is Airflow's ResumableJobMixin; on 3.2 it is the list_jobs stand-in."""
    from airflow_provider_xplenty import _compat as module

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
        set_params(dag, {"cluster_id": cluster_id})
        run_job_task(deferrable=False, execution_timeout=timedelta(seconds=1.5))
    dr = run_dag(dag, register_dag)
    assert states(dr) == {"run_job": "failed"}
    assert emu.jobs()[0]["status"] in STOPPED


def test_execution_timeout_while_deferred_stops_the_job(emu, register_dag):
    cluster_id = available_cluster(emu)
    emu.set_speed(1.0, durations={**FAST_JOBS, "job_running": 60})
    seen, on_failure = failure_recorder()
    with new_dag("run_exec_timeout", on_failure_callback=on_failure) as dag:
        set_params(dag, {"cluster_id": cluster_id})
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
        set_params(dag, {"cluster_id": cluster_id})
        run_job_task(deferrable=deferrable, timeout=1)
    dr = run_dag(dag, register_dag)
    assert states(dr) == {"run_job": "failed"}
    assert emu.jobs()[0]["status"] in STOPPED


def test_no_wait_then_stop_job_operator_twice(emu, register_dag):
    cluster_id = available_cluster(emu)
    emu.set_speed(1.0, durations={**FAST_JOBS, "job_running": 60})
    with new_dag("run_stop") as dag:
        set_params(dag, {"cluster_id": cluster_id})
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
        set_params(dag, {"cluster_id": cluster_id})
        run_job_task(deferrable=True)
    dr = run_dag(dag, register_dag)
    assert states(dr) == {"run_job": "success"}
    (job,) = emu.jobs()
    assert job["status"] == "completed"
    lists = [
        r for r in emu.requests()["requests"] if r["method"] == "GET" and r["path"].endswith("/api/jobs")
    ]
    assert lists, "the shared poller lists jobs instead of getting each one"


class FakeStore(dict):
    """A task_state_store stand-in."""

    def set(self, key, value, **kwargs):
        self[key] = value


class ListingHook:
    """list_jobs over a fixed set of jobs (newest first), like the API with sort=created&direction=desc."""

    def __init__(self, jobs):
        self.jobs = sorted(jobs, key=lambda j: j.created_at, reverse=True)
        self.started: list[int] = []

    def list_jobs(self, **kwargs):
        return iter(self.jobs)

    def get_server_clock_skew(self):
        return timedelta(0)

    def get_package(self, package_id):
        from airflow_provider_xplenty.models import Package

        return Package(id=package_id, name="rollup", status="active")

    def run_job(self, cluster_id, package_id, variables=None, dynamic_variables=None):
        from airflow_provider_xplenty.models import Job

        self.started.append(package_id)
        return Job(id=9999, status="idle", cluster_id=cluster_id, package_id=package_id)


@pytest.mark.parametrize("with_store", [True, False], ids=["3.3-store", "no-store"])
def test_reattach_search_takes_the_earliest_job_of_this_task_instance(with_store):
    """Two runs share a cluster, package and variables: a retry adopts its own job, not the other run's."""
    from airflow_provider_xplenty.models import Job
    from airflow_provider_xplenty.operators.job import FIRST_TRY_STARTED_KEY

    run_start = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
    first_try = run_start + timedelta(seconds=60)
    this_try = first_try + timedelta(seconds=300)

    def job(job_id, after_first_try, status="running", variables=None):
        return Job(
            id=job_id,
            status=status,
            cluster_id=1,
            package_id=101,
            variables={"N": "10"} if variables is None else variables,
            created_at=first_try + timedelta(seconds=after_first_try),
        )

    jobs = [
        job(1, -30),  # another run's, created before this task's first try (after the run started)
        job(2, 1, status="stopping"),  # this task's try 1 job, being stopped: not adoptable
        job(3, 2),  # this task's job
        job(4, 3, variables={"N": "11"}),  # other variables
        job(5, 4),  # another run's, started later
        job(6, 320),  # created after this try started: not an earlier try's
    ]
    op = XplentyRunJobOperator(task_id="run", cluster_id=1, package_id=101, variables={"N": 10})
    hook = ListingHook(jobs)
    op.__dict__["hook"] = hook
    context = {
        "ti": SimpleNamespace(try_number=2, start_date=this_try, xcom_push=lambda **kw: None),
        "dag_run": SimpleNamespace(start_date=run_start),
    }
    if with_store:
        context["task_state_store"] = FakeStore({FIRST_TRY_STARTED_KEY: first_try.isoformat()})
    # with the store the window starts at the first try; without it, at the DAG run's start, so the
    # other run's job 1 is the residual case (docs/operators.md)
    assert op.submit_job(context) == (3 if with_store else 1)
    assert hook.started == []


def test_variables_with_non_string_names_are_rejected_clearly(emu):
    from airflow_provider_xplenty.exceptions import XplentyConfigError

    # the name is known when the DAG is parsed: the operator refuses it there
    with pytest.raises(XplentyConfigError, match="variable names must be non-empty strings"):
        run_job_task(variables={1: "'x'"})
    assert emu.jobs() == []


def test_literal_variables_are_rendered_then_sent_as_quoted_literals(emu, register_dag):
    cluster_id = available_cluster(emu)
    with new_dag("run_literals") as dag:
        set_params(dag, {"cluster_id": cluster_id, "path": "/in/it's"})
        run_job_task(
            variables={"N": 10},
            literal_variables={"InputPath": "{{ params.path }}/{{ task.task_id }}", "Count": 3},
        )
    dr = run_dag(dag, register_dag)
    assert states(dr) == {"run_job": "success"}
    (job,) = emu.jobs()
    assert job["variables"] == {"N": "10", "InputPath": "'/in/it\\'s/run_job'", "Count": "'3'"}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"variables": {"In put": "'x'"}}, r"^variables: variable name 'In put' is not valid"),
        ({"literal_variables": {"a=b": "x"}}, r"^literal_variables: variable name 'a=b' is not valid"),
        ({"dynamic_variables": {"1st": "CurrentTime()"}}, r"^dynamic_variables: variable name '1st'"),
        ({"variables": {"P": "'a'"}, "literal_variables": {"P": "a"}}, "'P' given in both"),
        ({"literal_variables": {"P": "a\x00"}}, r"'P' contains U\+0000"),
        ({"literal_variables": {"P": None}}, "'P' is None"),
        ({"literal_variables": {"P": ["a"]}}, "'P' must be plain text"),
        ({"variables": {"P": "'" + "a" * 70_000 + "'"}}, "'P' is longer than 65536 bytes"),
    ],
    ids=["space", "equals", "leading-digit", "twice", "nul", "none", "list", "oversize"],
)
def test_known_variables_are_refused_when_the_dag_is_parsed(kwargs, match):
    from airflow_provider_xplenty.exceptions import XplentyConfigError

    with pytest.raises(XplentyConfigError, match=match):
        XplentyRunJobOperator(task_id="t", cluster_id=1, package_id=101, **kwargs)


@pytest.mark.parametrize(
    ("literals", "match"),
    [
        ({"P": "{{ params.value }}"}, r"literal_variables: value of 'P' contains '\$'"),
        ("{{ params.value }}", "literal_variables must be a dict of variable name to value, got str"),
    ],
    ids=["value", "whole"],
)
def test_rendered_variables_are_checked_before_any_request(emu, register_dag, literals, match):
    import re

    cluster_id = available_cluster(emu)
    seen, on_failure = failure_recorder()
    with new_dag("run_bad_literal", on_failure_callback=on_failure) as dag:
        set_params(dag, {"cluster_id": cluster_id, "value": "a $HOME"})
        run_job_task(literal_variables=literals)
    before = len(emu.requests()["requests"])
    dr = run_dag(dag, register_dag)
    assert states(dr) == {"run_job": "failed"}
    assert len(seen) == 1 and re.search(match, seen[0]), seen
    assert emu.requests()["requests"][before:] == []
    assert emu.jobs() == []


def test_reattach_search_compares_literal_variables_as_sent():
    """A retry adopts the job whose variables equal the quoted literals, not the unquoted text."""
    from airflow_provider_xplenty.models import Job

    run_start = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)

    def job(job_id, variables):
        return Job(
            id=job_id,
            status="running",
            cluster_id=1,
            package_id=101,
            variables=variables,
            created_at=run_start + timedelta(seconds=job_id),
        )

    op = XplentyRunJobOperator(task_id="run", cluster_id=1, package_id=101, literal_variables={"P": "/x"})
    hook = ListingHook([job(1, {"P": "/x"}), job(2, {"P": "'/x'"})])
    op.__dict__["hook"] = hook
    context = {
        "ti": SimpleNamespace(
            try_number=2, start_date=run_start + timedelta(seconds=60), xcom_push=lambda **kw: None
        ),
        "dag_run": SimpleNamespace(start_date=run_start),
    }
    assert op.submit_job(context) == 2
    assert hook.started == []


def test_durable_is_not_a_second_switch():
    with pytest.raises(ValueError, match="reattach"):
        XplentyRunJobOperator(task_id="t", cluster_id=1, package_id=1, durable=False)


def test_retry_reattaches_when_the_api_clock_runs_ahead(emu):
    """Emulator x60, 10 min ahead: try 1's job looks "newer" than the retry's start; still adopted."""
    from airflow_provider_xplenty.hooks.xplenty import XplentyHook

    cluster_id = available_cluster(emu)
    emu.set_speed(60.0, durations={**FAST_JOBS, "job_running": 3600})
    run_start = datetime.now(timezone.utc) - timedelta(seconds=10)
    emu.advance(600)
    first = XplentyHook().run_job(cluster_id, 101, variables={"N": "10"})  # what try 1 started
    context = {
        "ti": SimpleNamespace(
            try_number=2, start_date=datetime.now(timezone.utc), xcom_push=lambda **kw: None
        ),
        "dag_run": SimpleNamespace(start_date=run_start),
    }
    op = run_job_task(cluster_id=cluster_id, variables={"N": 10})
    assert op.submit_job(context) == first.id
    assert len(emu.jobs()) == 1


@pytest.mark.parametrize("deferrable", [False, True], ids=["blocking", "deferrable"])
def test_timeout_message_says_when_the_job_could_not_be_stopped(emu, register_dag, deferrable):
    """DELETE fails: the task fails saying the job may still run, not that it was stopped."""
    cluster_id = available_cluster(emu)
    emu.set_speed(1.0, durations={**FAST_JOBS, "job_running": 60})
    emu.add_fault(kind="server_error", status=500, path_contains="/jobs/", method="DELETE", count=10**6)
    seen, on_failure = failure_recorder()
    with new_dag("run_timeout_stop_fails", on_failure_callback=on_failure) as dag:
        set_params(dag, {"cluster_id": cluster_id})
        run_job_task(deferrable=deferrable, timeout=1)
    dr = run_dag(dag, register_dag)
    emu.clear_faults()
    assert states(dr) == {"run_job": "failed"}
    assert emu.jobs()[0]["status"] in ("idle", "pending", "running")
    assert "could NOT be stopped" in seen[0] and "the job was stopped" not in seen[0], seen


class SkewedListingHook(ListingHook):
    """ListingHook whose API clock is ``skew`` off this machine's clock."""

    def __init__(self, jobs, skew):
        super().__init__(jobs)
        self.skew = skew

    def get_server_clock_skew(self):
        # Measuring it from the ``Date`` header is tested against the emulator in test_hook_flows.py.
        return self.skew


def test_retry_reattaches_when_the_api_clock_runs_behind():
    """API clock an hour behind Airflow's (as the hook measures it): try 1's job is still found."""
    from airflow_provider_xplenty.models import Job

    skew = timedelta(hours=-1)
    run_start = datetime.now(timezone.utc) - timedelta(seconds=60)
    job = Job(
        id=3,
        status="running",
        cluster_id=1,
        package_id=101,
        variables={"N": "10"},
        created_at=run_start + timedelta(seconds=10) + skew,
    )
    op = XplentyRunJobOperator(task_id="run", cluster_id=1, package_id=101, variables={"N": 10})
    hook = SkewedListingHook([job], skew)
    op.__dict__["hook"] = hook
    context = {
        "ti": SimpleNamespace(
            try_number=2, start_date=datetime.now(timezone.utc), xcom_push=lambda **kw: None
        ),
        "dag_run": SimpleNamespace(start_date=run_start),
    }
    assert op.submit_job(context) == 3
    assert hook.started == []


@pytest.mark.parametrize("deferrable", [False, True], ids=["blocking", "deferrable"])
def test_giving_up_on_api_errors_says_what_happens_to_the_job(emu, register_dag, deferrable):
    """Blocking and deferred waits fail alike after API errors: the message says the job keeps running."""
    cluster_id = available_cluster(emu)
    emu.set_speed(1.0, durations={**FAST_JOBS, "job_running": 60})
    watch = when(lambda: running_job(emu) is not None, lambda: fail_status_reads(emu, "jobs"))
    seen, on_failure = failure_recorder()
    with new_dag("run_api_errors", on_failure_callback=on_failure) as dag:
        set_params(dag, {"cluster_id": cluster_id})
        run_job_task(deferrable=deferrable, transient_error_timeout=0)
    dr = run_dag(dag, register_dag)
    watch.check()
    assert states(dr) == {"run_job": "failed"}
    assert "Error while waiting for Xplenty job" in seen[0], seen
    assert "keeps running (no retry will wait on it)" in seen[0], seen


@pytest.mark.parametrize("deferrable", [False, True], ids=["blocking", "deferrable"])
def test_execution_timeout_without_stop_on_kill_leaves_the_job_running(emu, register_dag, deferrable):
    """stop_on_kill=False: execution_timeout does not stop the job, in a worker or deferred."""
    cluster_id = available_cluster(emu)
    emu.set_speed(1.0, durations={**FAST_JOBS, "job_running": 60})
    with new_dag("run_exec_timeout_keep") as dag:
        set_params(dag, {"cluster_id": cluster_id})
        run_job_task(deferrable=deferrable, stop_on_kill=False, execution_timeout=timedelta(seconds=1.5))
    dr = run_dag(dag, register_dag)
    assert states(dr) == {"run_job": "failed"}
    assert emu.jobs()[0]["status"] not in STOPPED


class RefusingStopHook:
    """The hook's stop flow answering as for DELETE jobs/7 refused with ``code`` and a job in ``status``.

    The flow itself (``stop_job_and_confirm``) is tested against the emulator in
    ``tests/hooks/test_hook_flows.py``; here only what the operator does with its outcome matters.
    """

    def __init__(self, code, status):
        self.code, self.status = code, status

    def stop_job_and_confirm(self, job_id):
        from airflow_provider_xplenty.exceptions import XplentyRejectedError

        if self.status is None:
            return None
        if self.status == "running":
            raise XplentyRejectedError(self.code, "refused")
        return self.status


def test_a_refused_stop_of_a_running_job_is_reported_not_raised():
    op = XplentyRunJobOperator(task_id="run", cluster_id=1, package_id=101)
    op.__dict__["hook"] = RefusingStopHook(422, "running")
    op.job_id = 7
    assert op._stop_job("test") is False
    op.__dict__["hook"] = RefusingStopHook(404, None)
    assert op._stop_job("test") is True
