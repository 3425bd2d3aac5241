"""XplentyHook and XplentyAsyncHook keep the same public surface.

Same public names, and for each method the same parameters (names, kinds, defaults). Where the sync
method returns a value the async one is a coroutine function; where the sync one returns an iterator
the async one returns an async iterator. The differences that are inherent to sync vs async are
listed here, each with its reason.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from airflow_provider_xplenty._compat import BaseHook
from airflow_provider_xplenty.hooks.xplenty import XplentyAsyncHook, XplentyHook

#: Public names only one hook has, and why.
SYNC_ONLY = {
    "config": "property; the async hook reads the connection with `await get_config()`",
    "get_conn": "the requests.Session (BaseHook's convention); the async hook's httpx client is "
    "private, one per event loop",
    "get_connection_form_widgets": "the connection form on Airflow 2.11-3.1, read from the hook class "
    "named in the provider info",
    "get_ui_field_behaviour": "the connection form's labels on Airflow 2.11-3.1, same reason",
}
ASYNC_ONLY = {
    "get_config": "coroutine twin of the sync hook's `config` property",
}
#: Context-manager protocols: ``with XplentyHook()`` and ``async with XplentyAsyncHook()``.
SYNC_PROTOCOL = ("__enter__", "__exit__")
ASYNC_PROTOCOL = ("__aenter__", "__aexit__")
#: Required arguments for calling each list method without a network round trip.
LIST_ARGS = {"job_id": 1, "q": "name:x"}


def public_names(cls: type) -> set[str]:
    """Public names the hook defines itself (everything above ``BaseHook`` in its MRO)."""
    names: set[str] = set()
    for klass in cls.__mro__[: cls.__mro__.index(BaseHook)]:
        names |= {name for name in vars(klass) if not name.startswith("_")}
    return names


def parameters(func: Any) -> list[tuple[str, Any, Any]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(func).parameters.values()]


COMMON = sorted(public_names(XplentyHook) & public_names(XplentyAsyncHook))
METHODS = [name for name in COMMON if inspect.isfunction(getattr(XplentyHook, name))]


def test_same_public_names_apart_from_the_listed_ones() -> None:
    assert public_names(XplentyHook) - public_names(XplentyAsyncHook) == set(SYNC_ONLY)
    assert public_names(XplentyAsyncHook) - public_names(XplentyHook) == set(ASYNC_ONLY)
    assert all(callable(getattr(XplentyHook, name)) for name in SYNC_PROTOCOL)
    assert all(callable(getattr(XplentyAsyncHook, name)) for name in ASYNC_PROTOCOL)
    assert not any(hasattr(XplentyAsyncHook, name) for name in SYNC_PROTOCOL)
    assert not any(hasattr(XplentyHook, name) for name in ASYNC_PROTOCOL)
    assert len(METHODS) > 30  # the comparison below really covers the API


def test_constructors_take_the_same_arguments() -> None:
    assert parameters(XplentyHook.__init__) == parameters(XplentyAsyncHook.__init__)


@pytest.mark.parametrize("name", METHODS)
def test_same_parameters(name: str) -> None:
    assert parameters(getattr(XplentyHook, name)) == parameters(getattr(XplentyAsyncHook, name))


@pytest.mark.parametrize("name", METHODS)
def test_async_twin_awaits_or_iterates_asynchronously(name: str) -> None:
    sync, asynchronous = getattr(XplentyHook, name), getattr(XplentyAsyncHook, name)
    assert not inspect.iscoroutinefunction(sync) and not inspect.isasyncgenfunction(sync)
    returns = inspect.signature(sync).return_annotation
    if returns.startswith("Iterator["):
        assert not inspect.iscoroutinefunction(asynchronous), "an async iterator is returned, not awaited"
        assert inspect.signature(asynchronous).return_annotation == f"Async{returns}"
    else:
        assert inspect.iscoroutinefunction(asynchronous), name
        assert inspect.signature(asynchronous).return_annotation == returns


@pytest.mark.parametrize("name", [n for n in METHODS if n.startswith(("list_", "search_"))])
def test_list_methods_return_iterators_and_async_iterators(xplenty_emulator: Any, name: str) -> None:
    """Checked on the objects, not only the annotations (creating them sends no request)."""
    args = [LIST_ARGS[p] for p in inspect.signature(getattr(XplentyHook, name)).parameters if p in LIST_ARGS]
    items = getattr(XplentyHook(), name)(*args)
    assert isinstance(items, Iterator) and not isinstance(items, AsyncIterator)
    async_items = getattr(XplentyAsyncHook(), name)(*args)
    assert isinstance(async_items, AsyncIterator) and not isinstance(async_items, Iterator)
    assert xplenty_emulator.requests()["requests"] == []


def test_properties_and_class_attributes_match() -> None:
    others = [name for name in COMMON if name not in METHODS]
    properties = [n for n in others if isinstance(inspect.getattr_static(XplentyHook, n), property)]
    assert properties == ["policy"]
    assert isinstance(inspect.getattr_static(XplentyAsyncHook, "policy"), property)
    for name in set(others) - set(properties):  # conn_type, hook_name ...
        assert getattr(XplentyHook, name) == getattr(XplentyAsyncHook, name), name
