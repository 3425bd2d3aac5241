"""Run the Xplenty emulator and a real Airflow: the Airflow of the venv this script runs from.

Airflow 3: api-server, scheduler, dag-processor, triggerer (LocalExecutor). Airflow 2.11: webserver
(Flask AppBuilder), scheduler, triggerer (SequentialExecutor: 2.11 refuses LocalExecutor on SQLite).
Either way every visitor is an admin without logging in: a local stack only.

``make ui`` runs this in the foreground (``make ui-2.11`` on the 2.11 lane); Ctrl-C stops every
process it started. The browser tests (tests/e2e) use :class:`AirflowStack` to start the same stack
in a temporary home.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import IO, Any

import requests

from airflow_provider_xplenty.testing import emulator_command
from airflow_provider_xplenty.testing import free_port as free_port  # the tests use airflow_stack.free_port

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
AIRFLOW_VERSION = version("apache-airflow")
AIRFLOW_2 = int(AIRFLOW_VERSION.split(".")[0]) < 3
COMPONENTS = (
    ("webserver", "scheduler", "triggerer")
    if AIRFLOW_2
    else ("api-server", "scheduler", "dag-processor", "triggerer")
)
#: Airflow 2.11's webserver settings: every visitor, of the UI and of the REST API, is an admin without
#: logging in, as Airflow 3's ``simple_auth_manager_all_admins``. For a local stack only.
WEBSERVER_CONFIG = """from flask_appbuilder.const import AUTH_DB

AUTH_TYPE = AUTH_DB
AUTH_ROLE_PUBLIC = "Admin"
"""


class AirflowStack:
    """The emulator plus Airflow's components (:data:`COMPONENTS`), each in its own process group.

    :param home: AIRFLOW_HOME to use (created; its database is migrated on start).
    :param api_port: port of the Airflow API server / UI.
    :param emulator_port: port of the Xplenty emulator.
    :param emulator_speed: emulator clock speed (emulated seconds per real second).
    :param extra_env: more environment for every Airflow component.
    :param dags_folder: the DAGs folder (default: example_dags).
    :param triggerers: how many ``airflow triggerer`` processes to run (``triggerer``, ``triggerer-2``, ...).
    """

    def __init__(
        self,
        home: Path,
        *,
        api_port: int = 8080,
        emulator_port: int = 8999,
        emulator_speed: float = 20.0,
        extra_env: dict[str, str] | None = None,
        dags_folder: Path | None = None,
        triggerers: int = 1,
    ) -> None:
        self.home = home
        self.api_port = api_port
        self.emulator_port = emulator_port
        self.emulator_speed = emulator_speed
        self.extra_env = extra_env or {}
        self.dags_folder = dags_folder or ROOT / "example_dags"
        self.triggerers = triggerers
        # Airflow's log servers (worker 8793, triggerer 8794 by default): ports of this stack's own,
        # so that stacks started side by side (make test runs two) do not fight over them.
        self.log_server_ports = (free_port(), free_port())
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[IO[bytes]] = []

    @property
    def url(self) -> str:
        """Base URL of the Airflow UI."""
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def api_url(self) -> str:
        """Base URL of Airflow's stable REST API (``v1`` on 2.11, ``v2`` on 3.x)."""
        return f"{self.url}/api/v1" if AIRFLOW_2 else f"{self.url}/api/v2"

    @property
    def health_url(self) -> str:
        """URL of the components' health report."""
        return f"{self.url}/health" if AIRFLOW_2 else f"{self.api_url}/monitor/health"

    @property
    def emulator_url(self) -> str:
        """Base URL of the emulator."""
        return f"http://127.0.0.1:{self.emulator_port}"

    @property
    def log_dir(self) -> Path:
        """Folder that holds one log file per started process."""
        return self.home / "stack-logs"

    def env(self) -> dict[str, str]:
        """Environment shared by every Airflow command of this stack."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update(
            {
                "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home}/airflow.db",
                "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
                "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True",
                "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.log_server_ports[0]),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.log_server_ports[1]),
                "PYTHONUNBUFFERED": "1",
            }
        )
        if AIRFLOW_2:
            env.update(
                {
                    "AIRFLOW__CORE__EXECUTOR": "SequentialExecutor",
                    "AIRFLOW__WEBSERVER__WEB_SERVER_HOST": "127.0.0.1",
                    "AIRFLOW__WEBSERVER__WEB_SERVER_PORT": str(self.api_port),
                    "AIRFLOW__WEBSERVER__BASE_URL": self.url,
                    "AIRFLOW__WEBSERVER__WORKERS": "1",
                    "AIRFLOW__WEBSERVER__CONFIG_FILE": str(self.home / "webserver_config.py"),
                    # Lets requests without credentials through as AUTH_ROLE_PUBLIC (the default
                    # session backend refuses them on 2.x).
                    "AIRFLOW__API__AUTH_BACKENDS": (
                        "airflow.providers.fab.auth_manager.api.auth.backend.basic_auth"
                    ),
                    # 2.11 looks for new DAG files every 5 minutes by default.
                    "AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "5",
                }
            )
        else:
            env.update(
                {
                    "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
                    "AIRFLOW__API__HOST": "127.0.0.1",
                    "AIRFLOW__API__PORT": str(self.api_port),
                    "AIRFLOW__API__BASE_URL": self.url,
                    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                }
            )
        # Example DAGs poll every 30 s by default; a local stack on a fast emulator clock wants less.
        env.setdefault("XPLENTY_POLL_INTERVAL", "3")
        env.setdefault("XPLENTY_RETRY_DELAY", "5")
        env.update(self.extra_env)
        return env

    def _spawn(self, name: str, args: list[str]) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"{name}.log").open("ab")
        self._logs.append(log)
        self.procs[name] = subprocess.Popen(
            args, env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT
        )

    def _airflow(self, *args: str) -> str:
        out = subprocess.run(
            [str(VENV_BIN / "airflow"), *args], env=self.env(), capture_output=True, text=True, cwd=ROOT
        )
        if out.returncode != 0:
            output = f"{out.stdout[-2000:]}\n{out.stderr[-4000:]}"
            raise RuntimeError(f"airflow {' '.join(args[:2])} failed:\n{output}")
        return out.stdout

    def _wait_http(self, url: str, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                if requests.get(url, timeout=2).status_code < 500:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"{what} did not answer at {url} within {timeout:.0f} s (logs: {self.log_dir})")

    def _check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                tail = (self.log_dir / f"{name}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{name} exited with code {proc.returncode}:\n{tail}")

    def start(self, timeout: float = 120.0) -> None:
        """Start the emulator and Airflow, store the connection, and wait until all are healthy."""
        self.home.mkdir(parents=True, exist_ok=True)
        fresh = not (self.home / "airflow.db").exists()
        if AIRFLOW_2:
            (self.home / "webserver_config.py").write_text(WEBSERVER_CONFIG)
        self._spawn("emulator", emulator_command(self.emulator_port, speed=self.emulator_speed))
        self._airflow("db", "migrate")
        # The components boot (tens of seconds) while the connection is stored (seconds of CLI imports).
        for component in COMPONENTS:
            self._spawn(component, [str(VENV_BIN / "airflow"), component])
        for extra in range(2, self.triggerers + 1):
            self._spawn(f"triggerer-{extra}", [str(VENV_BIN / "airflow"), "triggerer"])
        self._wait_http(f"{self.emulator_url}/_emulator/clock", "the emulator", 30)
        conn = {
            "conn_type": "xplenty",
            "host": self.emulator_url,
            "password": "demo-api-key",
            "extra": {"account_id": "demo"},
        }
        if not fresh:  # each CLI call costs seconds of imports
            subprocess.run(
                [str(VENV_BIN / "airflow"), "connections", "delete", "xplenty_default"],
                env=self.env(),
                capture_output=True,
            )
        self._airflow("connections", "add", "xplenty_default", "--conn-json", json.dumps(conn))
        self._wait_http(self.health_url, "the Airflow UI", timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            health = requests.get(self.health_url, timeout=5).json()
            states = {k: (v or {}).get("status") for k, v in health.items()}
            if AIRFLOW_2:
                states.pop("dag_processor", None)  # 2.11: part of the scheduler (status null)
            if all(s == "healthy" for s in states.values()):
                return
            time.sleep(1)
        raise TimeoutError(f"Airflow components not healthy: {states} (logs: {self.log_dir})")

    def stop(self) -> None:
        """Stop every process group this stack started: SIGTERM, then SIGKILL after 15 s."""
        for proc in self.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for log in self._logs:
            log.close()
        self.procs.clear()

    def __enter__(self) -> AirflowStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def main() -> int:
    """Run the stack in the foreground until Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__)
    # Each major version its own home: their metadata databases differ.
    home = ROOT / ".ui" / ("airflow-home-2" if AIRFLOW_2 else "airflow-home")
    parser.add_argument("--home", type=Path, default=home)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--emulator-port", type=int, default=8999)
    parser.add_argument("--speed", type=float, default=10.0, help="emulator clock speed")
    parser.add_argument("--fresh", action="store_true", help="delete the home folder first")
    args = parser.parse_args()
    if args.fresh and args.home.exists():
        shutil.rmtree(args.home)
    stack = AirflowStack(
        args.home, api_port=args.port, emulator_port=args.emulator_port, emulator_speed=args.speed
    )
    stopping = False

    def _interrupt(signum: int, frame: Any) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)  # also when started in the background (SIGINT ignored)
    try:
        print(f"Starting the Xplenty emulator and Airflow in {args.home} ...", flush=True)
        stack.start()
        print(
            f"\nAirflow UI:        {stack.url}  (Airflow {AIRFLOW_VERSION}; no login: everyone is an admin)\n"
            f"Xplenty emulator:  {stack.emulator_url}/_emulator/state\n"
            f"Connection:        xplenty_default -> the emulator (account demo)\n"
            f"DAGs:              xplenty_daily_workflow (unpause it), xplenty_manual_run (Trigger)\n"
            f"Logs:              {stack.log_dir}\n\nPress Ctrl-C to stop everything.",
            flush=True,
        )
        while True:
            stack._check_alive()
            time.sleep(2)
    except KeyboardInterrupt:
        print("\nStopping ...", flush=True)
    finally:
        stack.stop()
        print("Stopped every process of the stack.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
