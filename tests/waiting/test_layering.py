"""The layering of the package holds: who may import whom, and Airflow only through ``_compat``."""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "airflow_provider_xplenty"
NAME = PACKAGE.name

#: What operators and sensors may import from the package.
TASK_LAYER_MAY_IMPORT = (
    f"{NAME}._compat",
    f"{NAME}._waiting",
    f"{NAME}.exceptions",
    f"{NAME}.hooks.xplenty",
    f"{NAME}.links",
    f"{NAME}.models",
    f"{NAME}.triggers.xplenty",
    f"{NAME}.variables",
)
#: Packages whose Airflow imports all go through ``_compat``.
COMPAT_USERS = ("_waiting", "hooks", "links", "notifications", "operators", "sensors", "triggers")


def imports_of(path: pathlib.Path) -> set[str]:
    """Every module a file imports (top level, in functions, under TYPE_CHECKING)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def modules(*subpackages: str) -> list[pathlib.Path]:
    return sorted(p for sub in subpackages for p in (PACKAGE / sub).rglob("*.py"))


def within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(f"{p}.") for p in prefixes)


@pytest.mark.parametrize("path", modules("operators", "sensors"), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_operators_and_sensors_import_only_the_layers_below(path):
    own = f"{NAME}.{path.parent.name}"
    other = f"{NAME}.sensors" if path.parent.name == "operators" else f"{NAME}.operators"
    package_imports = {m for m in imports_of(path) if m.startswith(f"{NAME}.")}
    assert not {m for m in package_imports if within(m, (other,))}, "operators and sensors stay apart"
    stray = {m for m in package_imports if not within(m, (*TASK_LAYER_MAY_IMPORT, own))}
    assert not stray, stray


@pytest.mark.parametrize("path", modules("_waiting"), ids=lambda p: p.name)
def test_waiting_sits_below_the_tasks(path):
    above = (f"{NAME}.operators", f"{NAME}.sensors", f"{NAME}.notifications", f"{NAME}.links")
    if path.name != "task.py":  # the one module above the triggers: it defers to them
        above += (f"{NAME}.triggers",)
    assert not {m for m in imports_of(path) if within(m, above)}


TOP_LEVEL = sorted(p for p in PACKAGE.glob("*.py") if p.name != "_compat.py")


@pytest.mark.parametrize(
    "path", modules(*COMPAT_USERS) + TOP_LEVEL, ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_airflow_is_imported_only_through_compat(path):
    assert not {m for m in imports_of(path) if within(m, ("airflow",))}


def test_parsing_a_dag_loads_no_hook_trigger_or_model(tmp_path):
    """Importing the operators and sensors (what a DAG file does) leaves the heavy parts unloaded.

    Their import cost is measured in ``make bench`` (``benchmarks/import_cost.py``); this keeps it
    from growing back unnoticed: the hook, the triggers, the pydantic views, the SMTP provider and
    Airflow's trigger base load on first use only.
    """
    import json
    import os
    import subprocess
    import sys

    probe = (
        "import json, sys\n"
        "try:\n"
        "    import airflow.sdk\n"
        "except ImportError:  # Airflow 2.11: a DAG file imports the operator base from core\n"
        "    import airflow.models.baseoperator\n"
        "before = set(sys.modules)\n"
        "import airflow_provider_xplenty.operators.job, airflow_provider_xplenty.operators.cluster\n"
        "import airflow_provider_xplenty.sensors.job, airflow_provider_xplenty.sensors.cluster\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))  # what the provider's imports added
    assert f"{NAME}.operators.job" in loaded  # the probe really imported the operators
    heavy = {
        f"{NAME}.hooks.xplenty",
        f"{NAME}.objects",
        f"{NAME}.triggers.xplenty",
        "airflow.triggers.base",
        "airflow.providers.smtp.notifications.smtp",
    }
    assert not heavy & loaded, sorted(heavy & loaded)
