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
`<｜DSML｜tool_calls>` (same grammar inside) is read too.
"""

from __future__ import annotations

import json
from typing import ClassVar

from sglang_gw.parsers._scan import Markers
from sglang_gw.parsers.tools._arg_types import loads_strict
from sglang_gw.parsers.tools._json_stream import JsonScanner
from sglang_gw.parsers.tools._machine import MAX_HEAD, MachineParser, State
from sglang_gw.parsers.tools._section import SectionParser, tool_name

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


_DSML = "｜DSML｜"
_FC_BEGIN = f"<{_DSML}function_calls>"
_FC_END = f"</{_DSML}function_calls>"
_TC_BEGIN = f"<{_DSML}tool_calls>"  # DeepSeek V4 renamed the wrapper, nothing else
_TC_END = f"</{_DSML}tool_calls>"
_ENDS = (_FC_END, _TC_END)
_INVOKE = f'<{_DSML}invoke name="'
_INVOKE_END = f"</{_DSML}invoke>"
_PARAM = f'<{_DSML}parameter name="'
_PARAM_END = f"</{_DSML}parameter>"

_TEXT = Markers((_FC_BEGIN, _TC_BEGIN))
_SECTION = Markers((_INVOKE, *_ENDS))
_INVOKE_HEAD = Markers(('">', _INVOKE, _INVOKE_END, *_ENDS))
_UNIT = Markers((_INVOKE_END, _INVOKE, *_ENDS))
_PARAMS = Markers((_PARAM, _INVOKE_END, _INVOKE, *_ENDS))
_PARAM_HEAD = Markers(('">', _PARAM_END, _INVOKE_END, _INVOKE, *_ENDS))
_VALUE = Markers((_PARAM_END, _INVOKE_END))


def _escape(text: str) -> str:
    """`text` as the inside of a JSON string (escaping is per character, so pieces of
    a value escape to pieces of the escaped value)."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


class DeepSeekV32ToolParser(MachineParser):
    # DSML is plain text (the bars are ordinary characters), so no token must be kept.
    special_markers: ClassVar[tuple[str, ...]] = ()

    _params = 0  # parameters of the current invoke
    _scanner: JsonScanner
    _value: list[str]  # a typed value, held until its end tag

    def initial_state(self) -> State:
        return self._text

    def _text(self) -> bool:
        return self.text_until(_TEXT) is not None and self.goto(self._section)

    def _section(self) -> bool:
        _, marker = self.until(_SECTION)
        if marker is None:
            return False
        if marker in _ENDS:
            self.out.markup_end()
            return self.goto(self._text)
        self.hold(marker)
        self.head = ""
        return self.goto(self._invoke_head)

    def _invoke_head(self) -> bool:
        done = self.read_head(_INVOKE_HEAD, '">')
        if done is None:
            return False
        name = tool_name(self.head) if done else None
        if name is None or '"' in name or not self.open_call(name):
            return self._not_a_call()
        self._params = 0
        return self.goto(self._body)

    def _not_a_call(self) -> bool:
        self.release_held()
        return self.goto(self._pass)

    def _pass(self) -> bool:
        """Inside an invoke that is content: pass it on through its end tag."""
        text, marker = self.until(_UNIT)
        self.out.text(text)
        if marker is None:
            return False
        if marker == _INVOKE_END:
            self.out.text(marker)
        else:
            self.pos -= len(marker)
        return self.goto(self._section)

    # -- the invoke body: a JSON object, or parameter tags

    def _body(self) -> bool:
        self.skip_ws()
        if not self.more():
            return False
        if self.buf[self.pos] != "{":
            return self.goto(self._param_list)
        self._scanner = JsonScanner()
        return self.goto(self._json_body)

    def _json_body(self) -> bool:
        self.out.args(self.scan(self._scanner))
        if not (self._scanner.done or self._scanner.failed):
            return False
        return self.goto(self._unit_tail)

    def _unit_tail(self) -> bool:
        _, marker = self.until(_UNIT)
        if marker is None:
            return False
        if marker != _INVOKE_END:
            self.pos -= len(marker)
        return self.goto(self._section)

    def _param_list(self) -> bool:
        _, marker = self.until(_PARAMS)  # between parameters: markup
        if marker is None:
            return False
        if marker == _PARAM:
            self.head = ""
            return self.goto(self._param_head)
        return self._invoke_done(marker)

    def _invoke_done(self, marker: str) -> bool:
        self.out.args("}" if self._params else "{}")
        if marker != _INVOKE_END:
            self.pos -= len(marker)
        return self.goto(self._section)

    def _param_head(self) -> bool:
        text, marker = self.until(_PARAM_HEAD)
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
        text, marker = self.until(_VALUE)
        self.out.args(_escape(text))
        if marker is None:
            return False
        self.out.args('"')
        return self._value_done(marker)

    def _raw_value(self) -> bool:
        text, marker = self.until(_VALUE)
        self._value.append(text)
        if marker is None:
            return False
        value = "".join(self._value).strip()
        self._value = []
        self.out.args(value if _is_json(value) else json.dumps(value, ensure_ascii=False))
        return self._value_done(marker)

    def _value_done(self, marker: str) -> bool:
        if marker == _INVOKE_END:  # the parameter's end tag is missing
            return self._invoke_done(marker)
        return self.goto(self._param_list)

    def flush(self) -> None:
        if self.state == self._raw_value:  # cut off inside a typed value: as far as it came
            self.out.args("".join(self._value).lstrip())
        super().flush()


def _is_json(text: str) -> bool:
    try:
        loads_strict(text)  # NaN/Infinity are Python's, not JSON
    except ValueError:
        return False
    return True
