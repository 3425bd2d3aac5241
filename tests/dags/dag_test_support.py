"""Helpers for end-to-end DAG tests: a real SMTP server on loopback and the example DAGs loaded fast.

The example DAGs read their poll interval and retry delay from the environment at parse time;
these fixtures load them with test values (sub-second polls, immediate retries) under a private
module name, so the DAG files themselves keep realistic production defaults.
"""

from __future__ import annotations

import email
import email.policy
import importlib.util
import os
import pathlib
import socket
import sys
import threading
import uuid
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE_DAGS = ROOT / "example_dags"
ALERT_TO = "oncall@example.com, data-team@example.com"

#: Environment the example DAGs are parsed with in these tests.
DAG_TEST_ENV = {
    "XPLENTY_POLL_INTERVAL": "0.2",
    "XPLENTY_RETRY_DELAY": "0",
    "XPLENTY_RETRY_BACKOFF": "0",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class SmtpSink:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message it receives."""

    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(msg)  # type: ignore[arg-type]
            self.envelopes.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos)})
        return "250 Message accepted for delivery"

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()
            self.envelopes.clear()

    @staticmethod
    def body(msg: EmailMessage) -> str:
        """Return the HTML (or text) body of a received message."""
        part = msg.get_body(preferencelist=("html", "plain"))
        return "" if part is None else str(part.get_content())  # type: ignore[attr-defined]


def load_example_dag(filename: str, dag_id: str) -> Any:
    """Import an example DAG file with the test environment and return its DAG object."""
    saved = {k: os.environ.get(k) for k in DAG_TEST_ENV}
    os.environ.update(DAG_TEST_ENV)
    try:
        name = f"_xplenty_example_{pathlib.Path(filename).stem}_{uuid.uuid4().hex[:8]}"
        spec = importlib.util.spec_from_file_location(name, EXAMPLE_DAGS / filename)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    dag = getattr(module, "dag", None)
    assert dag is not None and dag.dag_id == dag_id
    return dag


def task_states(dag_run: Any) -> dict[str, str]:
    """Return ``{task_id[map_index]: state}`` of a finished DAG run."""
    out: dict[str, str] = {}
    for ti in dag_run.get_task_instances():
        key = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
        out[key] = str(ti.state.value if hasattr(ti.state, "value") else ti.state)
    return out


def xcom(dag_run: Any, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
    """Read one XCom of a finished DAG run from the metadata DB."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = XComModel.get_many(
            run_id=dag_run.run_id,
            dag_ids=dag_run.dag_id,
            task_ids=task_id,
            key=key,
            map_indexes=map_index,
            limit=1,
        )
        row = session.scalars(query).first()
        return None if row is None else XComModel.deserialize_value(row)
