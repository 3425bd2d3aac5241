"""Run the emulator in this process (:class:`EmulatorServer`) or as its own (:func:`emulator_command`).

Needs the ``emulator`` extra (FastAPI, uvicorn), imported when a server is built or started.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

from airflow_provider_xplenty.emulator.seed import DEFAULT_ACCOUNT_ID, DEFAULT_API_KEY

if TYPE_CHECKING:
    import requests

ACCEPT = "application/vnd.xplenty+json; version=2"


class EmulatorServer:
    """The emulator on a free port of 127.0.0.1, served by uvicorn in a daemon thread.

    :param host: address to bind.
    :param port: port to bind (0 = a free one).
    :param account_id: slug of the seeded account.
    :param api_key: API key of the seeded account.
    :param speed: emulated seconds per real second (0 freezes the clock; use :meth:`advance`).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        account_id: str = DEFAULT_ACCOUNT_ID,
        api_key: str = DEFAULT_API_KEY,
        speed: float = 1.0,
    ) -> None:
        import requests

        from airflow_provider_xplenty.emulator import missing_extra_message
        from airflow_provider_xplenty.emulator.state import Store

        try:
            from airflow_provider_xplenty.emulator.app import create_app
        except ModuleNotFoundError as exc:
            message = missing_extra_message(exc)
            if message is None:
                raise
            raise ModuleNotFoundError(message, name=exc.name) from exc

        self.host = host
        self.port = port
        self.account_id = account_id
        self.api_key = api_key
        self.store = Store(account_id=account_id, api_key=api_key, speed=speed)
        self.app = create_app(self.store)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._http = requests.Session()
        self._http_lock = threading.Lock()  # control calls may come from several test threads

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 15.0) -> EmulatorServer:
        """Start serving and wait until the port accepts connections."""
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            host=self.host,
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        self._sock = sock
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="xplenty-emulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._server.started:
                try:
                    with socket.create_connection((self.host, self.port), timeout=1):
                        return self
                except OSError:
                    pass
            if not self._thread.is_alive():
                break
            time.sleep(0.02)
        raise RuntimeError(f"the Xplenty emulator did not start on {self.host}:{self.port}")

    def stop(self) -> None:
        """Stop serving (slow responses still pending are dropped rather than waited for)."""
        self.store.drop_pending()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._sock is not None:
            self._sock.close()
        self._http.close()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ addresses
    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """API root of the seeded account, e.g. ``http://127.0.0.1:PORT/demo/api``."""
        return f"{self.url}/{self.account_id}/api"

    def connection(self) -> dict[str, Any]:
        """Return the Airflow connection (as a dict) that points at this emulator."""
        return {
            "conn_type": "xplenty",
            "host": self.url,
            "password": self.api_key,
            "extra": {"account_id": self.account_id},
        }

    def connection_json(self) -> str:
        """Return :meth:`connection` as the JSON accepted by ``AIRFLOW_CONN_*`` variables."""
        return json.dumps(self.connection())

    def session(self, api_key: str | None = None) -> requests.Session:
        """Return a ``requests.Session`` with the API's auth and Accept headers set."""
        import requests

        session = requests.Session()
        session.auth = (api_key or self.api_key, "")
        session.headers["Accept"] = ACCEPT
        return session

    # ------------------------------------------------------------------ control routes
    def control(self, method: str, path: str, json: Any = None) -> Any:
        """Call a control route (``path`` relative to ``/_emulator/``) and return its JSON."""
        with self._http_lock:
            resp = self._http.request(
                method.upper(), f"{self.url}/_emulator/{path.lstrip('/')}", json=json, timeout=30
            )
        if resp.status_code >= 400:
            raise RuntimeError(f"emulator control {method} {path} failed: {resp.status_code} {resp.text}")
        return resp.json() if resp.content else None

    def reset(self, speed: float = 1.0) -> Any:
        """Return to the seed state (clock restarted, faults, log and credits cleared).

        The hooks' memory of objects created in this process is cleared too (ids start again).
        """
        from airflow_provider_xplenty.hooks._http.reconcile import forget_claims

        forget_claims()
        return self.control("POST", "reset", {"speed": speed})

    def advance(self, seconds: float) -> Any:
        """Move the emulated clock forward and apply due transitions."""
        return self.control("POST", "advance", {"seconds": seconds})

    def set_speed(self, speed: float, durations: dict[str, float] | None = None, **extra: Any) -> Any:
        """Set the clock speed (and optionally durations, ``max_running_jobs``, ``accept_status``)."""
        body: dict[str, Any] = {"speed": speed, **extra}
        if durations:
            body["durations"] = durations
        return self.control("POST", "clock", body)

    def add_fault(self, **fault: Any) -> int:
        """Register a fault (see ``docs/emulator.md``); return its id."""
        return int(self.control("POST", "faults", fault)["id"])

    def clear_faults(self) -> None:
        """Remove every fault."""
        self.control("DELETE", "faults")

    def seed(
        self, accounts: list[dict[str, Any]] | None = None, packages: list[dict[str, Any]] | None = None
    ) -> Any:
        """Add accounts (with API keys) and packages."""
        return self.control("POST", "seed", {"accounts": accounts or [], "packages": packages or []})

    def set_rate_limit(self, limit: int | None = None, remaining: int | None = None) -> Any:
        """Set the hourly credit budget and/or what is left of it."""
        return self.control("POST", "rate_limit", {"limit": limit, "remaining": remaining})

    def state(self) -> dict[str, Any]:
        """Return every object (with account and history)."""
        return dict(self.control("GET", "state"))

    def requests(self) -> dict[str, Any]:
        """Return the request log and totals."""
        return dict(self.control("GET", "requests"))

    def jobs(self) -> list[dict[str, Any]]:
        """Return every job (with history)."""
        return list(self.state()["jobs"])

    def clusters(self) -> list[dict[str, Any]]:
        """Return every cluster (with history)."""
        return list(self.state()["clusters"])


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``host`` right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def emulator_command(
    port: int,
    *,
    host: str = "127.0.0.1",
    speed: float = 1.0,
    account_id: str = DEFAULT_ACCOUNT_ID,
    api_key: str = DEFAULT_API_KEY,
) -> list[str]:
    """Return the command that serves the emulator in its own process (``python -m ...emulator``).

    Use :class:`EmulatorServer` instead when the emulator can live in the calling process.
    """
    return [
        sys.executable,
        "-m",
        "airflow_provider_xplenty.emulator",
        "--host",
        host,
        "--port",
        str(port),
        "--account-id",
        account_id,
        "--api-key",
        api_key,
        "--speed",
        str(speed),
    ]
