"""Response helpers of the emulator: compact JSON and the API's error shape."""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import JSONResponse


def json_bytes(data: Any) -> bytes:
    """Return ``data`` as compact UTF-8 JSON."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


class FastJSON(JSONResponse):
    """Compact JSON response."""

    def render(self, content: Any) -> bytes:
        return json_bytes(content)


def error_body(status: int, message: str, errors: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """Return the API error shape."""
    body: dict[str, Any] = {"message": message}
    if errors:
        body["errors"] = errors
    return body
