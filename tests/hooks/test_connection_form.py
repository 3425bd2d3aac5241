"""Airflow lists the provider and shows its connection form, on every supported Airflow version.

Each check runs Airflow in a fresh process: the ProvidersManager caches what it discovered.
2.11 builds the form from the hook's ``get_connection_form_widgets`` / ``get_ui_field_behaviour``
(Flask AppBuilder UI), 3.1 from the same methods (React UI, its own stand-ins for wtforms), 3.2+
from the provider info's ``conn-fields`` / ``ui-field-behaviour``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _airflow_compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_1_PLUS

from airflow_provider_xplenty.hooks.xplenty import XplentyHook

AIRFLOW = str(Path(sys.executable).parent / "airflow")
LABELS = {"login": "Account ID", "password": "API Key", "host": "API host"}


def run(*args: str) -> str:
    """Run a command; return the last line of its output (JSON; Airflow may log before it)."""
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def test_airflow_providers_list_shows_the_provider():
    out = run(AIRFLOW, "providers", "list", "--output", "json")
    assert "airflow-provider-xplenty" in {p["package_name"] for p in json.loads(out)}


def test_hook_methods_describe_the_same_form_as_the_provider_info():
    """The form of 2.11-3.1 (hook methods) and of 3.2+ (provider info) have the same labels."""
    behaviour = XplentyHook.get_ui_field_behaviour()
    assert behaviour["relabeling"] == LABELS
    assert set(behaviour["hidden_fields"]) == {"schema", "port", "extra"}
    assert behaviour["placeholders"]["host"] == "https://api.xplenty.com"


@pytest.mark.skipif(AIRFLOW_V_3_0_PLUS, reason="Airflow 2.11's Flask AppBuilder form only")
def test_airflow_2_form_has_the_timeout_field_and_the_labels():
    widgets = json.loads(run(AIRFLOW, "providers", "widgets", "--output", "json"))
    ours = [w for w in widgets if w["connection_parameter_name"] == "extra__xplenty__timeout"]
    assert [w["field_type"] for w in ours] == ["StringField"], widgets
    code = (
        "import json\n"
        "from airflow.providers_manager import ProvidersManager\n"
        "print(json.dumps(ProvidersManager().field_behaviours.get('xplenty')))\n"
    )
    assert json.loads(run(sys.executable, "-c", code))["relabeling"] == LABELS


@pytest.mark.skipif(
    not AIRFLOW_V_3_1_PLUS, reason="Airflow 3.0 shows custom fields only with the FAB provider"
)
def test_airflow_3_form_has_the_timeout_field_and_the_labels():
    code = (
        "import json\n"
        "from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService\n"
        "meta = [m.model_dump() for m in HookMetaService.hook_meta_data()\n"
        "        if m.connection_type == 'xplenty']\n"
        "print(json.dumps(meta, default=str))\n"
    )
    (meta,) = json.loads(run(sys.executable, "-c", code))
    assert "timeout" in json.dumps(meta["extra_fields"]), meta
    assert meta["standard_fields"]["login"]["title"] == "Account ID", meta["standard_fields"]
    assert meta["standard_fields"]["password"]["title"] == "API Key"
