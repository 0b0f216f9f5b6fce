"""Stop strings, matched by the gateway on detokenized text, one matcher per choice.

Semantics (the same whatever the split of the text into feeds): the stop whose
occurrence *starts* earliest in the whole text wins, and on equal start the longest;
the output ends right before it (``keep_stop``, SGLang's ``no_stop_trim``: right after
it). Empty stop strings are ignored (an empty stop would end every response before
its first character), as are duplicates.

Text that could still be the start of a stop is held, never leaked. Because a longer
stop starting earlier or at the same place wins, a completed stop may itself be held
for a while: with stops ``["a", "ab"]`` the text "a" is held until the next character
says which one it is, and if the stream ends there, ``finish()`` decides for "a"
(read :attr:`StopMatcher.matched` after it).

Matching runs an Aho-Corasick automaton one character at a time: the state is the
longest suffix of the text that is a prefix of some stop, so per-feed cost is linear
in the new text and nothing already emitted is scanned again. Text with none of the
stops' first characters skips the automaton with one C-level set test.

An automaton has a state per character of the stops and its build time and size grow
with them (about 300 bytes a state; more when many stops share prefixes): requests bound
their stops' length (config.py's `RequestLimits`). Automata are kept for reuse in a cache
bounded by the bytes they hold (`CACHE_BYTES`), so no sequence of requests can make it
keep more.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["CACHE_BYTES", "CACHE_ENTRIES", "StopMatch", "StopMatcher", "cached_automata"]

# What the compiled-automaton cache may hold: 8 to 25 automata at the largest stops the
# default limits allow (1.3 to 4 MB each), thousands of ordinary ones (a few KB each). An
# automaton larger than all of it (stops past raised limits) is used once, not kept.
CACHE_BYTES = 32 * 1024 * 1024
CACHE_ENTRIES = 4096


@dataclass(slots=True, frozen=True)
class StopMatch:
    """What one ``feed`` released: text safe to emit now, and whether a stop completed."""

    text: str
    stopped: bool
    matched: str | None


# A frozen dataclass sets its fields through object.__setattr__, twice as slow as the
# slot descriptors used here; this runs once per token of every request.
_new_match = object.__new__
_set_text = StopMatch.__dict__["text"].__set__
_set_stopped = StopMatch.__dict__["stopped"].__set__
_set_matched = StopMatch.__dict__["matched"].__set__


def _passthrough(text: str) -> StopMatch:
    match = _new_match(StopMatch)
    _set_text(match, text)
    _set_stopped(match, False)
    _set_matched(match, None)
    return match


@dataclass(slots=True, frozen=True)
class _Automaton:
    """Aho-Corasick over the stops; state 0 is the root (nothing pending)."""

    root: dict[str, int]  # transitions from the root: the default for every state
    rows: list[dict[str, int]]  # per state, the transitions that differ from root's
    longest_stop: list[str | None]  # longest stop ending at this state
    live: list[int]  # length of the longest suffix that can still grow into a stop
    first_chars: frozenset[str]
    size: int  # bytes it holds, about: what the cache counts


def _build_trie(stops: Sequence[str]) -> tuple[list[dict[str, int]], list[str | None]]:
    children: list[dict[str, int]] = [{}]
    terminal: list[str | None] = [None]
    for stop in stops:
        node = 0
        for ch in stop:
            nxt = children[node].get(ch)
            if nxt is None:
                nxt = len(children)
                children[node][ch] = nxt
                children.append({})
                terminal.append(None)
            node = nxt
        terminal[node] = stop
    return children, terminal


def _bfs_order(children: list[dict[str, int]]) -> list[int]:
    order = [0]
    for node in order:
        order.extend(children[node].values())
    return order


def _footprint(stops: tuple[str, ...], rows: list[dict[str, int]]) -> int:
    """Bytes an automaton holds, about: its dicts and lists, a state number and a character
    per state (shared where they repeat, so this errs high), and the stops themselves."""
    return (sum(map(sys.getsizeof, rows)) + 3 * sys.getsizeof(rows) + len(rows) * _STATE_OBJECTS
            + sum(map(sys.getsizeof, stops)))


_STATE_OBJECTS = 32 + 80  # an int past the small-int cache, a one-character str past Latin-1


def _compile(stops: tuple[str, ...]) -> _Automaton:
    children, terminal = _build_trie(stops)
    size = len(children)
    fail, depth = [0] * size, [0] * size
    longest: list[str | None] = [None] * size
    live = [0] * size
    rows: list[dict[str, int]] = [{} for _ in range(size)]
    for node in _bfs_order(children):  # parents (and so fail targets) come first
        if node:
            longest[node] = terminal[node] or longest[fail[node]]
            live[node] = depth[node] if children[node] else live[fail[node]]
            # delta(node, c) = child if any, else delta(fail(node), c)
            rows[node] = {**rows[fail[node]], **children[node]}
        for ch, child in children[node].items():
            depth[child] = depth[node] + 1
            fail[child] = _delta(children[0], rows, fail[node], ch) if node else 0
    return _Automaton(children[0], rows, longest, live, frozenset(s[0] for s in stops), _footprint(stops, rows))


class _AutomatonCache:
    """Least recently used automata, bounded by the bytes they hold and by their number.

    Matchers are built on the event loop, but nothing stops a plugin or a test from building
    one in a thread: the bookkeeping is under a lock (the build is not)."""

    def __init__(self, max_bytes: int = CACHE_BYTES, max_entries: int = CACHE_ENTRIES) -> None:
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self.bytes = 0
        self._kept: OrderedDict[tuple[str, ...], _Automaton] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._kept)

    def get(self, stops: tuple[str, ...]) -> _Automaton:
        with self._lock:
            auto = self._kept.get(stops)
            if auto is not None:
                self._kept.move_to_end(stops)
                return auto
        auto = _compile(stops)
        if auto.size <= self.max_bytes:
            self._keep(stops, auto)
        return auto

    def _keep(self, stops: tuple[str, ...], auto: _Automaton) -> None:
        with self._lock:
            if stops in self._kept:  # built meanwhile by another thread
                return
            self._kept[stops] = auto
            self.bytes += auto.size
            while self.bytes > self.max_bytes or len(self._kept) > self.max_entries:
                _, old = self._kept.popitem(last=False)
                self.bytes -= old.size

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()
            self.bytes = 0


_cache = _AutomatonCache()


def cached_automata() -> _AutomatonCache:
    """The process's compiled-stop cache (for tests and diagnostics)."""
    return _cache


def _delta(root: dict[str, int], rows: list[dict[str, int]], state: int, ch: str) -> int:
    nxt = rows[state].get(ch)
    return root.get(ch, 0) if nxt is None else nxt


class StopMatcher:
    """Holds back text that may become a stop string and cuts the output at the first stop.

    ``feed(text)`` returns a :class:`StopMatch`; once ``stopped`` is true, later feeds
    return no text. ``finish()`` releases what is held at the end of the stream; it may
    itself settle on a held stop (see the module docstring), reported by ``matched``.
    """

    __slots__ = ("_auto", "_keep", "_held", "_state", "_cand_start", "_cand", "_matched", "_done")

    def __init__(self, stops: Sequence[str], *, keep_stop: bool = False) -> None:
        unique = tuple(sorted({s for s in stops if s}))
        self._auto = _cache.get(unique) if unique else None
        self._keep = keep_stop
        self._held = ""  # text not yet released; starts where a stop may start
        self._state = 0
        self._cand_start = 0  # start (in _held) of a completed stop awaiting a longer one
        self._cand: str | None = None
        self._matched: str | None = None
        self._done = False

    @property
    def stopped(self) -> bool:
        """True once a stop string ended the text (in ``feed`` or in ``finish``)."""
        return self._matched is not None

    @property
    def matched(self) -> str | None:
        """The stop string that ended the text, if any."""
        return self._matched

    def feed(self, text: str) -> StopMatch:
        if self._done:
            return StopMatch("", self._matched is not None, self._matched)
        auto = self._auto
        if auto is None or (
            self._state == 0 and self._cand is None and auto.first_chars.isdisjoint(text)
        ):
            return _passthrough(text)  # nothing held and no stop can start in `text`
        return self._scan(auto, text)

    def _scan(self, auto: _Automaton, text: str) -> StopMatch:
        held = self._held + text
        rows, root, longest, live = auto.rows, auto.root, auto.longest_stop, auto.live
        pos, state = len(self._held), self._state
        cand_start, cand = self._cand_start, self._cand
        for ch in text:
            nxt = rows[state].get(ch)
            state = root.get(ch, 0) if nxt is None else nxt
            pos += 1
            stop = longest[state]
            # Ending later at the same start means longer: that one wins too.
            if stop is not None and (cand is None or pos - len(stop) <= cand_start):
                cand_start, cand = pos - len(stop), stop
            # No partial match reaches back to the candidate: nothing can beat it now.
            if cand is not None and pos - live[state] > cand_start:
                return self._stop(held, cand_start, cand)
        # Hold from the longest partial match on; it starts at or before any candidate.
        cut = pos - live[state]
        self._held, self._state = held[cut:], state
        self._cand_start, self._cand = cand_start - cut, cand
        return _passthrough(held[:cut])

    def _stop(self, held: str, start: int, stop: str) -> StopMatch:
        self._done, self._matched = True, stop
        self._held, self._cand = "", None
        end = start + len(stop) if self._keep else start
        return StopMatch(held[:end], True, stop)

    def finish(self) -> str:
        """End of stream: release held text, or settle on a held stop (see ``matched``)."""
        if self._done:
            return ""
        held, cand = self._held, self._cand
        self._done, self._held, self._cand = True, "", None
        if cand is None:
            return held
        self._matched = cand
        end = self._cand_start + len(cand) if self._keep else self._cand_start
        return held[:end]
