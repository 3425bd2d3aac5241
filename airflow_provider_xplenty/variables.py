"""Job variables: quote plain values as expression string literals; check names and sizes.

Xplenty job variable values are *expressions* in Xplenty's expression language, which is Apache Pig's
(string constants in single quotes, ``'hello world'``; Integrate.io, "Using Expressions",
https://www.integrate.io/docs/etl/using-expressions-in-integrateio-etl). A value built by pasting
text between quotes is code: ``x' + SomeFunction(...) + '`` ends the literal and calls a function
with the connection's key. :func:`literal` turns plain text into one string literal that evaluates
to exactly that text. See docs/api-notes.md, "Job variables".

Rules, from Pig's grammar and sources (Apache Pig, ``src/org/apache/pig/parser/QueryLexer.g``, token
``QUOTEDSTRING``; ``src/org/apache/pig/impl/util/StringUtils.java``, ``unescapeInputString``; Pig docs,
"Constants", https://pig.apache.org/docs/r0.17.0/basic.html#constants):

* inside ``'...'`` any character except ``'``, ``\\``, LF and CR stands for itself;
* the escapes are ``\\\\ \\' \\n \\t \\b \\r \\f`` and ``\\u`` + 4 hex digits, lowercase (the lexer reads
  case-insensitively, the unescaper knows only lowercase); there is no doubled-quote escape.

What :func:`literal` does with each character:

* ``\\`` and ``'`` get a backslash; LF, CR, TAB, BS, FF become ``\\n \\r \\t \\b \\f``;
* other control characters (U+0001 to U+001F, U+007F to U+009F) become ``\\u00XX``;
* every other character, non-ASCII included, is kept as it is (sent as UTF-8 JSON);
* refused, with an error naming the variable: U+0000 (NUL: the API stores text, where NUL is not
  carried reliably), lone surrogates (not encodable as UTF-8), and ``$``.

Why ``$`` is refused rather than escaped: Xplenty substitutes ``$name`` and ``${name}`` references
before evaluating, inside quotes too (Integrate.io, "Using and setting variables in your packages",
https://www.integrate.io/docs/etl/using-and-setting-variables-in-your-packages/), so plain text
``$secret`` would read another variable. No escape works on every path: Pig's parameter
preprocessor (``src/org/apache/pig/tools/parameters/PigFileParser.jj``) honours ``\\$``, which the
expression lexer rejects when no preprocessing happens; and that preprocessor reads Java unicode
escapes (``JAVA_UNICODE_ESCAPE = true``), so ``\\u0024`` turns back into ``$`` before substitution.
For the same reason :func:`literal` never writes ``\\u`` for ``'``, ``\\``, LF, CR or ``$``: each
output character means the same thing whether or not that preprocessing runs.

Sizes: neither Xplenty nor Pig documents a limit on a variable (Pig: "no hard limits except memory",
https://pig.apache.org/docs/r0.17.0/cont.html#Parameter-Sub), so the bound is ours:
:data:`MAX_VALUE_BYTES` (64 KiB of UTF-8 per value, as sent: quotes and escapes count). A variable
carries a path, a date, an id or a short expression, orders of magnitude smaller; a bigger value is
a mistake or abuse (a pasted file), refused before any request instead of failing in the API or
in the job.

Names follow Pig's parameter names (``IDENTIFIER`` in ``PigFileParser.jj``; ``$name`` references in
``PreprocessorContext.substitute``): optional leading underscores, a letter, then letters, digits
and underscores (:data:`VARIABLE_NAME_PATTERN`). A name with a space or ``=`` could never be
referenced as ``$name``.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from airflow_provider_xplenty.exceptions import XplentyConfigError

#: Largest value accepted, in UTF-8 bytes of the expression sent (quotes and escapes included).
MAX_VALUE_BYTES = 64 * 1024
#: What a variable name must match (whole name): Pig's parameter-name rule.
VARIABLE_NAME_PATTERN = r"_*[A-Za-z][A-Za-z0-9_]*"

_NAME = re.compile(VARIABLE_NAME_PATTERN)
_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
#: Characters :func:`literal` rewrites or refuses; everything else is copied as it is.
_SPECIAL = re.compile(r"[\x00-\x1f\x7f-\x9f\\'$\ud800-\udfff]")


def _value_of(name: str | None, what: str) -> str:
    return f"{what}: value of {name!r}" if name is not None else f"{what}: value"


def check_variable_name(name: object, what: str = "variables") -> str:
    """Return ``name`` when it is a valid variable name, else raise :class:`XplentyConfigError`.

    :param name: the variable name.
    :param what: the argument it came from, for the error message.
    """
    if not isinstance(name, str) or not name:
        raise XplentyConfigError(f"{what}: variable names must be non-empty strings, got {name!r}")
    if _NAME.fullmatch(name) is None:
        raise XplentyConfigError(
            f"{what}: variable name {name!r} is not valid: a name is letters, digits and underscores, "
            "starting with a letter (after optional underscores), e.g. 'InputPath' or '_run_date'"
        )
    return name


def check_size(expression: str, name: str | None = None, what: str = "variables") -> str:
    """Return ``expression`` when it fits :data:`MAX_VALUE_BYTES`, else raise :class:`XplentyConfigError`.

    :param expression: the value as it will be sent.
    :param name: the variable name, for the error message.
    :param what: the argument it came from, for the error message.
    """
    # len() <= UTF-8 bytes: the cheap test settles huge values without encoding them
    if (
        len(expression) > MAX_VALUE_BYTES
        or len(expression.encode("utf-8", "surrogatepass")) > MAX_VALUE_BYTES
    ):
        raise XplentyConfigError(
            f"{_value_of(name, what)} is longer than {MAX_VALUE_BYTES} bytes (UTF-8, as sent): pass a "
            "reference to the data (a path, an id) instead of the data itself"
        )
    return expression


def _text(value: object, name: str | None, what: str) -> str:
    """Return the plain text of a value :func:`literal` accepts."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(value)
    if value is None:
        raise XplentyConfigError(f"{_value_of(name, what)} is None: give '' for an empty text")
    raise XplentyConfigError(
        f"{_value_of(name, what)} must be plain text (a str, or an int, finite float or bool "
        f"written as text), got {type(value).__name__} {value!r:.80}"
    )


def _escape(match: re.Match[str], name: str | None, what: str) -> str:
    char = match.group()
    if char in _ESCAPES:
        return _ESCAPES[char]
    where = f"at position {match.start()}"
    if char == "$":
        raise XplentyConfigError(
            f"{_value_of(name, what)} contains '$' ({where}): Xplenty substitutes $name references "
            "inside string literals and no escape for '$' works reliably; remove it (a DAG author "
            "who needs one can write the expression in variables)"
        )
    if char == "\x00":
        raise XplentyConfigError(f"{_value_of(name, what)} contains U+0000 (NUL, {where}); remove it")
    if unicodedata.category(char) == "Cs":
        raise XplentyConfigError(
            f"{_value_of(name, what)} contains a lone surrogate U+{ord(char):04X} ({where}), which "
            "is not text; fix the value's encoding"
        )
    return f"\\u{ord(char):04X}"  # the other control characters; \u is lowercase, the digits any case


def literal(value: str | int | float | bool, name: str | None = None, what: str = "literal_variables") -> str:
    """Return ``value`` as one expression string literal, quoted and escaped: ``O'Brien`` -> ``'O\\'Brien'``.

    A str is taken as it is; an int or finite float as Python's ``str()`` (``10`` -> ``'10'``); a
    bool as ``'true'``/``'false'``. The result is a string literal whatever the input (``10``
    becomes the text ``'10'``, not the number: write numbers in ``variables``). The escaping rules,
    and why ``$``, NUL and lone surrogates are refused, are in this module's docstring.

    :param value: the plain value.
    :param name: the variable name, for error messages.
    :param what: the argument it came from, for error messages.
    :raises XplentyConfigError: the value is of another type, cannot be carried, or is too big.
    """
    text = _text(value, name, what)
    check_size(text, name, what)  # before escaping: a huge value fails without being copied
    quoted = "'" + _SPECIAL.sub(lambda match: _escape(match, name, what), text) + "'"
    return check_size(quoted, name, what)


def literal_variables(mapping: Mapping[str, Any] | None, what: str = "literal_variables") -> dict[str, str]:
    """Return ``{name: literal(value)}`` for plain values, names checked (``None`` is ``{}``).

    :param mapping: variable name to plain value.
    :param what: the argument it came from, for error messages.
    """
    if mapping is None:
        return {}
    _check_mapping(mapping, what)
    return {check_variable_name(key, what): literal(value, key, what) for key, value in mapping.items()}


def check_expressions(mapping: Any, what: str = "variables") -> None:
    """Check the names and sizes of expression variables (``variables``, ``dynamic_variables``).

    Values stay as they are: their types are the hook's to check.

    :param mapping: variable name to expression, or ``None``.
    :param what: the argument it came from, for error messages.
    """
    if mapping is None:
        return
    _check_mapping(mapping, what)
    for key, value in mapping.items():
        check_variable_name(key, what)
        if isinstance(value, str):
            check_size(value, key, what)


def job_variables(variables: Any, literals: Any, dynamic_variables: Any = None) -> Mapping[str, Any] | None:
    """Check all of a job's variables and return the ``variables`` to send.

    That is ``variables`` (expressions, unchanged) plus :func:`literal_variables` of ``literals``;
    ``variables`` itself when there are no literals. A name given in both is an error.

    :param variables: variable name to expression.
    :param literals: variable name to plain value.
    :param dynamic_variables: variable name to expression evaluated at run time (checked only).
    """
    check_expressions(variables, "variables")
    check_expressions(dynamic_variables, "dynamic_variables")
    quoted = literal_variables(literals)
    both = sorted(set(variables or {}) & set(quoted))
    if both:
        raise XplentyConfigError(
            f"{', '.join(map(repr, both))} given in both variables and literal_variables: give each "
            "name once (literal_variables for plain text, variables for an expression)"
        )
    if not quoted:
        return variables
    return {**(variables or {}), **quoted}


def check_known_variables(variables: Any, literals: Any, dynamic_variables: Any = None) -> None:
    """Run :func:`job_variables`'s checks on what is known before templates are rendered (DAG parse time).

    An argument that is not a dict yet (a template, another task's output) is skipped, and so is a
    value that will be rendered (a string with ``{{``/``{%``, an ``XComArg``); names are always known.
    """

    def known(mapping: Any) -> Mapping[str, Any] | None:
        if not isinstance(mapping, Mapping):
            return None
        return {key: "" if _rendered_later(value) else value for key, value in mapping.items()}

    job_variables(known(variables), known(literals), known(dynamic_variables))


def _rendered_later(value: object) -> bool:
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    return hasattr(value, "resolve")  # XComArg and other values Airflow resolves at run time


def _check_mapping(mapping: object, what: str) -> None:
    if not isinstance(mapping, Mapping):
        raise XplentyConfigError(
            f"{what} must be a dict of variable name to value, got {type(mapping).__name__}"
        )
