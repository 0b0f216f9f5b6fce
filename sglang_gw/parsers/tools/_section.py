"""Special-token formats: a section of call units, each a head, then JSON arguments.

    text <SECTION_BEGIN> <CALL_BEGIN> head <HEAD_END> {json} <CALL_END> ... <SECTION_END> text

DeepSeek V3 / V3.1 and Kimi K2 differ only in the marker strings and in how a head
names the tool, so each is a `SectionParser` subclass declaring them. Section markers
are markup, and so is whatever sits between units (newlines). A unit whose head is
malformed or names an undeclared tool is content from its `CALL_BEGIN` through its
`CALL_END`. After a committed call's JSON, text up to `CALL_END` is markup (the
closing code fence of DeepSeek V3, or debris after malformed JSON).
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
        return self.text_until(self._text_markers) is not None and self.goto(self._section)

    def _section(self) -> bool:
        _, marker = self.until(self._section_markers)  # between units: markup
        if marker is None:
            return False
        if marker == self.section_end:
            return self._section_done()
        self.hold(marker)
        self.head = ""
        return self.goto(self._read_head)

    def _section_done(self) -> bool:
        self.out.markup_end()
        return self.goto(self._text)

    def _read_head(self) -> bool:
        done = self.read_head(self._head_markers, self.head_end)
        if done is None:
            return False
        if not done or not self.open_call(self.parse_head(self.head)):
            return self._not_a_call()
        return self.goto(self._args_intro)

    def _not_a_call(self) -> bool:
        self.release_held()
        return self.goto(self._pass)

    def _pass(self) -> bool:
        """Inside a unit that is content: pass it on through its `call_end`."""
        text, marker = self.until(self._unit_markers)
        self.out.text(text)
        if marker is None:
            return False
        if marker == self.call_end:
            self.out.text(marker)
            return self.goto(self._section)
        self.pos -= len(marker)  # a new unit or the section end: read it as such
        return self.goto(self._section)

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
