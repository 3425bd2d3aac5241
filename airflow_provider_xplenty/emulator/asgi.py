"""ASGI types of the emulator's hand-written layers (the gate and late answers), and raw replies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from airflow_provider_xplenty.emulator.responses import json_bytes

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Header = tuple[bytes, bytes]


def json_messages(status: int, body: Any, headers: list[Header]) -> list[Message]:
    """Return the two ASGI messages of a JSON response (``headers`` follow the content headers)."""
    payload = json_bytes(body)
    content = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    return [
        {"type": "http.response.start", "status": status, "headers": content + headers},
        {"type": "http.response.body", "body": payload},
    ]
