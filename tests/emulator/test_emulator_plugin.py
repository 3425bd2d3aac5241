"""The pytest plugin, the EmulatorServer context manager and the command line."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time

import pytest
import requests

from airflow_provider_xplenty.emulator.__main__ import build_parser
from airflow_provider_xplenty.testing import EmulatorServer


def test_fixture_sets_connection_env_and_speed_one(xplenty_emulator):
    conn = json.loads(os.environ["AIRFLOW_CONN_XPLENTY_DEFAULT"])
    assert conn == {
        "conn_type": "xplenty",
        "host": xplenty_emulator.url,
        "password": "demo-api-key",
        "extra": {"account_id": "demo"},
    }
    assert xplenty_emulator.api_url == f"{xplenty_emulator.url}/demo/api"
    assert xplenty_emulator.account_id == "demo" and xplenty_emulator.api_key == "demo-api-key"
    assert xplenty_emulator.control("GET", "clock")["speed"] == 1
    assert xplenty_emulator.url.startswith("http://127.0.0.1:")


def test_fixture_resets_state_between_tests_part_1(xplenty_emulator):
    xplenty_emulator.session().post(
        xplenty_emulator.api_url + "/clusters", json={"nodes": 2}
    ).raise_for_status()
    assert len(xplenty_emulator.clusters()) == 1


def test_fixture_resets_state_between_tests_part_2(xplenty_emulator):
    assert xplenty_emulator.clusters() == []
    assert xplenty_emulator.jobs() == []
    assert xplenty_emulator.requests()["totals"]["count"] == 0


def test_handle_helpers(xplenty_emulator):
    emu = xplenty_emulator
    emu.reset(speed=0)
    s = emu.session()
    cid = s.post(emu.api_url + "/clusters", json={"nodes": 2}).json()["id"]
    emu.advance(65)
    assert emu.clusters()[0]["status"] == "available"
    fid = emu.add_fault(kind="server_error", status=503)
    assert isinstance(fid, int)
    emu.clear_faults()
    assert s.get(f"{emu.api_url}/clusters/{cid}").status_code == 200
    assert emu.requests()["totals"]["count"] == 2


def test_emulator_server_context_manager_outside_pytest_fixture():
    with EmulatorServer(speed=0, account_id="team", api_key="team-key") as emu:
        resp = requests.get(
            f"{emu.api_url}/packages/103",
            auth=("team-key", ""),
            headers={"Accept": "application/vnd.xplenty+json"},
            timeout=10,
        )
        assert resp.status_code == 200 and resp.json()["url"].startswith(f"{emu.url}/team/api/")
        assert emu.connection()["extra"] == {"account_id": "team"}
    with socket.socket() as sock:  # the port is released
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", emu.port))


def test_plugin_module_does_not_import_airflow():
    code = (
        "import sys; import airflow_provider_xplenty.testing, airflow_provider_xplenty.emulator.app; "
        "print(any(m == 'airflow' or m.startswith('airflow.') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"


# Run by a pytest of its own, in an empty project: the first test sees what merely loading the plugin
# imported; the second shows the fixture still brings the emulator up on first use.
_PLUGIN_PROBE = textwrap.dedent(
    """
    import sys

    HEAVY = ("fastapi", "uvicorn", "starlette", "requests", "airflow_provider_xplenty.emulator")


    def test_plugin_loaded_without_the_emulator(pytestconfig):
        plugin = pytestconfig.pluginmanager.get_plugin("xplenty_emulator")
        assert plugin is not None and plugin is sys.modules.get("airflow_provider_xplenty.testing")
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY or m.startswith(HEAVY[-1]))
        assert loaded == []


    def test_fixture_loads_the_emulator_on_first_use(xplenty_emulator):
        assert "fastapi" in sys.modules and "airflow_provider_xplenty.emulator.app" in sys.modules
        assert xplenty_emulator.clusters() == []
    """
)


def test_pytest_plugin_imports_nothing_heavy_until_a_fixture_is_used(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_probe.py").write_text(_PLUGIN_PROBE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", "pytest.ini", "test_probe.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 passed" in out.stdout, out.stdout


@pytest.mark.parametrize("missing", ["fastapi", "uvicorn"])
def test_cli_without_the_emulator_extra_says_what_to_install(missing):
    code = (
        f"import sys; sys.modules[{missing!r}] = None; import runpy; "
        "runpy.run_module('airflow_provider_xplenty.emulator', run_name='__main__')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "pip install 'airflow-provider-xplenty[emulator]'" in out.stderr
    assert f"({missing} is not installed)" in out.stderr
    assert "Traceback" not in out.stderr


def test_emulator_server_without_the_extra_says_what_to_install():
    code = (
        "import sys; sys.modules['fastapi'] = None\n"
        "from airflow_provider_xplenty.testing import EmulatorServer\n"
        "try:\n    EmulatorServer()\nexcept ModuleNotFoundError as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert "pip install 'airflow-provider-xplenty[emulator]'" in out.stdout


def test_cli_parser_defaults():
    args = build_parser().parse_args([])
    assert (args.host, args.port, args.account_id, args.api_key, args.speed) == (
        "127.0.0.1",
        8999,
        "demo",
        "demo-api-key",
        1.0,
    )
    args = build_parser().parse_args(["--account-id", "x", "--api-key", "k", "--speed", "0", "--port", "1"])
    assert (args.account_id, args.api_key, args.speed, args.port) == ("x", "k", 0.0, 1)


def test_cli_starts_and_serves():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_xplenty.emulator",
            "--port",
            str(port),
            "--account-id",
            "cli",
            "--api-key",
            "cli-key",
            "--speed",
            "0",
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60  # generous: the loop ends as soon as it answers
        resp = None
        while time.monotonic() < deadline:
            try:
                resp = requests.get(
                    f"http://127.0.0.1:{port}/cli/api/packages",
                    auth=("cli-key", ""),
                    headers={"Accept": "application/vnd.xplenty+json"},
                    timeout=10,
                )
                break
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.1)
        assert resp is not None and resp.status_code == 200
        assert {p["id"] for p in resp.json()} == {101, 102, 103}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
