"""Helpers shared by the hook tests (imported by name: the test directories are not packages)."""

from __future__ import annotations

from typing import Any

import pytest

#: Hook arguments that make retries fast, so retry tests do not wait.
FAST: dict[str, Any] = {"retry_backoff": 0.001, "retry_max_seconds": 10.0, "late_create_window": 1.0}


class Logs:
    """All log output of a test: stdlib records (caplog) and structlog lines printed to stdout (capfd)."""

    def __init__(self, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
        self.caplog = caplog
        self.capfd = capfd
        self.seen = ""

    def text(self) -> str:
        out, err = self.capfd.readouterr()
        self.seen += out + err
        return self.caplog.text + self.seen

    def retry_lines(self) -> list[str]:
        """One line per retry: the log records', else (structlog printing them) the output's.

        Airflow 3.0 both records and prints each line: counting both would see every retry twice.
        """
        printed = [line for line in self.text().splitlines() if "; retry " in line]
        recorded = [r.getMessage() for r in self.caplog.records if "; retry " in r.getMessage()]
        return recorded or printed
