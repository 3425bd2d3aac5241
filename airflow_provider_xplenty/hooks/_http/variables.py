"""Job variables as the API stores them: string names to string expressions.

A number or a bool is sent as Python's ``str()`` of it (``10`` becomes ``"10"``, ``True`` becomes
``"True"``), which is also what a job then reports, so comparing what was sent with what a job
reports is exact (docs/api-notes.md, Job variables).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_xplenty.exceptions import XplentyConfigError


def variable_text(value: Any) -> str:
    """Return a variable value as the API stores it: a string expression (``str()`` of a number/bool).

    ``10`` becomes ``"10"`` and ``True`` becomes ``"True"`` (Python's ``str()``, which is also what
    the emulator stores).
    """
    return value if isinstance(value, str) else str(value)


def normalise_variables(variables: Mapping[str, Any] | None) -> dict[str, str]:
    """Return ``variables`` as the API stores them: string names to string expressions (``None`` is ``{}``).

    Use it on both sides when comparing what was sent with what a job reports.
    """
    return {str(key): variable_text(value) for key, value in (variables or {}).items()}


def check_variables(value: Any, name: str = "variables") -> dict[str, str] | None:
    """Validate variables (string names to string, number or bool expressions); return them as strings.

    :param value: the variables as given (``None`` stays ``None``).
    :param name: what to call them in error messages.
    """
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise XplentyConfigError(
            f"{name} must be a dict of variable name to expression, got {type(value).__name__}"
        )
    out: dict[str, str] = {}
    for key, val in value.items():
        if not isinstance(key, str) or not key:
            raise XplentyConfigError(f"{name}: variable names must be non-empty strings, got {key!r}")
        if not isinstance(val, (str, int, float, bool)):
            raise XplentyConfigError(
                f"{name}: value of {key!r} must be a string expression (e.g. \"'/path'\"), "
                f"got {type(val).__name__}"
            )
        out[key] = variable_text(val)
    return out
