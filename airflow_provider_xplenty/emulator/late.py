"""Requests the server acts on but answers late, never, or by dropping the connection.

A ``slow_response`` is processed detached from its connection, as a real slow server does: the whole
request is read, then a task of its own runs the route ``act_after`` seconds later whether or not the
client is still there (and logs it), and only then is the answer sent, ``delay`` seconds later, or
never (``never``: the connection is held open without a byte until the client gives up, or dropped
after ``delay`` seconds). A reset in the meantime makes the pending work stale: it is dropped, and
nothing lands in the new state.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from airflow_provider_xplenty.emulator.asgi import (
    ASGIApp,
    Header,
    Message,
    Receive,
    Scope,
    Send,
    json_messages,
)
from airflow_provider_xplenty.emulator.faults import Fault
from airflow_provider_xplenty.emulator.responses import error_body
from airflow_provider_xplenty.emulator.state import Store
from airflow_provider_xplenty.emulator.webhooks import deliver_in_background

log = logging.getLogger(__name__)

#: How often (real seconds) a waiting slow response checks whether the emulator was reset.
TICK = 0.05

# Detached tasks are referenced here until they finish (the event loop holds only weak references).
_RUNNING: set[asyncio.Task[list[Message] | None]] = set()


async def drop_connection(receive: Receive, send: Send) -> None:
    """Close the connection without an answer (the client sees it reset or closed)."""
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    if transport is not None:
        transport.close()
        for _ in range(5):
            await asyncio.sleep(0.001)
            if getattr(receive, "__self__", None) is not None and receive.__self__.disconnected:  # type: ignore[attr-defined]
                break
        return
    # Fallback for other servers: promise a body that never comes, then end the response.
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"100000")],
        }
    )
    await send({"type": "http.response.body", "body": b"{", "more_body": True})


async def slow_response(
    app: ASGIApp,
    store: Store,
    scope: Scope,
    receive: Receive,
    send: Send,
    fault: Fault,
    headers: list[Header],
    log_status: Callable[[int], None],
) -> None:
    """Serve one request under a ``slow_response`` fault.

    :param headers: added to the answer (the rate-limit headers).
    :param log_status: writes the request log entry; called when the server acts.
    """
    body = await _read_body(receive)
    generation = store.generation
    if body is None:  # the client left before the request was complete: there is nothing to act on
        log_status(0)
        return
    acting = _act(app, store, scope, body, fault.act_after, generation, headers, log_status)
    task = asyncio.create_task(acting)
    _RUNNING.add(task)
    task.add_done_callback(_RUNNING.discard)
    messages = await asyncio.shield(task)
    if messages is None:
        await drop_connection(receive, send)
    elif fault.never:
        await _hold(store, generation, receive, fault.delay or None)
        await drop_connection(receive, send)
    elif await _sleep(store, generation, fault.delay):
        for message in messages:
            await send(message)  # a no-op once the client has gone
    else:
        await drop_connection(receive, send)


async def _act(
    app: ASGIApp,
    store: Store,
    scope: Scope,
    body: bytes,
    act_after: float,
    generation: int,
    headers: list[Header],
    log_status: Callable[[int], None],
) -> list[Message] | None:
    """Run the route on the buffered request; return its answer, or None when a reset came first."""
    if not await _sleep(store, generation, act_after):
        return None
    messages: list[Message] = []

    async def capture(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = list(message.get("headers", [])) + headers
            log_status(message["status"])
        messages.append(message)

    try:
        await app(dict(scope), _replay(body), capture)
    except Exception:  # the error handler already answered 500 with {"message"}
        log.debug("handled emulator error on a slow response", exc_info=True)
    finally:
        deliver_in_background(store, store.take_deliveries())
    if not messages:
        log_status(500)
        messages = json_messages(500, error_body(500, "Internal emulator error"), headers)
    return messages


async def _read_body(receive: Receive) -> bytes | None:
    """Read the whole request body; None if the client disconnected first."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(bytes(message.get("body", b"")))
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    """A ``receive`` that gives the buffered body, then reports the connection closed."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _sleep(store: Store, generation: int, seconds: float) -> bool:
    """Wait ``seconds``; return False (at once) if the emulator is reset meanwhile."""
    deadline = time.monotonic() + seconds
    while store.generation == generation:
        left = deadline - time.monotonic()
        if left <= 0:
            return True
        await asyncio.sleep(min(TICK, left))
    return False


async def _hold(store: Store, generation: int, receive: Receive, limit: float | None) -> None:
    """Keep the connection silent until the client leaves, a reset, or ``limit`` seconds."""
    gone = asyncio.ensure_future(receive())
    deadline = None if limit is None else time.monotonic() + limit
    try:
        while not gone.done() and store.generation == generation:
            if deadline is not None and time.monotonic() >= deadline:
                return
            await asyncio.wait({gone}, timeout=TICK)
    finally:
        gone.cancel()
