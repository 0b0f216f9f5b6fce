"""Parsers are freed as soon as their request drops them: no parser is part of a reference
cycle (a bound method, closure or helper that points back at it), which only the cyclic
garbage collector could free, at the cost of more collections under load.

Every case of the conformance corpus is streamed in small chunks through the one output
processor with the collector off; once the processor is dropped, its parsers must be gone,
and no object of ours the case made may be left for the collector. (The standard library's
`ast.literal_eval`, which reads Python literals for some families, leaves a cycle of its own
inner functions per call: not ours, so not counted.)
"""

from __future__ import annotations

import gc
import types
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from tests.parsers.test_corpus import CASES, _processor

CHUNK = 7


@pytest.fixture
def no_gc() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def _ours(obj: object) -> bool:
    module = obj.__module__ if isinstance(obj, types.FunctionType | types.MethodType) else type(obj).__module__
    return module.startswith("sglang_gw.")


def _unreachable_of_ours() -> list[str]:
    """What the collector would free now, of ours (by type name). With the collector off,
    its young generation holds every object made since the last call."""
    gc.set_debug(gc.DEBUG_SAVEALL)  # keep what it finds, to look at
    gc.collect(0)
    gc.set_debug(0)
    found = sorted(type(o).__name__ for o in gc.garbage if _ours(o))
    gc.garbage.clear()
    return found


def _left(case: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Stream the case, drop the processor: the parsers still alive and the objects of ours
    only the collector would free (by type name)."""
    _unreachable_of_ours()
    proc = _processor(case)
    text = case["input"]
    for at in range(0, len(text), CHUNK):
        proc.feed(text[at:at + CHUNK])
    proc.finish()
    refs = [weakref.ref(p) for p in (proc._reasoning, proc._tools) if p is not None]
    del proc
    alive = [type(p).__name__ for p in (r() for r in refs) if p is not None]
    return alive, _unreachable_of_ours()


def test_nothing_is_left_for_the_collector(no_gc: None) -> None:
    parsers, garbage = {}, {}
    for case in CASES:
        alive, unreachable = _left(case)
        if alive:
            parsers[case["id"]] = alive
        if unreachable:
            garbage[case["id"]] = unreachable
    assert parsers == {}
    assert garbage == {}


def test_a_cycle_is_seen(no_gc: None) -> None:
    """The check itself: a parser made part of a cycle is reported."""
    case = next(c for c in CASES if c["tool_parser"] == "hermes")
    proc = _processor(case)
    proc._tools.loop = proc._tools  # type: ignore[union-attr]
    ref = weakref.ref(proc._tools)
    del proc
    assert ref() is not None
    assert "HermesToolParser" in _unreachable_of_ours()
