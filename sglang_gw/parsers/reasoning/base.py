"""The per-choice think-block machine shared by every `<think>…</think>`-style family.

A parser is built once per choice, `Parser(prompt_text=..., enable_thinking=...)`, then
fed decoded text: `feed(text)` returns what is final now as a `ReasoningDelta`, `finish()`
flushes what was held. Families are subclasses that only declare class attributes.

Where a choice starts (`start_state`), in this order:
1. the rendered prompt ends (trailing whitespace aside) with the start marker: the
   template opened the block, the output begins inside reasoning;
2. the prompt ends with the end marker: the template wrote an empty block to switch
   thinking off (Qwen3 `enable_thinking=false`, DeepSeek V3.1, GLM, Cohere): content;
3. `enable_thinking` is False: content; True: `opens_when_thinking`;
4. otherwise the family default, `starts_in_reasoning`.
Either way the output may still begin with the start marker itself (after at most
`MAX_LEADING_WS` whitespace characters), which is then dropped with that whitespace.

Text and whitespace, chosen to match how the templates render history and to be the same
however the output is split:
- reasoning is the block's text with leading and trailing whitespace removed (so an empty
  block, `<think>\\n\\n</think>`, gives no reasoning at all);
- content after the end marker (in the output or, case 2, in the prompt) loses its leading
  whitespace; content with no block before it is kept byte for byte;
- after the end marker everything is content: tool markup there is for the tool parser,
  tool markup inside the block stays reasoning (unless the family lists it in
  `implicit_ends`, as Kimi K2 does for its tool section);
- a marker split across feeds is held (never more than one marker's length) and
  released as plain text if it does not complete; `finish()` on a block with no end
  marker (cut off) gives everything as reasoning.

Reasoning cut short by a tool call (`watch_calls`, set by the output processor from the
tool parser): Qwen3 and GLM sometimes open a call inside the block and end the output
without `</think>`. From a call start marker inside the block the text is held: if the
end marker follows, all of it is reasoning (markup inside a closed block is no call); if
the output ends first and the held text is whole calls (the tool parser's trial parse
says so), it is content, for the tool parser; anything else is reasoning.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, ClassVar

from sglang_gw.parsers._scan import Markers
from sglang_gw.parsers.types import ReasoningDelta

__all__ = ["MAX_LEADING_WS", "Out", "ReasoningParser", "StartState", "Step"]

# Whitespace allowed before an opening start marker; beyond it the output has no block.
MAX_LEADING_WS = 32


class StartState(enum.Enum):
    """Where a choice's output begins."""

    REASONING = "reasoning"  # inside a block (the prompt or the family opened it)
    CONTENT = "content"  # outside; a block may still open at the very start
    AFTER_BLOCK = "after_block"  # the prompt closed an (empty) block: content, lstripped


# The members as module names for this module's own reads: on Python 3.11 reading one
# through the class takes `EnumType.__getattr__`'s slow path, and every choice reads them.
REASONING, CONTENT, AFTER_BLOCK = StartState.REASONING, StartState.CONTENT, StartState.AFTER_BLOCK


class Out:
    """What one feed gives, gathered by the states."""

    __slots__ = ("content", "reasoning")

    def __init__(self) -> None:
        self.reasoning: list[str] = []
        self.content: list[str] = []


# A state of the machine: it reads the unread text (`final`: the output ended there) and
# returns what is left for the next state, or None once all of it is read or held. States
# are the class's functions, called with the parser: a bound method kept on the parser
# would make each parser a reference cycle, left for the garbage collector.
Step = Callable[[Any, str, bool, Out], str | None]


class ReasoningParser:
    """Base of every reasoning parser; the default machine handles think-tag families."""

    start: ClassVar[str] = "<think>"
    end: ClassVar[str] = "</think>"
    # Where the output starts when neither the prompt nor `enable_thinking` says.
    starts_in_reasoning: ClassVar[bool] = False
    # With `enable_thinking=True` and no prompt: does the template open the block itself?
    opens_when_thinking: ClassVar[bool] = False
    # Markers that also end reasoning but belong to the content (kept there).
    implicit_ends: ClassVar[tuple[str, ...]] = ()
    # Wrapper markers dropped from content (Cohere's response tags).
    content_wrappers: ClassVar[tuple[str, ...]] = ()
    # An end marker at the very start of content (no block opened) is dropped as markup:
    # templates that print `</think>` alone for a turn without thinking (MiniMax-M3).
    drops_leading_end: ClassVar[bool] = False
    # Marker texts the decoder must keep in the text (skip_special_tokens off for these).
    special_markers: ClassVar[tuple[str, ...]] = ("<think>", "</think>")

    _end_markers: ClassVar[Markers]
    _wrapper_markers: ClassVar[Markers | None]
    # Shortcuts past the machine for the usual feed, set by the states themselves (a
    # family with a machine of its own never sets them). `passing` (public: the output
    # processor reads it to skip `feed`): the output is content for good (see
    # `_in_content`), so every later feed returns its text as content, as it is.
    # `_in_block`: the last feed ended inside the block with nothing held (see
    # `_in_reasoning`), so a feed where no marker can start is reasoning.
    passing: bool = False
    _in_block: bool = False

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "special_markers" not in cls.__dict__:
            cls.special_markers = (cls.start, cls.end, *cls.implicit_ends, *cls.content_wrappers)
        _compile(cls)

    def __init__(self, *, prompt_text: str | None = None, enable_thinking: bool | None = None) -> None:
        state = self.start_state(prompt_text, enable_thinking)
        cls = type(self)
        self._held = ""
        self._state: Step = cls._in_content if state is AFTER_BLOCK else cls._opening
        self._default: Step = cls._in_reasoning if state is REASONING else cls._in_content
        self._reasoning = _Trim(lead=True, trail=True)
        self._content = _Trim(lead=state is AFTER_BLOCK, trail=False)
        self._watch: Markers | None = None  # end markers and call starts, once watched
        self._whole_calls: Callable[[str], bool] | None = None
        self._cut: list[str] = []  # held text from a call start inside the block

    def watch_calls(self, starts: tuple[str, ...], whole_calls: Callable[[str], bool]) -> None:
        """Hold a block's text from any of `starts` (see the module docstring); at the end
        of the output `whole_calls(held)` says whether it is calls."""
        starts = tuple(m for m in starts if m not in self._end_markers.markers)
        if starts:
            self._watch = Markers((*self._end_markers.markers, *starts))
            self._whole_calls = whole_calls

    @classmethod
    def start_state(cls, prompt_text: str | None, enable_thinking: bool | None) -> StartState:
        """Where the output begins, decided by the rules in the module docstring."""
        if prompt_text is not None:
            tail = prompt_text.rstrip()
            if tail.endswith(cls.start):
                return REASONING
            if tail.endswith(cls.end):
                return AFTER_BLOCK
        if enable_thinking is not None:
            inside = enable_thinking and (cls.opens_when_thinking or cls.starts_in_reasoning)
        else:
            inside = cls.starts_in_reasoning
        return REASONING if inside else CONTENT

    def feed(self, text: str) -> ReasoningDelta:
        if self.passing:
            return ReasoningDelta("", text)
        if self._in_block and (self._watch or self._end_markers).absent_from(text):
            return ReasoningDelta(self._reasoning.push(text), "")
        return self._run(text, final=False)

    def finish(self) -> ReasoningDelta:
        return self._run("", final=True)

    # -- the machine -------------------------------------------------------------------

    def _run(self, text: str, *, final: bool) -> ReasoningDelta:
        out = Out()
        buf: str | None = self._held + text
        self._held = ""
        while buf is not None:
            buf = self._state(self, buf, final, out)
        return ReasoningDelta("".join(out.reasoning), "".join(out.content))

    def _until(self, buf: str, markers: Markers, final: bool) -> tuple[str, tuple[int, str] | None]:
        """The text of `buf` before the first of `markers`, and that marker as (index,
        marker); with none, a tail that may begin one is held for the next feed."""
        hit = markers.find(buf)
        if hit is not None:
            return buf[:hit[0]], hit
        cut = len(buf) if final else markers.safe_end(buf)
        self._held = buf[cut:]
        return buf[:cut], None

    def _opening(self, buf: str, final: bool, out: Out) -> str | None:
        """At the very start: drop an opening start marker (and whitespace before it)."""
        body = buf.lstrip()
        if len(buf) - len(body) <= MAX_LEADING_WS:
            if body.startswith(self.start):
                self._state = type(self)._in_reasoning
                return body[len(self.start):]
            if self.drops_leading_end and self._default is type(self)._in_content and body.startswith(self.end):
                self._state, self._content.lead = type(self)._in_content, True
                return body[len(self.end):]
            if not final and (self.start.startswith(body) or (self.drops_leading_end and self.end.startswith(body))):
                self._held = buf
                return None
        self._state = self._default
        return buf

    def _in_reasoning(self, buf: str, final: bool, out: Out) -> str | None:
        markers = self._watch or self._end_markers
        text, hit = self._until(buf, markers, final)
        out.reasoning.append(self._reasoning.push(text))
        self._in_block = hit is None and not self._held  # this state reads the next feed
        if hit is None:
            return None
        i, marker = hit
        if marker not in self._end_markers.markers:  # a call start: hold from here
            self._state = type(self)._in_cut
            return buf[i:]
        return self._end_block(buf, i, marker)

    def _in_cut(self, buf: str, final: bool, out: Out) -> str | None:
        hit = self._end_markers.find(buf)
        if hit is not None:  # the block closes after all: what was held is reasoning
            i, marker = hit
            out.reasoning.append(self._reasoning.push("".join(self._cut) + buf[:i]))
            self._cut = []
            return self._end_block(buf, i, marker)
        if not final:
            cut = self._end_markers.safe_end(buf)
            self._cut.append(buf[:cut])
            self._held = buf[cut:]
            return None
        held, self._cut = "".join(self._cut) + buf, []
        if self._whole_calls is not None and self._whole_calls(held):
            self._state = type(self)._in_content
            out.content.append(held)
        else:
            out.reasoning.append(self._reasoning.push(held))
        return None

    def _end_block(self, buf: str, i: int, marker: str) -> str:
        self._state = type(self)._in_content
        self._content.lead = True
        return buf[i:] if marker in self.implicit_ends else buf[i + len(marker):]

    def _in_content(self, buf: str, final: bool, out: Out) -> str | None:
        wrappers = self._wrapper_markers
        if wrappers is None:
            out.content.append(self._content.push(buf))
            # No state follows this one and nothing is held; once the leading whitespace
            # is dropped, every later piece is content verbatim.
            self.passing = not self._content.lead
            return None
        text, hit = self._until(buf, wrappers, final)
        out.content.append(self._content.push(text))
        if hit is None:
            return None
        i, marker = hit
        return buf[i + len(marker):]


def _compile(cls: type[ReasoningParser]) -> None:
    cls._end_markers = Markers((cls.end, *cls.implicit_ends))
    cls._wrapper_markers = Markers(cls.content_wrappers) if cls.content_wrappers else None


_compile(ReasoningParser)


class _Trim:
    """Drops leading whitespace (while `lead`) and holds trailing whitespace (if `trail`)
    until more text shows it was inner; held trailing whitespace is simply never released."""

    __slots__ = ("lead", "pending", "trail")

    def __init__(self, *, lead: bool, trail: bool) -> None:
        self.lead = lead
        self.trail = trail
        self.pending = ""

    def push(self, text: str) -> str:
        if self.lead:
            text = text.lstrip()
            if not text:
                return ""
            self.lead = False
        if not self.trail:
            return text
        body = text.rstrip()
        if not body:
            self.pending += text
            return ""
        out = self.pending + body
        self.pending = text[len(body):]
        return out


class OwnMachineParser(ReasoningParser):
    """Base of the families whose messages are typed or addressed (Inkling, Muse) rather than
    wrapped in think tags: they keep the interface, but run a machine of their own
    (`_parse`) over what they held plus each new piece. The output starts in reasoning only
    when the prompt ends with `start`: `enable_thinking` means nothing to them, since the
    model types or addresses each message itself."""

    @classmethod
    def start_state(cls, prompt_text: str | None, enable_thinking: bool | None) -> StartState:
        if prompt_text is not None and prompt_text.rstrip().endswith(cls.start):
            return REASONING
        return CONTENT

    def feed(self, text: str) -> ReasoningDelta:
        return self._parse(self._held + text, final=False)

    def finish(self) -> ReasoningDelta:
        return self._parse(self._held, final=True)

    def _parse(self, buf: str, *, final: bool) -> ReasoningDelta:
        raise NotImplementedError
