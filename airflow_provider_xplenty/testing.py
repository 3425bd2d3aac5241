"""Test helpers: run the Xplenty API emulator in-process, and the ``xplenty_emulator`` pytest fixture.

Registered as a pytest plugin (entry point ``pytest11``), so any project that installs this provider
can write::

    def test_my_dag(xplenty_emulator):
        xplenty_emulator.set_speed(0)          # frozen clock, move it with advance()
        ...                                    # AIRFLOW_CONN_XPLENTY_DEFAULT points at the emulator

Outside pytest::

    with EmulatorServer(speed=50) as emu:
        print(emu.api_url)

Also here, for tests and scripts: :class:`SmtpSink` (a real SMTP server on loopback that keeps what
it receives, for failure e-mails), :func:`free_port` and :func:`emulator_command` (the command line
that runs the emulator as its own process).

This module must not import Airflow (pytest loads it before a test session configures Airflow).
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from types import TracebackType
from typing import Any

import requests

from airflow_provider_xplenty.emulator.seed import DEFAULT_ACCOUNT_ID, DEFAULT_API_KEY

__all__ = [
    "EmulatorServer",
    "SmtpSink",
    "emulator_command",
    "free_port",
    "xplenty_emulator",
    "xplenty_emulator_server",
]

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
        from airflow_provider_xplenty.emulator.app import create_app
        from airflow_provider_xplenty.emulator.state import Store

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
        """Stop serving."""
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
        session = requests.Session()
        session.auth = (api_key or self.api_key, "")
        session.headers["Accept"] = ACCEPT
        return session

    # ------------------------------------------------------------------ control routes
    def control(self, method: str, path: str, json: Any = None) -> Any:
        """Call a control route (``path`` relative to ``/_emulator/``) and return its JSON."""
        resp = self._http.request(
            method.upper(), f"{self.url}/_emulator/{path.lstrip('/')}", json=json, timeout=30
        )
        if resp.status_code >= 400:
            raise RuntimeError(f"emulator control {method} {path} failed: {resp.status_code} {resp.text}")
        return resp.json() if resp.content else None

    def reset(self, speed: float = 1.0) -> Any:
        """Return to the seed state (clock restarted, faults, log and credits cleared)."""
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


class SmtpSink:
    """A real SMTP server (aiosmtpd, in a thread) on loopback that keeps every message it receives.

    ::

        with SmtpSink() as sink:
            os.environ["AIRFLOW_CONN_SMTP_DEFAULT"] = sink.connection_json()
            ...  # something sends mail
            sink.wait_for(1)
            print(sink.messages[0]["Subject"], sink.envelopes[0]["to"], SmtpSink.body(sink.messages[0]))

    ``aiosmtpd`` (in the ``test`` extra) is imported only by :meth:`start`.

    :param host: address to bind.
    :param port: port to bind (0 = a free one).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        #: received messages, oldest first
        self.messages: list[EmailMessage] = []
        #: ``{"from": ..., "to": [...]}`` of each message, in the same order
        self.envelopes: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._controller: Any = None

    # aiosmtpd calls this (the sink is its own handler)
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(msg)  # type: ignore[arg-type]  # policy.default gives an EmailMessage
            self.envelopes.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos)})
        return "250 Message accepted for delivery"

    def start(self) -> SmtpSink:
        """Start serving (in a background thread)."""
        from aiosmtpd.controller import Controller

        if not self.port:
            self.port = free_port(self.host)
        controller = Controller(self, hostname=self.host, port=self.port)
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def clear(self) -> None:
        """Forget every message received so far."""
        with self._lock:
            self.messages.clear()
            self.envelopes.clear()

    def wait_for(self, count: int = 1, timeout: float = 10.0) -> bool:
        """Wait until at least ``count`` messages arrived; return whether they did."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def connection(self, **extra: Any) -> dict[str, Any]:
        """Return an Airflow SMTP connection (as a dict) that sends to this sink, without TLS."""
        return {
            "conn_type": "smtp",
            "host": self.host,
            "port": self.port,
            "extra": {
                "disable_ssl": True,
                "disable_tls": True,
                "from_email": "airflow@example.com",
                "retry_limit": 0,
                **extra,
            },
        }

    def connection_json(self, **extra: Any) -> str:
        """Return :meth:`connection` as the JSON accepted by ``AIRFLOW_CONN_*`` variables."""
        return json.dumps(self.connection(**extra))

    @staticmethod
    def body(msg: EmailMessage) -> str:
        """Return the HTML (or else the plain text) body of a received message."""
        part = msg.get_body(preferencelist=("html", "plain"))
        return "" if part is None else str(part.get_content())  # type: ignore[attr-defined]


try:
    import pytest
except ImportError:  # pragma: no cover - pytest is only needed for the fixtures
    pass
else:

    @pytest.fixture(scope="session")
    def xplenty_emulator_server() -> Iterator[EmulatorServer]:
        """One emulator for the whole test session."""
        server = EmulatorServer().start()
        try:
            yield server
        finally:
            server.stop()

    @pytest.fixture
    def xplenty_emulator(
        xplenty_emulator_server: EmulatorServer, monkeypatch: pytest.MonkeyPatch
    ) -> EmulatorServer:
        """The emulator, reset to its seed state (speed 1), with ``AIRFLOW_CONN_XPLENTY_DEFAULT`` set."""
        xplenty_emulator_server.reset(speed=1.0)
        monkeypatch.setenv("AIRFLOW_CONN_XPLENTY_DEFAULT", xplenty_emulator_server.connection_json())
        return xplenty_emulator_server
