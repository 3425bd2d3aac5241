"""Send web hook deliveries over HTTP (outside the store's lock) and record their outcome."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request

from airflow_provider_xplenty.emulator.responses import json_bytes
from airflow_provider_xplenty.emulator.state import Delivery, Store


def deliver(store: Store, deliveries: list[Delivery], timeout: float = 5.0) -> None:
    """POST web hook deliveries (blocking) and record their outcome on the hooks."""
    for d in deliveries:
        code: int | None = None
        text = ""
        try:
            req = urllib.request.Request(d.url, data=json_bytes(d.body), headers=d.headers, method="POST")
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                code = resp.status
                text = resp.read(1000).decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            code = exc.code
            text = str(exc)
        except (OSError, ValueError) as exc:
            text = str(exc)
        store.record_delivery(d.hook_id, d.event, code, text, time.time())


def deliver_in_background(store: Store, deliveries: list[Delivery]) -> None:
    """Send deliveries from a daemon thread."""
    if deliveries:
        threading.Thread(target=deliver, args=(store, deliveries), daemon=True).start()
