"""Special-token formats: a section of call units, each a head, then JSON arguments.

    text <SECTION_BEGIN> <CALL_BEGIN> head <HEAD_END> {json} <CALL_END> ... <SECTION_END> text

DeepSeek V3 / V3.1 and Kimi K2 differ only in the marker strings and in how a head
names the tool, so each is a `SectionParser` subclass declaring them. Section markers
are markup, and so is whatever sits between units (newlines), once the section holds a
call. A unit whose head is malformed or names an undeclared tool is content from its
`CALL_BEGIN` through its `CALL_END`. After a committed call's JSON, text up to `CALL_END`
is markup (the closing code fence of DeepSeek V3, or debris after malformed JSON).

A section is held from its `SECTION_BEGIN` until its first call commits: one that ends
(or the output ends) with no call in it is content, whole, markers and all, so a block
the model garbled is never lost.
"""

from __future__ import annotations

from typing import ClassVar

from sglang_gw.parsers._scan import Markers
from sglang_gw.parsers.tools._machine import MachineParser, State

__all__ = ["SectionParser", "tool_name"]


def tool_name(text: str) -> str | None:
    """`text` as a tool name: trimmed, non-empty and without inner whitespace."""
    name = text.strip()
    return name if name and not any(c.isspace() for c in name) else None


class SectionParser(MachineParser):
    section_begin: ClassVar[str]
    section_end: ClassVar[str]
    call_begin: ClassVar[str]
    head_end: ClassVar[str]
    call_end: ClassVar[str]
    _text_markers: ClassVar[Markers]
    _section_markers: ClassVar[Markers]
    _head_markers: ClassVar[Markers]
    _unit_markers: ClassVar[Markers]
    # The section's raw text while it holds no call yet, each piece flagged True if it is
    # a unit that is content anyway (None: no section, or it has a call).
    _section_held: list[tuple[str, bool]] | None = None

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        if "call_end" in cls.__dict__:  # a concrete family: build its marker sets once
            cls._text_markers = Markers((cls.section_begin,))
            cls._section_markers = Markers((cls.call_begin, cls.section_end))
            cls._head_markers = Markers((cls.head_end, cls.call_begin, cls.call_end, cls.section_end))
            cls._unit_markers = Markers((cls.call_begin, cls.call_end, cls.section_end))

    def initial_state(self) -> State:
        return self._text

    def parse_head(self, head: str) -> str | None:
        """The tool name a head gives, or None if it is not a well-formed head."""
        raise NotImplementedError

    def before_args(self) -> bool | None:
        """Consume what sits between `head_end` and the JSON (None: not sure yet).
        DeepSeek V3 overrides it to skip its code fence's `json` tag."""
        return True

    # -- states

    def _text(self) -> bool:
        # Not `text_until`: whitespace before the section is markup only if a call follows.
        text, marker = self.until(self._text_markers)
        self.out.text(text)
        if marker is None:
            return False
        self._section_held = [(marker, False)]
        return self.goto(self._section)

    def _section(self) -> bool:
        text, marker = self.until(self._section_markers)  # between units: markup
        self._in_section(text)
        if marker is None:
            return False
        if marker == self.section_end:
            return self._section_done()
        self.hold(marker)
        self.head = ""
        return self.goto(self._read_head)

    def _section_done(self) -> bool:
        if self._section_held is not None:  # no call in it: the section is content
            self._section_held.append((self.section_end, False))
            self._release_section(whole=True)
        else:
            self.out.markup_end()
        return self.goto(self._text)

    def _in_section(self, text: str) -> None:
        """Text of the section outside calls: held while it may be content, else markup."""
        if self._section_held is not None and text:
            self._section_held.append((text, False))

    def _release_section(self, *, whole: bool) -> None:
        """Give the held section to content: all of it, or (a call came) only its units."""
        held, self._section_held = self._section_held or [], None
        self.out.text("".join(text for text, unit in held if whole or unit))

    def _read_head(self) -> bool:
        done = self.read_head(self._head_markers, self.head_end)
        if done is None:
            return False
        if not done or not self.open_call(self.parse_head(self.head)):
            return self._not_a_call()
        if self._section_held is not None:  # the section's first call: the rest was markup
            self.out.markup()
            self._release_section(whole=False)
        return self.goto(self._args_intro)

    def _not_a_call(self) -> bool:
        if self._section_held is not None:
            self._section_held.append(("".join(self.held or ()), True))
            self.held = None
        self.release_held()
        return self.goto(self._pass)

    def _pass(self) -> bool:
        """Inside a unit that is content: pass it on through its `call_end`."""
        text, marker = self.until(self._unit_markers)
        self._content(text)
        if marker is None:
            return False
        if marker == self.call_end:
            self._content(marker)
            return self.goto(self._section)
        self.pos -= len(marker)  # a new unit or the section end: read it as such
        return self.goto(self._section)

    def _content(self, text: str) -> None:
        if self._section_held is not None:
            self._section_held.append((text, True))
        else:
            self.out.text(text)

    def flush(self) -> None:
        if self._section_held is not None:  # cut off in a section with no call: content
            self._section_held.append(("".join(self.held or ()), True))
            self.held = None
            self._release_section(whole=True)
        super().flush()

    def _args_intro(self) -> bool:
        done = self.before_args()
        if done is None:
            return False
        return self.read_json_args(self._after_args)

    def _after_args(self) -> bool:
        return self.goto(self._unit_tail)

    def _unit_tail(self) -> bool:
        _, marker = self.until(self._unit_markers)  # after the JSON: markup
        if marker is None:
            return False
        if marker != self.call_end:
            self.pos -= len(marker)
        return self.goto(self._section)
