"""StopMatcher against a whole-text reference, under every way of splitting the text."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence

import pytest

from sglang_gw.tokenizer.stop import StopMatch, StopMatcher


def reference(text: str, stops: Sequence[str], keep_stop: bool) -> tuple[str, str | None]:
    """Earliest stop in the whole text (longest on equal start), cut before or after it."""
    best: tuple[int, str] | None = None
    for stop in filter(None, stops):
        at = text.find(stop)
        if at >= 0 and (best is None or (at, -len(stop)) < (best[0], -len(best[1]))):
            best = (at, stop)
    if best is None:
        return text, None
    at, stop = best
    return text[: at + len(stop) if keep_stop else at], stop


def random_split(rng: random.Random, text: str) -> list[str]:
    cuts = sorted(rng.randrange(len(text) + 1) for _ in range(rng.randrange(12)))
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def run(stops: Sequence[str], parts: Sequence[str], *, keep_stop: bool = False) -> tuple[str, str | None]:
    """Feed ``parts``; check the stream's own invariants on the way; return text and stop."""
    matcher = StopMatcher(stops, keep_stop=keep_stop)
    longest = max((len(s) for s in stops), default=0)
    fed, out = "", []
    stopped: StopMatch | None = None
    for part in parts:
        result = matcher.feed(part)
        fed += part
        if stopped is not None:  # nothing after a stop
            assert result == StopMatch("", True, stopped.matched)
            continue
        out.append(result.text)
        if result.stopped:
            stopped = result
            assert result.matched is not None and matcher.matched == result.matched
        else:
            # Only a possible stop start is held: at most len(longest stop) - 1 chars.
            assert len(fed) - len("".join(out)) <= max(longest - 1, 0)
    out.append(matcher.finish())
    return "".join(out), matcher.matched


ALPHABET = "aab b\n中é😀"


def random_case(rng: random.Random) -> tuple[str, list[str]]:
    text = "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(40)))
    stops = ["".join(rng.choice(ALPHABET) for _ in range(rng.randrange(1, 5))) for _ in range(rng.randrange(4))]
    if stops and rng.random() < 0.4:  # stops that are prefixes of each other
        stops.append(stops[0] + rng.choice(ALPHABET))
    if text and rng.random() < 0.5:  # make a hit likely
        start = rng.randrange(len(text))
        stops.append(text[start : start + rng.randrange(1, 5)])
    return text, stops


@pytest.mark.parametrize("keep_stop", [False, True])
def test_any_split_equals_reference(keep_stop: bool) -> None:
    rng = random.Random(f"stop-{keep_stop}")
    for _ in range(300):
        text, stops = random_case(rng)
        expected = reference(text, stops, keep_stop)
        for _ in range(100):
            assert run(stops, random_split(rng, text), keep_stop=keep_stop) == expected, (text, stops)


@pytest.mark.parametrize(
    ("stops", "parts", "expected"),
    [
        (["STOP"], ["hello ST", "OP world"], ("hello ", "STOP")),  # split across 2 feeds
        (["STOP"], ["a S", "T", "OP"], ("a ", "STOP")),  # across 3 feeds
        (["</s>"], ["x<", "/", "s", ">y"], ("x", "</s>")),  # one char per feed
        (["b", "a"], ["xxab"], ("xx", "a")),  # several stops in one feed: the earliest
        (["aab"], ["aa", "ab"], ("a", "aab")),  # overlap: "aaab" matches at 1
        (["ab", "abc"], ["ab", "c"], ("", "abc")),  # prefixes: the longest on equal start
        (["ab", "abc"], ["ab", "x"], ("", "ab")),
        (["abcd", "bc"], ["abc", "d"], ("", "abcd")),  # an earlier start beats an earlier end
        (["abcd", "bc"], ["abc", "x"], ("a", "bc")),
        (["。", "结束"], ["你好结", "束了"], ("你好", "结束")),  # non-ASCII
        (["🛑"], ["go 🛑 no"], ("go ", "🛑")),
        (["STOP"], ["ST", "OP"], ("", "STOP")),
    ],
)
def test_examples(stops: list[str], parts: list[str], expected: tuple[str, str]) -> None:
    assert run(stops, parts) == expected
    assert reference("".join(parts), stops, False) == expected


def test_hold_that_is_not_a_stop_is_released_intact() -> None:
    matcher = StopMatcher(["</answer>"])
    assert matcher.feed("x </ans") == StopMatch("x ", False, None)
    assert matcher.feed("wer") == StopMatch("", False, None)
    assert matcher.feed("!") == StopMatch("</answer!", False, None)
    assert matcher.feed("</") == StopMatch("", False, None)
    assert matcher.finish() == "</"
    assert not matcher.stopped and matcher.matched is None


def test_keep_stop_includes_the_stop() -> None:
    assert run(["STOP"], ["a ST", "OP b"], keep_stop=True) == ("a STOP", "STOP")


def test_stop_settled_at_finish() -> None:
    # "a" completed but "ab" could still follow; the stream ends, so "a" it is.
    matcher = StopMatcher(["ab", "a"])
    assert matcher.feed("xa") == StopMatch("x", False, None)
    assert matcher.finish() == ""
    assert matcher.stopped and matcher.matched == "a"


def test_feeds_after_stop_return_nothing() -> None:
    matcher = StopMatcher(["\n\n"])
    assert matcher.feed("a\n\nb") == StopMatch("a", True, "\n\n")
    assert matcher.feed("more") == StopMatch("", True, "\n\n")
    assert matcher.finish() == ""


@pytest.mark.parametrize("stops", [[], [""], ["", ""]])
def test_no_stops_is_a_passthrough(stops: list[str]) -> None:
    matcher = StopMatcher(stops)
    assert [matcher.feed(t).text for t in ("a", "", "b\n")] == ["a", "", "b\n"]
    assert matcher.finish() == "" and not matcher.stopped


def test_empty_stops_are_ignored_among_others() -> None:
    assert run(["", "b"], ["abc"]) == ("a", "b")


def test_long_stop_and_long_text() -> None:
    stop = "x" * 500 + "y"
    text = "x" * 2000 + "y tail"
    rng = random.Random(3)
    for _ in range(5):
        assert run([stop], random_split(rng, text)) == ("x" * 1500, stop)


def _cjk_stops(rng: random.Random, count: int, length: int) -> list[str]:
    return ["".join(chr(rng.randrange(0x4E00, 0x9FFF)) for _ in range(length)) for _ in range(count)]


def test_compiled_stops_are_cached_within_a_byte_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """However many distinct stop sets arrive, the automata kept for reuse stay within the
    cache's byte budget (measured, not just counted). The sets are the largest the default
    limits allow (4 stops of 1024 characters); a quarter of the default budget, overflowed
    about twice, tests the same eviction in a quarter of the time."""
    import gc
    import tracemalloc

    from sglang_gw.tokenizer.stop import CACHE_BYTES, cached_automata

    cache = cached_automata()
    cache.clear()
    monkeypatch.setattr(cache, "max_bytes", CACHE_BYTES // 4)
    rng = random.Random(11)
    gc.collect()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        for _ in range(12):
            stops = _cjk_stops(rng, 4, 1024)
            assert StopMatcher(stops).feed(stops[2][:5] + stops[2] + "tail").matched == stops[2]
            del stops
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    assert cache.bytes <= cache.max_bytes and len(cache) > 0
    assert held <= cache.max_bytes * 1.25  # the cache's estimate is within a few % of the truth
    cache.clear()


def test_an_automaton_larger_than_the_budget_is_used_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    from sglang_gw.tokenizer.stop import cached_automata

    cache = cached_automata()
    cache.clear()
    monkeypatch.setattr(cache, "max_bytes", 100_000)
    stops = _cjk_stops(random.Random(5), 1, 1024)
    assert StopMatcher(stops).feed("x" + stops[0]).stopped
    assert len(cache) == 0 and cache.bytes == 0
    StopMatcher(["</s>"])
    assert len(cache) == 1 and 0 < cache.bytes <= 100_000
