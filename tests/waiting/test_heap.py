"""The start-up heap is frozen once per process (docs/scale.md "The event loop"): full collections skip it."""

from __future__ import annotations

import asyncio
import gc

import pytest

from airflow_provider_xplenty._waiting import heap
from airflow_provider_xplenty._waiting.shared import SharedStatusPoller


@pytest.fixture(autouse=True)
def unfrozen(monkeypatch):
    """Each test starts as a process that froze nothing yet, and leaves nothing frozen."""
    monkeypatch.setattr(SharedStatusPoller, "_registry", {})
    monkeypatch.setattr(heap, "_frozen", False)
    gc.unfreeze()
    yield
    gc.unfreeze()


async def new_pollers(*conn_ids: str) -> list[int]:
    """Create a poller per connection; return the frozen object count after each."""
    counts: list[int] = []
    made_after: list[list[list[int]]] = []
    for conn_id in conn_ids:
        SharedStatusPoller.for_connection(conn_id, {}, None)
        counts.append(gc.get_freeze_count())
        made_after.append([[] for _ in range(1000)])  # tracked objects a second freeze would take
    return counts


def test_the_first_poller_freezes_the_heap_once():
    assert gc.get_freeze_count() == 0
    first, second = asyncio.run(new_pollers("a", "b"))
    assert first > 10_000  # the imports (Airflow, pytest, the provider): before, nothing was frozen
    assert second <= first  # the second poller froze nothing more (garbage cycles would pile up)


def test_gc_freeze_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("AIRFLOW__XPLENTY__GC_FREEZE", "False")
    assert asyncio.run(new_pollers("a")) == [0]
