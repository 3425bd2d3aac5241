"""A real SMTP server on loopback that keeps what it receives (for failure e-mail tests)."""

from __future__ import annotations

import email
import email.policy
import json
import threading
import time
from email.message import EmailMessage
from types import TracebackType
from typing import Any

from airflow_provider_xplenty.testing.server import free_port


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
