"""A local emulator of the Xplenty REST API (FastAPI on uvicorn), for offline tests and demos.

Start it with ``python -m airflow_provider_xplenty.emulator`` or, in Python, with
:class:`airflow_provider_xplenty.testing.EmulatorServer`. Needs the ``emulator`` extra
(``pip install 'airflow-provider-xplenty[emulator]'``). Never imports Airflow; importing this
package does not import FastAPI either (``create_app`` is loaded on first use).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_xplenty.emulator.state import ApiError, Store

if TYPE_CHECKING:
    from airflow_provider_xplenty.emulator.app import create_app

__all__ = ["INSTALL_HINT", "ApiError", "Store", "create_app", "missing_extra_message"]

INSTALL_HINT = "pip install 'airflow-provider-xplenty[emulator]'"
_EXTRA_MODULES = frozenset({"fastapi", "starlette", "uvicorn"})


def missing_extra_message(exc: ModuleNotFoundError) -> str | None:
    """Return what to install when ``exc`` is about a module of the ``emulator`` extra, else None.

    :param exc: the error raised while importing the emulator's web stack.
    """
    name = (exc.name or "").split(".", 1)[0]
    if name not in _EXTRA_MODULES:
        return None
    return f"The Xplenty emulator needs FastAPI and uvicorn ({name} is not installed): {INSTALL_HINT}"


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from airflow_provider_xplenty.emulator.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
