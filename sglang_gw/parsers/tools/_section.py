"""Sections of call units, held until their first call commits.

    text <SECTION_BEGIN> <CALL_BEGIN> head <HEAD_END> body <CALL_END> ... <SECTION_END> text

`HeldSectionParser` is that shape; a family gives its markers (`SectionMarkers`), how a
head names the tool (`parse_head`) and the states that read a call's body (`call_body`).
`SectionParser` here is the special-token kind, whose body is JSON arguments: DeepSeek V3 /
V3.1 and Kimi K2 differ only in the marker strings and in how a head names the tool, so
each is a subclass declaring them. DSML (`deepseek.py`) writes parameter tags instead.

Section markers are markup, and so is whatever sits between units (newlines), once the
section holds a call. A unit whose head is malformed or names an undeclared tool is
content from its `CALL_BEGIN` through its `CALL_END`. After a committed call's body, text
up to `CALL_END` is markup (the closing code fence of DeepSeek V3, or debris after
malformed JSON).

A section is held from its `SECTION_BEGIN` until its first call commits: one that ends
(or the output ends) with no call in it is content, whole, markers and all, so a block
the model garbled is never lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from sglang_gw.parsers._scan import Markers
from sglang_gw.parsers.tools._machine import MachineParser, State

__all__ = ["HeldSectionParser", "SectionMarkers", "SectionParser", "tool_name"]


def tool_name(text: str) -> str | None:
    """`text` as a tool name: trimmed, non-empty and without inner whitespace."""
    name = text.strip()
    return name if name and not any(c.isspace() for c in name) else None


class SectionMarkers:
    """The marker sets of one section grammar: one of `begins` opens a section, one of
    `ends` closes it; a unit runs from `call_begin` (its head up to `head_end`) to `call_end`."""

    def __init__(self, begins: Sequence[str], ends: Sequence[str], call_begin: str, head_end: str,
                 call_end: str) -> None:
        self.ends = tuple(ends)
        self.call_begin, self.head_end, self.call_end = call_begin, head_end, call_end
        self.text = Markers(begins)
        self.section = Markers((call_begin, *self.ends))
        self.head = Markers((head_end, call_begin, call_end, *self.ends))
        self.unit = Markers((call_begin, call_end, *self.ends))


class HeldSectionParser(MachineParser):
    """A section of call units (see the module docstring); a family sets `_m`."""

    _m: ClassVar[SectionMarkers]
    # The section's raw text while it holds no call yet, each piece flagged True if it is
    # a unit that is content anyway (None: no section, or it has a call).
    _section_held: list[tuple[str, bool]] | None = None

    def initial_state(self) -> State:
        return self._text

    def parse_head(self, head: str) -> str | None:
        """The tool name a head gives, or None if it is not a well-formed head."""
        raise NotImplementedError

    def call_body(self) -> bool:
        """A call committed: go to the states that read its body (which end in `_unit_tail`)."""
        raise NotImplementedError

    # -- states

    def _text(self) -> bool:
        # Whitespace before the section is markup only if a call follows.
        marker = self.text_until(self.text_markers, markup=False)
        if marker is None:
            return False
        self._section_held = [(marker, False)]
        return self.goto(self._section)

    def _section(self) -> bool:
        text, marker = self.until(self._m.section)  # between units: markup once a call came
        if self._section_held is not None and text:
            self._section_held.append((text, False))
        if marker is None:
            return False
        if marker in self._m.ends:
            return self._section_done(marker)
        return self.begin_unit(marker, self._read_head)

    def _section_done(self, marker: str) -> bool:
        if self._section_held is not None:  # no call in it: the section is content, whole
            self._section_held.append((marker, False))
            self._release_section(whole=True)
        else:
            self.out.markup_end()
        return self.goto(self._text)

    def _release_section(self, *, whole: bool) -> None:
        """Give the held section to content: all of it, or (a call came) only its units."""
        held, self._section_held = self._section_held or [], None
        self.out.text("".join(text for text, unit in held if whole or unit))

    def _read_head(self) -> bool:
        done = self.read_head(self._m.head, self._m.head_end)
        if done is None:
            return False
        if not done or not self.open_call(self.parse_head(self.head)):
            return self._not_a_call()
        if self._section_held is not None:  # the section's first call: the rest was markup
            self.out.markup()
            self._release_section(whole=False)
        return self.call_body()

    def _not_a_call(self) -> bool:
        if self._section_held is not None:
            self._section_held.append(("".join(self.held or ()), True))
            self.held = None
        self.release_held()
        return self.goto(self._pass)

    def _pass(self) -> bool:
        """Inside a unit that is content: pass it on through its `call_end` (a new unit or
        the section end is read as such)."""
        return self.through(self._m.unit, self._m.call_end, self._content) and self.goto(self._section)

    def _content(self, text: str) -> None:
        if self._section_held is not None:
            self._section_held.append((text, True))
        else:
            self.out.text(text)

    def _unit_tail(self) -> bool:
        """After a call's body: markup through its `call_end`."""
        return self.through(self._m.unit, self._m.call_end) and self.goto(self._section)

    def flush(self) -> None:
        if self._section_held is not None:  # cut off in a section with no call: content
            self._section_held.append(("".join(self.held or ()) + self.buf[self.pos:], True))
            self.held = None
            self._release_section(whole=True)
        super().flush()


class SectionParser(HeldSectionParser):
    """Special-token sections whose units carry JSON arguments: a family declares the five
    markers and `parse_head`."""

    section_begin: ClassVar[str]
    section_end: ClassVar[str]
    call_begin: ClassVar[str]
    head_end: ClassVar[str]
    call_end: ClassVar[str]

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        if "call_end" in cls.__dict__:  # a concrete family: build its marker sets once
            cls._m = SectionMarkers((cls.section_begin,), (cls.section_end,), cls.call_begin, cls.head_end,
                                    cls.call_end)
            cls.text_markers = cls._m.text

    def before_args(self) -> bool | None:
        """Consume what sits between `head_end` and the JSON (None: not sure yet).
        DeepSeek V3 overrides it to skip its code fence's `json` tag."""
        return True

    def call_body(self) -> bool:
        return self.goto(self._args_intro)

    def _args_intro(self) -> bool:
        done = self.before_args()
        if done is None:
            return False
        return self.read_json_args(self._after_args)

    def _after_args(self) -> bool:
        return self.goto(self._unit_tail)
