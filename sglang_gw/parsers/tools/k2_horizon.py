"""K2 Horizon (K2-V3) tool calls: IFM tags around each call, in a group (SGLang's
`k2_horizon`, `K2V3Detector`)::

    <ifm|tool_calls>
    <ifm|tool_call>get_weather
    <ifm|arg_key>days</ifm|arg_key>
    <ifm|arg_type>integer</ifm|arg_type>
    <ifm|arg_value>3</ifm|arg_value>
    </ifm|tool_call>
    <ifm|tool_call>{"name": "search", "arguments": {"q": "rain"}}</ifm|tool_call>
    </ifm|tool_calls>

A call's body says which dialect it is: JSON when it starts with `{` or `[` (a call
object, `{"function": {…}}` too, or a list of them; arguments under `arguments` or
`parameters`, an object or a JSON string of one), else the tool's name followed by
key/value tags, the type tag optional.

* Each call is held until its `</ifm|tool_call>`, then read whole (as the reference
  does), so a call arrives in one delta. One that does not read (broken tags or JSON, a
  name missing, an undeclared tool) is content as written, tags and all; one cut off by
  the end of the output is content too. The group tags are markup.
* Values from tags: typed by the schema (`_arg_types`); where the schema gives no type,
  or a union of types, the value's own `<ifm|arg_type>` decides; with neither the value
  is the text as written. JSON values are kept, except a string for a parameter the
  schema types only as non-string, which is read as that type.
* With no reasoning parser in front, a thinking block at the start of the output
  (`<ifm|think>`, `<ifm|think_fast>`, `<ifm|think_faster>` … its closing tag) is content
  as written: tool markup inside it is not a call.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from sglang_gw.parsers._scan import Markers
from sglang_gw.parsers.tools._arg_types import convert, jsonable, loads_strict, param_types
from sglang_gw.parsers.tools._json_args import dumps
from sglang_gw.parsers.tools._machine import MachineParser, State
from sglang_gw.parsers.types import ToolSpec

__all__ = ["K2HorizonToolParser"]

GROUP_OPEN, GROUP_CLOSE = "<ifm|tool_calls>", "</ifm|tool_calls>"
CALL_OPEN, CALL_CLOSE = "<ifm|tool_call>", "</ifm|tool_call>"
_ARG_TAGS = ("<ifm|arg_key>", "</ifm|arg_key>", "<ifm|arg_type>", "</ifm|arg_type>",
             "<ifm|arg_value>", "</ifm|arg_value>")
_THINKS = tuple((f"<ifm|{t}>", f"</ifm|{t}>") for t in ("think", "think_fast", "think_faster"))
_TEXT = Markers((GROUP_OPEN, GROUP_CLOSE, CALL_OPEN))
_CALL_END = Markers((CALL_CLOSE,))
_ARG = re.compile(
    r"\s*<ifm\|arg_key>(.*?)</ifm\|arg_key>\s*(?:<ifm\|arg_type>(.*?)</ifm\|arg_type>\s*)?"
    r"<ifm\|arg_value>(.*?)</ifm\|arg_value>", re.DOTALL)
_Call = tuple[str, dict[str, Any]]


class K2HorizonToolParser(MachineParser):
    text_markers = _TEXT
    special_markers: ClassVar[tuple[str, ...]] = (
        GROUP_OPEN, GROUP_CLOSE, CALL_OPEN, CALL_CLOSE, *_ARG_TAGS, *(t for pair in _THINKS for t in pair))
    # A group the model opens inside an unclosed thought (the reasoning parser holds it).
    call_starts: ClassVar[tuple[str, ...]] = (GROUP_OPEN,)
    call_ends: ClassVar[tuple[str, ...]] = (GROUP_CLOSE,)

    def __init__(self, tools: Sequence[ToolSpec]) -> None:
        super().__init__(tools)
        self._body: list[str] = []
        self._think_end = _CALL_END

    def initial_state(self) -> State:
        return self._opening

    def _opening(self) -> bool:
        """At the start of the output: a thinking block passes through as content."""
        rest = self.buf[self.pos:]
        body = rest.lstrip()
        for opener, closer in _THINKS:
            if body.startswith(opener):
                n = len(rest) - len(body) + len(opener)
                self.out.content(rest[:n])
                self.pos += n
                self._think_end = Markers((closer,))
                return self.goto(self._think)
        if not self.eof and (not body or any(o.startswith(body) for o, _ in _THINKS)):
            return False
        return self.goto(self._text)

    def _think(self) -> bool:
        text, marker = self.until(self._think_end)
        self.out.content(text + (marker or ""))
        return self.goto(self._opening) if marker else False

    def _text(self) -> bool:
        marker = self.text_until(self.text_markers)
        if marker is None:
            return False
        if marker != CALL_OPEN:
            self.out.markup_end()  # a group tag
            return True
        self._body = []
        return self.goto(self._call)

    def _call(self) -> bool:
        text, marker = self.until(_CALL_END)
        self._body.append(text)
        if marker is None:
            if self.eof:  # cut off: the call as written
                self.out.content(CALL_OPEN + "".join(self._body))
            return False
        body = "".join(self._body)
        calls = _read(body, self.tools)
        if calls is None or not all(self.accepts(name) for name, _ in calls):
            self.out.content(CALL_OPEN + body + CALL_CLOSE)
        else:
            for name, arguments in calls:
                self.out.start(name, dumps(arguments))
            self.out.markup_end()
        return self.goto(self._text)


def _read(body: str, tools: Mapping[str, ToolSpec]) -> list[_Call] | None:
    """The calls in one block, or None if it does not read."""
    bare = body.strip()
    if bare[:1] in ("{", "["):
        try:
            payload = jsonable(loads_strict(bare))  # `1e999` has no JSON form: not a call
        except (ValueError, TypeError):
            return None
        calls = [_json_call(item, tools) for item in (payload if isinstance(payload, list) else [payload])]
        return None if not calls or None in calls else [c for c in calls if c is not None]
    call = _tagged_call(body, tools)
    return None if call is None else [call]


def _json_call(item: Any, tools: Mapping[str, ToolSpec]) -> _Call | None:
    function = item.get("function", item) if isinstance(item, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
        return None
    arguments = function.get("arguments", function.get("parameters"))
    if isinstance(arguments, str):
        try:
            arguments = jsonable(loads_strict(arguments)) if arguments.strip() else {}
        except (ValueError, TypeError):
            return None
    arguments = {} if arguments is None else arguments
    if not isinstance(arguments, dict):
        return None
    spec = tools.get(function["name"])
    return function["name"], {k: _json_value(v, param_types(spec, k)) for k, v in arguments.items()}


def _json_value(value: Any, types: frozenset[str] | None) -> Any:
    if isinstance(value, str) and types and "string" not in types:
        return convert(value, types)
    return value


def _tagged_call(body: str, tools: Mapping[str, ToolSpec]) -> _Call | None:
    first = body.find("<ifm|arg_key>")
    name = (body if first == -1 else body[:first]).strip()
    if not name or any(c in name for c in "<>\n"):
        return None
    spec, arguments = tools.get(name), dict[str, Any]()
    rest, pos = (body[first:] if first != -1 else ""), 0
    while rest[pos:].strip():  # only key/value tags (and blanks) after the name
        m = _ARG.match(rest, pos)
        if m is None:
            return None
        key = m.group(1).strip()
        if not key:
            return None
        types = param_types(spec, key)
        inline = (m.group(2) or "").strip()
        if inline and (types is None or len(types - {"null"}) > 1):
            types = frozenset({inline})
        arguments[key] = convert(m.group(3), types)
        pos = m.end()
    return name, arguments
