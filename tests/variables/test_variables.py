"""airflow_provider_xplenty.variables: string literals, variable names and value sizes."""

from __future__ import annotations

import pytest

from airflow_provider_xplenty.emulator.state import strip_expression
from airflow_provider_xplenty.exceptions import XplentyConfigError
from airflow_provider_xplenty.variables import (
    MAX_VALUE_BYTES,
    check_known_variables,
    check_variable_name,
    job_variables,
    literal,
    literal_variables,
)

INJECTION = "x' + ReadFile('/etc/passwd') + '"


@pytest.mark.parametrize(
    ("plain", "expected"),
    [
        ("/input", "'/input'"),
        ("", "''"),
        ("O'Brien", "'O\\'Brien'"),
        ("C:\\data\\", "'C:\\\\data\\\\'"),
        ("\\'", "'\\\\\\''"),  # a backslash before a quote cannot cancel the quote's escape
        (INJECTION, "'x\\' + ReadFile(\\'/etc/passwd\\') + \\''"),
        ("a\nb\r\nc\td\be\ff", "'a\\nb\\r\\nc\\td\\be\\ff'"),
        ("bell\x07 del\x7f c1\x85", "'bell\\u0007 del\\u007F c1\\u0085'"),
        ("\\u0027", "'\\\\u0027'"),  # typed text, not an escape: the backslash is doubled
        ("zürich 東京 😀 \u202e", "'zürich 東京 😀 \u202e'"),  # non-ASCII kept as it is
        ('a`date`b; -- /* "q" %declare', "'a`date`b; -- /* \"q\" %declare'"),
        (10, "'10'"),
        (-2.5, "'-2.5'"),
        (True, "'true'"),
        (False, "'false'"),
    ],
)
def test_literal_quotes_and_escapes(plain, expected):
    assert literal(plain) == expected


@pytest.mark.parametrize(
    "plain",
    [
        "/input",
        "",
        "O'Brien",
        "C:\\data\\",
        "\\'",
        INJECTION,
        "a\nb\r\nc\td\be\ff",
        "\x01\x1f\x7f\x9f",
        "\\u0027",
    ],
)
def test_literal_reads_back_as_the_plain_text(plain):
    """The emulator unescapes a literal as Pig does (StringUtils.unescapeInputString)."""
    assert strip_expression(literal(plain)) == plain


def test_literal_is_one_pig_string_literal():
    """Whatever the input, the result is a single QUOTEDSTRING token: no quote ends it early."""
    from airflow_provider_xplenty.emulator.state.records import _STRING_LITERAL

    every_char = "".join(chr(c) for c in range(1, 0x250) if chr(c) != "$")
    assert _STRING_LITERAL.fullmatch(literal(every_char))


@pytest.mark.parametrize(
    ("plain", "match"),
    [
        ("a\x00b", r"'InputPath'.*U\+0000 \(NUL, at position 1\)"),
        ("$HOME", r"'InputPath' contains '\$' \(at position 0\)"),
        ("${secret}", r"'InputPath' contains '\$'"),
        ("costs 5$", r"'InputPath' contains '\$'"),
        ("bad \udc80 bytes", r"'InputPath' contains a lone surrogate U\+DC80"),
    ],
)
def test_literal_rejects_what_cannot_be_carried(plain, match):
    with pytest.raises(XplentyConfigError, match=match):
        literal(plain, "InputPath")


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (None, r"value of 'P' is None: give '' for an empty text"),
        ({"a": 1}, r"value of 'P' must be plain text .* got dict"),
        (["a"], r"value of 'P' must be plain text .* got list"),
        (float("nan"), r"value of 'P' must be plain text .* got float"),
        (b"bytes", r"value of 'P' must be plain text .* got bytes"),
    ],
)
def test_literal_rejects_other_types_naming_the_variable(value, match):
    with pytest.raises(XplentyConfigError, match=match):
        literal(value, "P")


def test_size_limit_counts_the_literal_as_sent():
    assert len(literal("a" * (MAX_VALUE_BYTES - 2))) == MAX_VALUE_BYTES
    with pytest.raises(XplentyConfigError, match=r"literal_variables: value of 'Big' is longer than 65536"):
        literal("a" * (MAX_VALUE_BYTES - 1), "Big")  # fits as text, not with its quotes
    with pytest.raises(XplentyConfigError, match="'Big' is longer"):
        literal("'" * (MAX_VALUE_BYTES // 2), "Big")  # each quote doubles when escaped
    with pytest.raises(XplentyConfigError, match="'Big' is longer"):
        literal("é" * (MAX_VALUE_BYTES // 2), "Big")  # UTF-8 bytes, not characters
    with pytest.raises(XplentyConfigError, match="'Big' is longer"):
        literal("x" * 5_000_000, "Big")


def test_raw_expressions_are_size_checked_too():
    job_variables({"Ok": "'" + "a" * 100 + "'"}, None)
    with pytest.raises(XplentyConfigError, match=r"^variables: value of 'Big' is longer"):
        job_variables({"Big": "'" + "a" * MAX_VALUE_BYTES + "'"}, None)
    with pytest.raises(XplentyConfigError, match=r"^dynamic_variables: value of 'D' is longer"):
        job_variables(None, None, {"D": "x" * (MAX_VALUE_BYTES + 1)})


@pytest.mark.parametrize("name", ["InputPath", "x", "_run_date", "__a1", "A_1_b"])
def test_valid_names(name):
    assert check_variable_name(name) == name


@pytest.mark.parametrize(
    "name", ["Input Path", "a=b", "1st", "", "_", "__1", "in-put", "$x", "naïve", "a\n", " a"]
)
def test_invalid_names_are_rejected_with_the_rule(name):
    with pytest.raises(
        XplentyConfigError, match=r"literal_variables: variable name .* is not valid|non-empty"
    ):
        check_variable_name(name, "literal_variables")


@pytest.mark.parametrize("name", [None, 1, ("a",)])
def test_non_string_names_are_rejected(name):
    with pytest.raises(XplentyConfigError, match=r"^variables: variable names must be non-empty strings"):
        check_variable_name(name)


def test_literal_variables_quotes_every_value_and_checks_every_name():
    assert literal_variables({"A": "/a", "N": 3}) == {"A": "'/a'", "N": "'3'"}
    assert literal_variables(None) == {}
    with pytest.raises(XplentyConfigError, match="'bad name' is not valid"):
        literal_variables({"A": "/a", "bad name": "x"})
    with pytest.raises(XplentyConfigError, match=r"literal_variables must be a dict .* got str"):
        literal_variables("{'A': '/a'}")  # type: ignore[arg-type]


def test_job_variables_merges_and_refuses_a_name_given_twice():
    assert job_variables({"N": 10}, {"P": "it's"}) == {"N": 10, "P": "'it\\'s'"}
    assert job_variables(None, {"P": "/p"}) == {"P": "'/p'"}
    raw = {"P": "'/p'"}
    assert job_variables(raw, None) is raw  # nothing to quote: sent as given
    assert job_variables(None, None) is None
    with pytest.raises(XplentyConfigError, match="'P' given in both variables and literal_variables"):
        job_variables({"P": "'/a'"}, {"P": "/b"})


def test_known_variables_skip_what_renders_later():
    class Lazy:
        def resolve(self, context):  # like an XComArg
            return "x$y"

    # values rendered later are checked after rendering; their names are checked now
    check_known_variables(None, {"P": "{{ params.p }}", "Q": Lazy()}, None)
    check_known_variables("{{ params.variables }}", "{{ params.literals }}", None)
    with pytest.raises(XplentyConfigError, match="'bad name' is not valid"):
        check_known_variables(None, {"bad name": "{{ params.p }}"}, None)
    with pytest.raises(XplentyConfigError, match=r"'P' contains '\$'"):
        check_known_variables(None, {"P": "$x"}, None)
    with pytest.raises(XplentyConfigError, match="given in both"):
        check_known_variables({"P": "{{ a }}"}, {"P": "{{ b }}"}, None)
