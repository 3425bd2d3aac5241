"""The shared HTTP layer (``hooks._http``) alone: retry classifier, back-off, errors, parsing, plans."""

from __future__ import annotations

import json
import logging
import pickle
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from requests.structures import CaseInsensitiveDict

from airflow_provider_xplenty.exceptions import XplentyApiError, XplentyNotFoundError, XplentyRejectedError
from airflow_provider_xplenty.hooks._http.config import ClientConfig
from airflow_provider_xplenty.hooks._http.endpoints import ENDPOINTS
from airflow_provider_xplenty.hooks._http.errors import api_error, gave_up_error
from airflow_provider_xplenty.hooks._http.plans import Op, Plans, Wait
from airflow_provider_xplenty.hooks._http.reconcile import (
    Floor,
    Reconciler,
    cluster_reconciler,
    generated_cluster_name,
    job_matches,
    job_reconciler,
)
from airflow_provider_xplenty.hooks._http.retry import Decision, RetryPolicy, classify
from airflow_provider_xplenty.hooks._http.variables import check_variables, normalise_variables
from airflow_provider_xplenty.hooks._http.wire import (
    ApiRequest,
    RawResponse,
    TransportFailure,
    build,
    page,
    parse_body,
    server_time,
)
from airflow_provider_xplenty.models import Job

CFG = ClientConfig(conn_id="xp", base_url="https://api.xplenty.com", account_id="acme", api_key="k" * 20)


def resp(status: int, text: str = "", **headers: str) -> RawResponse:
    return RawResponse(
        status, CaseInsensitiveDict({k.replace("_", "-"): v for k, v in headers.items()}), text
    )


GET = ENDPOINTS["get_job"]
POST_JOB = ENDPOINTS["run_job"]
POST_SCHEDULE = ENDPOINTS["create_schedule"]


def test_endpoint_table_is_complete_and_consistent() -> None:
    for name, ep in ENDPOINTS.items():
        assert ep.method in {"GET", "POST", "PUT", "DELETE"}, name
        assert ep.idempotent == (ep.method != "POST"), name
    assert {n for n, e in ENDPOINTS.items() if e.reconcilable} == {"run_job", "create_cluster"}


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors(status: int) -> None:
    assert classify(GET, resp(status)).retry
    decision = classify(POST_JOB, resp(status))
    assert decision.retry and decision.unknown_outcome
    assert not classify(POST_SCHEDULE, resp(status)).retry


@pytest.mark.parametrize("status", [400, 401, 403, 404, 406, 415, 422])
def test_client_errors_not_retried(status: int) -> None:
    assert not classify(GET, resp(status)).retry
    assert not classify(POST_JOB, resp(status)).retry


def test_429_always_retried_with_retry_after() -> None:
    for ep in (GET, POST_JOB, POST_SCHEDULE):
        decision = classify(ep, resp(429, Retry_After="7"))
        assert decision.retry and not decision.unknown_outcome and decision.retry_after == 7.0
    http_date = (datetime.now(timezone.utc) + timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert 25 <= (classify(GET, resp(429, Retry_After=http_date)).retry_after or 0) <= 31
    assert classify(GET, resp(429, Retry_After="soon")).retry_after is None
    exhausted = classify(GET, resp(429, X_RateLimit_Remaining="0"))
    assert exhausted.budget_exhausted and "credits used up" in exhausted.reason


def test_transport_failures() -> None:
    connect = TransportFailure("connect", "refused")
    for ep in (GET, POST_JOB, POST_SCHEDULE):
        assert classify(ep, connect).retry
        assert not classify(ep, connect).unknown_outcome
    for kind in ("read_timeout", "dropped"):
        failure = TransportFailure(kind, "x")
        assert classify(GET, failure).retry
        assert classify(POST_JOB, failure).unknown_outcome and classify(POST_JOB, failure).retry
        assert not classify(POST_SCHEDULE, failure).retry


def test_backoff_numbers() -> None:
    policy = RetryPolicy(retry_limit=5, retry_max_seconds=120, retry_backoff=1.0)
    plain = Decision(True, "x")
    for attempt, step in [(1, 1), (2, 2), (3, 4), (4, 8), (7, 60), (20, 60)]:
        waits = {policy.wait(plain, attempt) for _ in range(20)}
        assert all(step * 0.5 <= w <= step for w in waits), (attempt, waits)
        assert len(waits) > 1  # jittered
    assert policy.wait(Decision(True, "x", retry_after=9), 1) == 9
    assert 2 <= policy.wait(Decision(True, "x", budget_exhausted=True), 1) <= 4


def test_error_mapping_messages() -> None:
    get_job = build("get_job", {"job_id": 42})
    err = api_error(CFG, get_job, resp(404, '{"message": "Job not found."}'))
    assert isinstance(err, XplentyApiError) and err.status_code == 404
    assert "Job 42 was not found in account `acme`" in str(err) and "Job not found." in err.message
    out = build("preview_output", {"job_id": 5, "output_id": 9})
    assert "Output 9 of job 5 was not found" in api_error(CFG, out, resp(404, "{}")).message
    listing = api_error(CFG, build("list_jobs"), resp(404, '{"message": "Account not found."}'))
    assert "check the account id `acme`" in listing.message
    auth = api_error(CFG, get_job, resp(401, '{"message": "Unauthorized"}'))
    assert "check the API key of connection `xp`" in auth.message
    assert "permission" in api_error(CFG, get_job, resp(403, "")).message.lower()
    unproc = api_error(
        CFG, build("run_job", body={}), resp(422, '{"message": "Bad nodes.", "errors": {"nodes": ["x"]}}')
    )
    assert unproc.status_code == 422 and "Bad nodes." in unproc.message and '"nodes"' in unproc.message
    assert (unproc.method, unproc.path) == ("POST", "jobs")
    # message, then error_message, then raw text
    assert api_error(CFG, get_job, resp(400, '{"error_message": "bad conn"}')).message == "bad conn"
    assert api_error(CFG, get_job, resp(500, "Cluster not found.")).message == "Cluster not found."
    assert api_error(CFG, get_job, resp(502, "")).message == "HTTP 502"
    assert CFG.api_key not in repr(CFG)


def test_error_types() -> None:
    """404 and 422 raise their own subclasses, which stay XplentyApiError with status_code (and pickle)."""
    get_job = build("get_job", {"job_id": 42})
    for status, kind in [(404, XplentyNotFoundError), (422, XplentyRejectedError)]:
        err = api_error(CFG, get_job, resp(status, '{"message": "x"}'))
        assert type(err) is kind and isinstance(err, XplentyApiError) and err.status_code == status
        copy = pickle.loads(pickle.dumps(err))
        assert type(copy) is kind
        assert (copy.status_code, copy.message, copy.path) == (status, err.message, "jobs/42")
        assert type(gave_up_error(err, 3, 1.0)) is kind
    assert type(api_error(CFG, build("list_jobs"), resp(404, "{}"))) is XplentyNotFoundError
    for status in (400, 401, 403, 429, 500, 503):
        assert type(api_error(CFG, get_job, resp(status, "{}"))) is XplentyApiError


def test_parse_body_and_server_time() -> None:
    request = build("get_job", {"job_id": 1})
    assert parse_body(request, resp(200, '{"id": 1}')) == {"id": 1}
    assert parse_body(request, resp(204)) is None
    with pytest.raises(XplentyApiError, match="invalid JSON"):
        parse_body(request, resp(200, "<html>"))
    when = server_time(resp(200, Date="Wed, 25 Nov 2026 14:00:00 GMT"))
    assert when == datetime(2026, 11, 25, 14, tzinfo=timezone.utc)
    assert server_time(resp(200)) is None


def test_query_building() -> None:
    request = build(
        "list_jobs",
        params={"since": datetime(2026, 1, 2, 3, 4, 5), "status": None, "package_id": 7, "flag": True},
    )
    assert request.params == {"since": "2026-01-02T03:04:05Z", "package_id": "7", "flag": "true"}
    paged = page(request, 200)
    assert paged.params["offset"] == "200" and paged.params["limit"] == "100"


def test_reconciler_matching() -> None:
    body = {"cluster_id": 1, "package_id": 2, "variables": {"A": "'x'", "N": 3}}
    rec = job_reconciler(body, dict)
    assert rec.snapshot_request().params == {
        "package_id": "2",
        "sort": "created",
        "direction": "desc",
        "offset": "0",
        "limit": "1",
    }
    floor = Reconciler.floor([{"id": 10, "created_at": "2026-01-01T12:00:00Z"}])
    assert floor == Floor(10, "2026-01-01T12:00:00Z")
    assert Reconciler.floor([]) == Floor()
    assert rec.request_after(floor).params["since"] == "2026-01-01T12:00:00Z"
    assert "since" not in rec.request_after(Floor()).params
    item = {"id": 11, "cluster_id": 1, "package_id": 2, "variables": {"A": "'x'", "N": "3"}}
    assert rec.pick(item, floor, "acct") is True
    assert rec.pick({**item, "id": 10}, floor, "acct") is None  # older than the call: stop looking
    assert rec.pick({**item, "cluster_id": 9}, floor, "acct") is False
    assert rec.pick({**item, "variables": {"A": "'y'", "N": "3"}}, floor, "acct") is False
    assert rec.pick({**item, "dynamic_variables": {"D": "x"}}, floor, "acct") is False
    crec = cluster_reconciler({"name": "airflow-abc", "type": "sandbox"}, dict)
    assert crec.pick({"id": 1, "name": "airflow-abc", "type": "sandbox"}, Floor(), "acct") is True
    assert crec.pick({"id": 1, "name": "airflow-abd", "type": "sandbox"}, Floor(), "acct") is False
    assert generated_cluster_name() != generated_cluster_name()


def test_variables_are_normalised_to_strings() -> None:
    assert normalise_variables({"N": 10, "F": True, "R": 0.5, "P": "'/x'"}) == {
        "N": "10",
        "F": "True",
        "R": "0.5",
        "P": "'/x'",
    }
    assert normalise_variables(None) == {}
    assert check_variables({"N": 10, "F": False}) == {"N": "10", "F": "False"}


def test_job_matches_dicts_and_models() -> None:
    item = {"id": 1, "status": "idle", "cluster_id": 1, "package_id": 2, "variables": {"N": "10"}}
    assert job_matches(item, 1, 2, {"N": 10})
    assert job_matches(Job.model_validate(item), 1, 2, {"N": "10"}, {"D": "x"})  # dyn not reported
    assert not job_matches(item, 1, 2, {"N": 11})
    assert not job_matches(item, 9, 2, {"N": 10})
    assert not job_matches({**item, "package_id": 3}, 1, 2, {"N": 10})
    assert job_matches({**item, "variables": None}, 1, 2, None)
    assert job_matches({**item, "dynamic_variables": {"D": 5}}, 1, 2, {"N": 10}, {"D": "5"})
    assert not job_matches({**item, "dynamic_variables": {"D": "x"}}, 1, 2, {"N": 10}, {"D": "y"})


def _drive(plan: Any, outcomes: list[Any]) -> tuple[Any, list[Any]]:
    """Run a plan against canned outcomes (no transport): return its result and the steps it took."""
    steps: list[Any] = []
    outcome = None
    while True:
        try:
            step = plan.send(outcome)
        except StopIteration as done:
            return done.value, steps
        steps.append(step)
        outcome = None if isinstance(step, Wait) else outcomes.pop(0)


PLANS = Plans(CFG, RetryPolicy(retry_limit=2, retry_backoff=0.001), logging.getLogger("test"))


def test_plan_adopts_after_lost_create_response() -> None:
    body = {"cluster_id": 1, "package_id": 2, "variables": {"N": "10"}}
    op = Op(build("run_job", body=body), dict, reconciler=job_reconciler(body, dict))
    ours = {"id": 6, "cluster_id": 1, "package_id": 2, "variables": {"N": "10"}}
    result, steps = _drive(
        PLANS.call(op),
        [
            resp(200, json.dumps([{"id": 5, "created_at": "2026-01-01T00:00:00Z"}])),  # the floor
            TransportFailure("dropped", "connection reset"),  # the POST: outcome unknown
            resp(200, json.dumps([ours])),  # the look-up finds it
        ],
    )
    assert result == ours
    assert [s.name if isinstance(s, ApiRequest) else "wait" for s in steps] == [
        "list_jobs",
        "run_job",
        "wait",
        "list_jobs",
    ]
    assert steps[3].params["since"] == "2026-01-01T00:00:00Z"


def test_plan_gives_up_within_bounds() -> None:
    with pytest.raises(XplentyApiError, match=r"gave up after 3 attempt\(s\)") as exc:
        _drive(PLANS.send(build("get_job", {"job_id": 1})), [resp(503)] * 3)
    assert exc.value.status_code == 503


def test_plan_retry_is_decided_by_tenacity_and_slept_by_the_driver(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """tenacity decides; the plan yields the waits (Retry-After first, then back-off) and never sleeps."""

    def no_sleep(seconds: float) -> None:
        raise AssertionError("shared code must not sleep")

    monkeypatch.setattr(time, "sleep", no_sleep)
    with caplog.at_level(logging.WARNING, logger="test"):
        result, steps = _drive(
            PLANS.send(build("get_job", {"job_id": 1})),
            [resp(429, Retry_After="7"), resp(503), resp(200, json.dumps({"id": 1}))],
        )
    assert result == {"id": 1}
    assert [type(s).__name__ for s in steps] == ["ApiRequest", "Wait", "ApiRequest", "Wait", "ApiRequest"]
    assert steps[1] == Wait(7.0) and 0.001 <= steps[3].seconds <= 0.002  # 2nd step: 0.001 * 2, jittered
    assert [r.getMessage() for r in caplog.records] == [
        "Xplenty API GET jobs/1 failed: HTTP 429 rate limited; retry 1 of 2 in 7.00 s",
        f"Xplenty API GET jobs/1 failed: HTTP 503; retry 2 of 2 in {steps[3].seconds:.2f} s",
    ]


def test_plan_does_not_wait_past_the_time_budget() -> None:
    plans = Plans(CFG, RetryPolicy(retry_limit=5, retry_max_seconds=10), logging.getLogger("test"))
    with pytest.raises(XplentyApiError, match=r"gave up after 1 attempt\(s\)"):
        _drive(plans.send(build("get_job", {"job_id": 1})), [resp(429, Retry_After="11")])
