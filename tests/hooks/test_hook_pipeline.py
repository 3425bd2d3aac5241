"""The shared pipeline in isolation: retry classifier, back-off, error mapping, parsing."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from requests.structures import CaseInsensitiveDict

from airflow_provider_xplenty.exceptions import XplentyApiError
from airflow_provider_xplenty.hooks import _pipeline as pl
from airflow_provider_xplenty.models import Job

CFG = pl.ClientConfig(conn_id="xp", base_url="https://api.xplenty.com", account_id="acme", api_key="k" * 20)


def resp(status: int, text: str = "", **headers: str) -> pl.RawResponse:
    return pl.RawResponse(
        status, CaseInsensitiveDict({k.replace("_", "-"): v for k, v in headers.items()}), text
    )


GET = pl.ENDPOINTS["get_job"]
POST_JOB = pl.ENDPOINTS["run_job"]
POST_SCHEDULE = pl.ENDPOINTS["create_schedule"]


def test_endpoint_table_is_complete_and_consistent() -> None:
    for name, ep in pl.ENDPOINTS.items():
        assert ep.method in {"GET", "POST", "PUT", "DELETE"}, name
        assert ep.idempotent == (ep.method != "POST"), name
    assert {n for n, e in pl.ENDPOINTS.items() if e.reconcilable} == {"run_job", "create_cluster"}


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors(status: int) -> None:
    assert pl.classify(GET, resp(status)).retry
    decision = pl.classify(POST_JOB, resp(status))
    assert decision.retry and decision.unknown_outcome
    assert not pl.classify(POST_SCHEDULE, resp(status)).retry


@pytest.mark.parametrize("status", [400, 401, 403, 404, 406, 415, 422])
def test_client_errors_not_retried(status: int) -> None:
    assert not pl.classify(GET, resp(status)).retry
    assert not pl.classify(POST_JOB, resp(status)).retry


def test_429_always_retried_with_retry_after() -> None:
    for ep in (GET, POST_JOB, POST_SCHEDULE):
        decision = pl.classify(ep, resp(429, Retry_After="7"))
        assert decision.retry and not decision.unknown_outcome and decision.retry_after == 7.0
    http_date = (datetime.now(timezone.utc) + timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert 25 <= (pl.classify(GET, resp(429, Retry_After=http_date)).retry_after or 0) <= 31
    assert pl.classify(GET, resp(429, Retry_After="soon")).retry_after is None
    exhausted = pl.classify(GET, resp(429, X_RateLimit_Remaining="0"))
    assert exhausted.budget_exhausted and "credits used up" in exhausted.reason


def test_transport_failures() -> None:
    connect = pl.TransportFailure("connect", "refused")
    for ep in (GET, POST_JOB, POST_SCHEDULE):
        assert pl.classify(ep, connect).retry
        assert not pl.classify(ep, connect).unknown_outcome
    for kind in ("read_timeout", "dropped"):
        failure = pl.TransportFailure(kind, "x")
        assert pl.classify(GET, failure).retry
        assert pl.classify(POST_JOB, failure).unknown_outcome and pl.classify(POST_JOB, failure).retry
        assert not pl.classify(POST_SCHEDULE, failure).retry


def test_backoff_numbers() -> None:
    policy = pl.RetryPolicy(retry_limit=5, retry_max_seconds=120, retry_backoff=1.0)
    plain = pl.Decision(True, "x")
    for attempt, step in [(1, 1), (2, 2), (3, 4), (4, 8), (7, 60), (20, 60)]:
        waits = {policy.wait(plain, attempt) for _ in range(20)}
        assert all(step * 0.5 <= w <= step for w in waits), (attempt, waits)
        assert len(waits) > 1  # jittered
    assert policy.wait(pl.Decision(True, "x", retry_after=9), 1) == 9
    assert 2 <= policy.wait(pl.Decision(True, "x", budget_exhausted=True), 1) <= 4


def test_error_mapping_messages() -> None:
    get_job = pl.build("get_job", {"job_id": 42})
    err = pl.api_error(CFG, get_job, resp(404, '{"message": "Job not found."}'))
    assert isinstance(err, XplentyApiError) and err.status_code == 404
    assert "Job 42 was not found in account `acme`" in str(err) and "Job not found." in err.message
    out = pl.build("preview_output", {"job_id": 5, "output_id": 9})
    assert "Output 9 of job 5 was not found" in pl.api_error(CFG, out, resp(404, "{}")).message
    listing = pl.api_error(CFG, pl.build("list_jobs"), resp(404, '{"message": "Account not found."}'))
    assert "check the account id `acme`" in listing.message
    auth = pl.api_error(CFG, get_job, resp(401, '{"message": "Unauthorized"}'))
    assert "check the API key of connection `xp`" in auth.message
    assert "permission" in pl.api_error(CFG, get_job, resp(403, "")).message.lower()
    unproc = pl.api_error(
        CFG, pl.build("run_job", body={}), resp(422, '{"message": "Bad nodes.", "errors": {"nodes": ["x"]}}')
    )
    assert unproc.status_code == 422 and "Bad nodes." in unproc.message and '"nodes"' in unproc.message
    assert (unproc.method, unproc.path) == ("POST", "jobs")
    # message, then error_message, then raw text
    assert pl.api_error(CFG, get_job, resp(400, '{"error_message": "bad conn"}')).message == "bad conn"
    assert pl.api_error(CFG, get_job, resp(500, "Cluster not found.")).message == "Cluster not found."
    assert pl.api_error(CFG, get_job, resp(502, "")).message == "HTTP 502"
    assert CFG.api_key not in repr(CFG)


def test_parse_body_and_server_time() -> None:
    request = pl.build("get_job", {"job_id": 1})
    assert pl.parse_body(request, resp(200, '{"id": 1}')) == {"id": 1}
    assert pl.parse_body(request, resp(204)) is None
    with pytest.raises(XplentyApiError, match="invalid JSON"):
        pl.parse_body(request, resp(200, "<html>"))
    when = pl.server_time(resp(200, Date="Wed, 25 Nov 2026 14:00:00 GMT"))
    assert when == datetime(2026, 11, 25, 14, tzinfo=timezone.utc)
    assert pl.server_time(resp(200)) is None


def test_query_building() -> None:
    request = pl.build(
        "list_jobs",
        params={"since": datetime(2026, 1, 2, 3, 4, 5), "status": None, "package_id": 7, "flag": True},
    )
    assert request.params == {"since": "2026-01-02T03:04:05Z", "package_id": "7", "flag": "true"}
    paged = pl.page(request, 200)
    assert paged.params["offset"] == "200" and paged.params["limit"] == "100"


def test_reconciler_matching() -> None:
    body = {"cluster_id": 1, "package_id": 2, "variables": {"A": "'x'", "N": 3}}
    rec = pl.job_reconciler(body, dict)
    assert rec.snapshot_request().params == {
        "package_id": "2",
        "sort": "created",
        "direction": "desc",
        "offset": "0",
        "limit": "1",
    }
    floor = pl.Reconciler.floor([{"id": 10, "created_at": "2026-01-01T12:00:00Z"}])
    assert floor == pl.Floor(10, "2026-01-01T12:00:00Z")
    assert pl.Reconciler.floor([]) == pl.Floor()
    assert rec.request_after(floor).params["since"] == "2026-01-01T12:00:00Z"
    assert "since" not in rec.request_after(pl.Floor()).params
    item = {"id": 11, "cluster_id": 1, "package_id": 2, "variables": {"A": "'x'", "N": "3"}}
    assert rec.pick(item, floor) is True
    assert rec.pick({**item, "id": 10}, floor) is None  # older than the call: stop looking
    assert rec.pick({**item, "cluster_id": 9}, floor) is False
    assert rec.pick({**item, "variables": {"A": "'y'", "N": "3"}}, floor) is False
    assert rec.pick({**item, "dynamic_variables": {"D": "x"}}, floor) is False
    crec = pl.cluster_reconciler({"name": "airflow-abc", "type": "sandbox"}, dict)
    assert crec.pick({"id": 1, "name": "airflow-abc", "type": "sandbox"}, pl.Floor()) is True
    assert crec.pick({"id": 1, "name": "airflow-abd", "type": "sandbox"}, pl.Floor()) is False
    assert pl.generated_cluster_name() != pl.generated_cluster_name()


def test_variables_are_normalised_to_strings() -> None:
    assert pl.normalise_variables({"N": 10, "F": True, "R": 0.5, "P": "'/x'"}) == {
        "N": "10",
        "F": "True",
        "R": "0.5",
        "P": "'/x'",
    }
    assert pl.normalise_variables(None) == {}
    assert pl.check_variables({"N": 10, "F": False}) == {"N": "10", "F": "False"}


def test_job_matches_dicts_and_models() -> None:
    item = {"id": 1, "status": "idle", "cluster_id": 1, "package_id": 2, "variables": {"N": "10"}}
    assert pl.job_matches(item, 1, 2, {"N": 10})
    assert pl.job_matches(Job.model_validate(item), 1, 2, {"N": "10"}, {"D": "x"})  # dyn not reported
    assert not pl.job_matches(item, 1, 2, {"N": 11})
    assert not pl.job_matches(item, 9, 2, {"N": 10})
    assert not pl.job_matches({**item, "package_id": 3}, 1, 2, {"N": 10})
    assert pl.job_matches({**item, "variables": None}, 1, 2, None)
    assert pl.job_matches({**item, "dynamic_variables": {"D": 5}}, 1, 2, {"N": 10}, {"D": "5"})
    assert not pl.job_matches({**item, "dynamic_variables": {"D": "x"}}, 1, 2, {"N": 10}, {"D": "y"})


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
        outcome = None if isinstance(step, pl.Wait) else outcomes.pop(0)


PLANS = pl.Plans(CFG, pl.RetryPolicy(retry_limit=2, retry_backoff=0.001), logging.getLogger("test"))


def test_plan_adopts_after_lost_create_response() -> None:
    body = {"cluster_id": 1, "package_id": 2, "variables": {"N": "10"}}
    op = pl.Op(pl.build("run_job", body=body), dict, reconciler=pl.job_reconciler(body, dict))
    ours = {"id": 6, "cluster_id": 1, "package_id": 2, "variables": {"N": "10"}}
    result, steps = _drive(
        PLANS.call(op),
        [
            resp(200, json.dumps([{"id": 5, "created_at": "2026-01-01T00:00:00Z"}])),  # the floor
            pl.TransportFailure("dropped", "connection reset"),  # the POST: outcome unknown
            resp(200, json.dumps([ours])),  # the look-up finds it
        ],
    )
    assert result == ours
    assert [s.name if isinstance(s, pl.ApiRequest) else "wait" for s in steps] == [
        "list_jobs",
        "run_job",
        "wait",
        "list_jobs",
    ]
    assert steps[3].params["since"] == "2026-01-01T00:00:00Z"


def test_plan_gives_up_within_bounds() -> None:
    with pytest.raises(XplentyApiError, match=r"gave up after 3 attempt\(s\)") as exc:
        _drive(PLANS.send(pl.build("get_job", {"job_id": 1})), [resp(503)] * 3)
    assert exc.value.status_code == 503


def test_plan_retry_is_decided_by_tenacity_and_slept_by_the_driver(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """tenacity decides; the plan yields the waits (Retry-After first, then back-off) and never sleeps."""

    def no_sleep(seconds: float) -> None:
        raise AssertionError("shared code must not sleep")

    monkeypatch.setattr(pl.time, "sleep", no_sleep)
    with caplog.at_level(logging.WARNING, logger="test"):
        result, steps = _drive(
            PLANS.send(pl.build("get_job", {"job_id": 1})),
            [resp(429, Retry_After="7"), resp(503), resp(200, json.dumps({"id": 1}))],
        )
    assert result == {"id": 1}
    assert [type(s).__name__ for s in steps] == ["ApiRequest", "Wait", "ApiRequest", "Wait", "ApiRequest"]
    assert steps[1] == pl.Wait(7.0) and 0.001 <= steps[3].seconds <= 0.002  # 2nd step: 0.001 * 2, jittered
    assert [r.getMessage() for r in caplog.records] == [
        "Xplenty API GET jobs/1 failed: HTTP 429 rate limited; retry 1 of 2 in 7.00 s",
        f"Xplenty API GET jobs/1 failed: HTTP 503; retry 2 of 2 in {steps[3].seconds:.2f} s",
    ]


def test_plan_does_not_wait_past_the_time_budget() -> None:
    plans = pl.Plans(CFG, pl.RetryPolicy(retry_limit=5, retry_max_seconds=10), logging.getLogger("test"))
    with pytest.raises(XplentyApiError, match=r"gave up after 1 attempt\(s\)"):
        _drive(plans.send(pl.build("get_job", {"job_id": 1})), [resp(429, Retry_After="11")])
