"""The chaos suite's scenario list, selection and table (no Airflow run: ``make chaos`` does that)."""

from __future__ import annotations

import pytest
from _chaos_harness import Expect, Outcome, Scenario
from _chaos_scenarios import SCENARIOS
from chaos import COLUMNS, main, select, table


def test_scenarios_have_unique_names_and_a_quick_subset() -> None:
    names = [s.name for s in SCENARIOS]
    assert len(names) == len(set(names))
    quick = [s.name for s in select(None, quick=True)]
    assert quick and set(quick) < set(names)


def test_select_keeps_table_order_and_rejects_unknown_names() -> None:
    assert [s.name for s in select("failing-job,happy", quick=False)] == ["happy", "failing-job"]
    with pytest.raises(SystemExit, match="unknown scenario"):
        select("no-such-scenario", quick=False)


def test_list_prints_every_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    assert all(s.name in out for s in SCENARIOS)


def test_table_rows_verdicts_and_notes() -> None:
    ok = Outcome(Scenario("a", "clean", Expect("success")), state="success", jobs="103:1", clusters=1)
    wrong = Outcome(
        Scenario("b", "leaky", Expect("failed", emails=1), known_issue=True),
        state="failed",
        jobs="103:0",
        live=1,
        clusters=1,
        emails=1,
        problems=["live clusters 1001"],
    )
    skipped = Outcome(
        Scenario("c", "new fault", Expect("success")), skipped="fault not supported by this emulator"
    )
    skipped.notes.append("fault not supported by this emulator: {...}")

    text = table([ok, wrong, skipped])
    lines = text.splitlines()

    assert all(column in lines[0] for column in COLUMNS)
    assert [line.split("|")[-2].strip() for line in lines[2:5]] == ["ok", "WRONG", "SKIPPED"]
    assert "| leaky *" in lines[3] and "| 1 of 1 " in lines[3]
    assert "WRONG: live clusters 1001" in text
    assert "fault not supported by this emulator" in lines[4]
    assert ok.ok and not wrong.ok and skipped.ok
