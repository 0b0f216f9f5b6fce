"""The reasoning-parser registry: names are CLI values, aliases are rows, plugins plug in."""

from __future__ import annotations

import gc
import weakref
from importlib.metadata import EntryPoint
from typing import ClassVar

import pytest

import sglang_gw.registry as registry_module
from sglang_gw.errors import ConfigError
from sglang_gw.parsers._scan import Markers
from sglang_gw.parsers.reasoning import REASONING_PARSERS, ReasoningParser
from sglang_gw.parsers.types import ReasoningDelta
from sglang_gw.registry import Registry
from tests.parsers.harness import split_invariant_reasoning

REQUIRED = ["deepseek_r1", "deepseek_v31", "qwen3", "qwen3_thinking", "glm45", "kimi", "kimi_k2",
            "kimi_k2_thinking", "minimax", "minimax_append_think", "step3", "mistral", "gpt_oss", "cohere"]


@pytest.mark.parametrize("name", REQUIRED)
def test_a_parser_is_freed_without_the_garbage_collector(name: str) -> None:
    """A parser is no reference cycle (states are not bound methods kept on it): each
    request's parsers go when their last reference does, not at the next collection."""
    gc.disable()
    try:
        parser = REASONING_PARSERS.get(name)(prompt_text="x")
        parser.feed("<think>a</think>b")
        parser.finish()
        ref = weakref.ref(parser)
        del parser
        assert ref() is None
    finally:
        gc.enable()


@pytest.mark.parametrize("name", REQUIRED)
def test_required_parsers_are_registered_and_build(name: str) -> None:
    cls = REASONING_PARSERS.get(name)
    assert issubclass(cls, ReasoningParser)
    for kwargs in ({}, {"prompt_text": "x"}, {"enable_thinking": False}, {"prompt_text": "", "enable_thinking": True}):
        parser = cls(**kwargs)
        assert isinstance(parser.feed(""), ReasoningDelta) and isinstance(parser.finish(), ReasoningDelta)
    assert cls.special_markers and all(isinstance(m, str) and m for m in cls.special_markers)


def test_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as err:
        REASONING_PARSERS.get("deepseek_r2")
    message = str(err.value)
    assert "deepseek_r2" in message
    assert all(name in message for name in REQUIRED)


@pytest.mark.parametrize(("alias", "name"), [("deepseek-r1", "deepseek_r1"), ("qwen3-thinking", "qwen3_thinking"),
                                             ("glm4_moe", "glm45"), ("minimax-append-think", "minimax_append_think"),
                                             ("harmony", "gpt_oss"), ("gpt-oss", "gpt_oss"), ("magistral", "mistral"),
                                             ("deepseek-v3", "deepseek_v31")])
def test_aliases(alias: str, name: str) -> None:
    assert REASONING_PARSERS.canonical(alias) == name
    assert REASONING_PARSERS.get(alias) is REASONING_PARSERS.get(name)
    assert alias in REASONING_PARSERS.names()


class BracketThinkParser(ReasoningParser):
    """A third-party family: only markers, everything else inherited."""

    start = "<<reason>>"
    end = "<</reason>>"
    starts_in_reasoning = True
    implicit_ends: ClassVar[tuple[str, ...]] = ()


def test_plugin_registered_at_run_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(REASONING_PARSERS, "_loaded", dict(REASONING_PARSERS._loaded))  # undone after the test
    REASONING_PARSERS.register("bracket_think")(BracketThinkParser)
    assert "bracket_think" in REASONING_PARSERS.names()
    cls = REASONING_PARSERS.get("bracket_think")
    assert split_invariant_reasoning(cls, "\nwhy\n<</reason>>\n\nbecause") == ("why", "because")
    assert cls.special_markers == ("<<reason>>", "<</reason>>")


def test_plugin_from_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    group = "sglang_gw.reasoning_parsers"
    ep = EntryPoint("bracket_think", f"{__name__}:BracketThinkParser", group)
    monkeypatch.setattr(registry_module, "_entry_points", lambda g: [ep] if g == group else [])
    fresh: Registry[ReasoningParser] = Registry("reasoning parser", {}, entry_point_group=group)
    assert fresh.get("bracket_think") is BracketThinkParser


def test_marker_sets_must_not_nest() -> None:
    with pytest.raises(ValueError, match="occurs inside"):
        Markers(("<end>", "x<end>y"))
    with pytest.raises(ValueError):
        type("Bad", (ReasoningParser,), {"end": "</t>", "implicit_ends": ("</t>>",)})
