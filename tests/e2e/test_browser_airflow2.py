"""Browser test against a real Airflow 2.11 deployment: its UI is Flask AppBuilder, not Airflow 3's.

Runs in the 2.11 lane (``make test-e2e-2.11``): the stack of ``make ui-2.11`` (emulator, webserver,
scheduler, triggerer, SequentialExecutor, SQLite) in a temporary home, driven with Playwright on Debian's
chromium. The example DAGs use the connection the first test creates through the form
(``XPLENTY_CONN_ID=xplenty_ui``), so the manual run proves the saved connection works. The tests run in
file order and share one stack. Screenshots go to ``artifacts/e2e/`` (git-ignored).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from _browser import (
    api,
    browser_page,
    connection_form_shot,
    dag_runs,
    emulator_requests,
    emulator_state,
    new_run,
    only_on_airflow_2,
    read_trigger_log,
    running_stack,
    shot,
    task_states,
    wait,
    wait_run,
    xcom,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600), only_on_airflow_2]

CONN_ID = "xplenty_ui"
VARIABLES = {"InputPath": "/input_ui", "OutputPath": "/output_ui"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with running_stack(tmp_path_factory.mktemp("ui-home"), {"XPLENTY_CONN_ID": CONN_ID}) as stack:
        yield stack


@pytest.fixture(scope="module")
def page(stack: Any) -> Iterator[Any]:
    with browser_page({"width": 1280, "height": 900}) as page:
        yield page


def _label(page: Any, field_id: str) -> str:
    text: str = page.locator(f"label[for={field_id}]").inner_text()
    return text.strip()


def _test_button_message(page: Any) -> str:
    """Click the form's Test button and return the message it shows."""
    alert = page.locator(".container .row .alert")
    before = alert.inner_text()
    page.locator("#test-connection").click()
    # The message replaces what the alert box showed (at first the form's standing warning).
    page.wait_for_function(
        "before => { const box = document.querySelector('.container .row .alert');"
        " return box.offsetParent !== null && box.innerText !== before; }",
        arg=before,
    )
    text: str = alert.inner_text()
    return text


def test_connection_form_creates_a_working_xplenty_connection(stack: Any, page: Any) -> None:
    page.goto(f"{stack.url}/connection/add")
    page.locator("#conn_type").select_option("xplenty")
    # The hook's get_connection_form_widgets / get_ui_field_behaviour: relabelled fields, the timeout
    # extra, the rest hidden.
    assert _label(page, "login") == "Account ID"
    assert _label(page, "password") == "API Key"
    assert _label(page, "host") == "API host"
    assert _label(page, "extra__xplenty__timeout") == "Request timeout (seconds)"
    assert page.locator("#host").get_attribute("placeholder") == "https://api.xplenty.com"
    for hidden in ("schema", "port", "extra"):
        assert not page.locator(f"#{hidden}").is_visible(), f"form shows unused field {hidden!r}"
    assert page.locator("#password").get_attribute("type") == "password", "the API key must be masked"

    page.locator("#conn_id").fill(CONN_ID)
    page.locator("#host").fill(stack.emulator_url)
    page.locator("#login").fill("demo")
    page.locator("#extra__xplenty__timeout").fill("30")
    # The Test button posts the form as typed: XplentyHook.test_connection runs in the webserver.
    page.locator("#password").fill("not-the-key")
    message = _test_button_message(page)
    assert "API key" in message and "not-the-key" not in message, message
    page.locator("#password").fill("demo-api-key")
    message = _test_button_message(page)
    assert "Connected to Xplenty account `demo`" in message, message
    log = emulator_requests(stack)
    assert any(r["path"].endswith("/rate_limit_status") and r["status"] == 200 for r in log)
    page.evaluate("window.scrollTo(0, 0)")
    connection_form_shot(page)

    page.get_by_role("button", name="Save").click()
    wait(lambda: api(stack, "GET", f"/connections/{CONN_ID}").ok, 20, "the connection to be saved")
    saved = api(stack, "GET", f"/connections/{CONN_ID}").json()
    assert saved["conn_type"] == "xplenty"
    assert saved["login"] == "demo"
    assert saved["host"] == stack.emulator_url
    assert json.loads(saved["extra"]) == {"timeout": "30"}  # the hook's extra, unprefixed


def test_manual_run_through_the_params_form(stack: Any, page: Any) -> None:
    page.goto(f"{stack.url}/dags/xplenty_manual_run/trigger")
    # 2.11 renders an ["integer", "string"] param as a number field: a package id, not a name.
    page.locator("#element_package").fill("103")
    page.locator("#element_variables + .CodeMirror").click()
    # Paste rather than type: the JSON editor auto-closes quotes and brackets while typing.
    page.evaluate("text => navigator.clipboard.writeText(text)", json.dumps(VARIABLES))
    page.keyboard.press("Control+A")
    page.keyboard.press("Control+V")
    shot(page, "211-03-trigger-form")
    before = {r["dag_run_id"] for r in dag_runs(stack, "xplenty_manual_run")}
    page.locator("#trigger_form button[type=submit]").click()
    run = new_run(stack, "xplenty_manual_run", before)
    assert run["conf"]["package"] == 103
    assert run["conf"]["variables"] == VARIABLES
    run_id = run["dag_run_id"]
    final = wait_run(stack, "xplenty_manual_run", run_id)
    states = task_states(stack, "xplenty_manual_run", run_id)
    assert final["state"] == "success", str(states)  # a str: pytest shortens a dict
    for task_id in ("create_cluster", "run_job", "terminate_cluster"):
        assert states[task_id] == "success", str(states)

    job_id = int(xcom(stack, "xplenty_manual_run", run_id, "run_job"))
    cluster_id = int(xcom(stack, "xplenty_manual_run", run_id, "create_cluster"))
    state = emulator_state(stack)
    job = next(j for j in state["jobs"] if j["id"] == job_id)
    assert job["status"] == "completed"
    assert job["variables"] == {"InputPath": "'/input_ui'", "OutputPath": "'/output_ui'"}  # quoted
    cluster = next(c for c in state["clusters"] if c["id"] == cluster_id)
    assert cluster["status"] == "terminated"

    # The wait ran in the triggerer process, through the shared poller.
    trigger_log = read_trigger_log(stack, "xplenty_manual_run", run_id, "run_job")
    assert f"Watching Xplenty job {job_id} through the shared poller of connection {CONN_ID}" in trigger_log

    base = f"/dags/xplenty_manual_run/dagRuns/{run_id}/taskInstances/run_job"
    try_number = api(stack, "GET", base).json()["try_number"]
    task_log = api(stack, "GET", f"{base}/logs/{try_number}", headers={"Accept": "application/json"})
    assert "/input_ui" in task_log.text, "the output preview is not in the task log"

    # 2.11 computes the extra link when the page asks, from the XCom the task pushed.
    query = urlencode({"dag_run_id": run_id, "task_id": "run_job"})
    page.goto(f"{stack.url}/dags/xplenty_manual_run/grid?{query}")
    link = page.get_by_role("link", name="Xplenty Job")
    link.wait_for()
    assert link.get_attribute("href") == job["html_url"]
    shot(page, "211-04-run-job")
