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

pytest loads this module in every session of every project that installs the provider, so it
imports nothing but pytest: the helpers (in :mod:`.server` and :mod:`.smtp`) and the emulator with
FastAPI and uvicorn load when a fixture or one of these names is first used. It must not import
Airflow either (pytest loads it before a test session configures Airflow).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_xplenty.testing.server import EmulatorServer, emulator_command, free_port
    from airflow_provider_xplenty.testing.smtp import SmtpSink

__all__ = [
    "EmulatorServer",
    "SmtpSink",
    "emulator_command",
    "free_port",
    "xplenty_emulator",
    "xplenty_emulator_server",
]

_LAZY = {
    "EmulatorServer": "server",
    "emulator_command": "server",
    "free_port": "server",
    "SmtpSink": "smtp",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


try:
    import pytest
except ImportError:  # pragma: no cover - pytest is only needed for the fixtures
    pass
else:

    @pytest.fixture(scope="session")
    def xplenty_emulator_server() -> Iterator[EmulatorServer]:
        """One emulator for the whole test session."""
        from airflow_provider_xplenty.testing.server import EmulatorServer

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
