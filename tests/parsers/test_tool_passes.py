"""The output processor's shortcut past the tool parser is exact.

Once the reasoning parser passes content for good (or there is none), the processor asks
the tool parser `passes(piece)` and, on True, returns the piece as content without calling
`feed`. Every corpus case is streamed whole, a character at a time, in 7-character pieces
and in seeded random chunkings through a processor that takes the shortcut and through
one whose parsers never let it (`passing` False, `passes` False): every feed's delta, the
end's and where the reasoning ends must be the same.
"""

from __future__ import annotations

from typing import Any

import pytest

from sglang_gw.parsers.tools import TOOL_PARSERS
from sglang_gw.parsers.types import ReasoningDelta, ToolDelta, ToolSpec
from sglang_gw.pipeline.parse import OutputProcessor, ParsedDelta
from tests.parsers.test_corpus import CASES, _processor
from tests.parsers.test_corpus import _chunkings as corpus_chunkings

_PROSE = "Sure, here it is.  Two spaces,\na newline, tabs\t\tand <b>tags</b> [a list] {x} too.\n\n"


class _NoShortcutReasoning:
    """A reasoning parser's feeds, never reported as passing."""

    passing = False

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def feed(self, text: str) -> ReasoningDelta:
        return self.inner.feed(text)

    def finish(self) -> ReasoningDelta:
        return self.inner.finish()


class _NoShortcutTools:
    """A tool parser's feeds, never passing a piece."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    @property
    def has_calls(self) -> bool:
        return self.inner.has_calls

    def passes(self, text: str) -> bool:
        return False

    def feed(self, text: str) -> ToolDelta:
        return self.inner.feed(text)

    def finish(self) -> ToolDelta:
        return self.inner.finish()


def _pair(case: dict[str, Any], *, stream_reasoning: bool) -> tuple[OutputProcessor, OutputProcessor]:
    fast, slow = _processor(case), _processor(case)
    reasoning = _NoShortcutReasoning(slow._reasoning) if slow._reasoning is not None else None
    tools = _NoShortcutTools(slow._tools) if slow._tools is not None else None
    return (OutputProcessor(fast._reasoning, fast._tools, stream_reasoning=stream_reasoning),
            OutputProcessor(reasoning, tools, stream_reasoning=stream_reasoning))  # type: ignore[arg-type]


def _key(delta: ParsedDelta) -> tuple[str, str, list[tuple[int, bool, str | None, str]]]:
    """A delta without its random call ids."""
    return (delta.content, delta.reasoning,
            [(c.index, c.id is not None, c.name, c.arguments) for c in delta.tool_calls])


def _chunkings(text: str, seed: int) -> list[list[str]]:
    return [*corpus_chunkings(text, seed, rounds=4, max_cuts=20), [text[i:i + 7] for i in range(0, len(text), 7)]]


def _same_stream(case: dict[str, Any], chunks: list[str], *, stream_reasoning: bool) -> None:
    fast, slow = _pair(case, stream_reasoning=stream_reasoning)
    for i, chunk in enumerate(chunks):
        assert _key(fast.feed(chunk)) == _key(slow.feed(chunk)), f"feed {i} of {chunks!r}"
    assert _key(fast.finish()) == _key(slow.finish()), f"finish of {chunks!r}"
    assert fast.reasoning_chars == slow.reasoning_chars
    assert fast.has_tool_calls == slow.has_tool_calls


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_the_shortcut_gives_what_the_parsers_give(case: dict[str, Any]) -> None:
    # Prose around the case's output puts most pieces on the shortcut, with whitespace
    # before and after its markup.
    for n, text in enumerate((case["input"], _PROSE + case["input"] + " " + _PROSE)):
        for chunks in _chunkings(text, seed=n):
            _same_stream(case, chunks, stream_reasoning=True)
        _same_stream(case, [text[i:i + 7] for i in range(0, len(text), 7)], stream_reasoning=False)


def _hermes() -> Any:
    return TOOL_PARSERS.get("hermes")((ToolSpec("get_weather"),))


def test_hermes_passes_plain_text_only_when_nothing_is_held() -> None:
    p = _hermes()
    assert p.passes("Sure,") and p.passes(" it")
    assert not p.passes("a <b>") and not p.passes("two ") and not p.passes("")
    p.feed("Let me look ")  # the space is held: it is markup if a call follows
    assert not p.passes("it")
    p.feed("it")
    assert p.passes(" up.")
    p.feed(" <tool")  # a marker may be starting
    assert not p.passes("x")
    p.feed('_call>{"name": "get_weather", "arguments": {}}</tool_call>')
    assert not p.passes("Done")  # right after markup: leading whitespace is markup too
    assert p.feed("\nDone").content == "Done"
    assert p.passes(".")


@pytest.mark.parametrize("name", ["qwen3_coder", "pythonic", "passthrough"])
def test_other_families_pass_as_their_feed_would(name: str) -> None:
    p = TOOL_PARSERS.get(name)((ToolSpec("get_weather"),))
    passes = p.passes("Sure, it ends in a space ")
    if name == "pythonic":
        assert not passes  # its feed and taken are its own: never the shortcut
    else:
        assert passes  # content as it is: no whitespace rule
        assert p.feed("Sure, it ends in a space ") == ToolDelta("Sure, it ends in a space ")


def test_reasoning_held_for_content_is_released_with_the_first_content() -> None:
    # Trinity drops a stray `</think>` from the text: the content after the block starts
    # with no content at all, so the held reasoning waits for "Hi" (which passes Trinity).
    case = {"reasoning_parser": "qwen3", "tool_parser": "trinity"}
    chunks = ["<think>a thought</think>", "</think>", "Hi", " there"]
    _same_stream(case, chunks, stream_reasoning=False)
    fast, _ = _pair(case, stream_reasoning=False)
    assert [_key(fast.feed(c))[:2] for c in chunks] == [("", ""), ("", ""), ("Hi", "a thought"), (" there", "")]
