"""MiniMax-M3 tool calls: every tag behind the namespace token `]<]minimax[>[` (NS below)::

    NS<tool_call>
    NS<invoke name="get_weather">NS<city>Paris NS</city>NS<days>3NS</days>NS</invoke>
    NS<invoke name="search">NS<filters>NS<item>NS<lang>enNS</lang>NS</item>NS</filters>NS</invoke>
    NS</tool_call>

Several invokes per block. A parameter is a tag named after it; the template expands a
mapping into one tag per key and a list into `NS<item>` tags, recursively, and prints a
scalar as it is (booleans as JSON). A value whose schema makes it a string (and that does
not open a nested tag) streams as it arrives; any other value is read to its closing tag
(nested tags of the same name counted) and then decoded: tags named `item` (or an array
schema) give a list, other tags an object, text a scalar typed by the schema (`_arg_types`).
As in `minimax_m2`, the block markers are markup and an undeclared invoke is content as
written. Whitespace between NS and `<` is read as none (SGLang does the same).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from sglang_gw.parsers._scan import Markers
from sglang_gw.parsers.tools._arg_types import convert, param_types, streams_as_string
from sglang_gw.parsers.tools._json_args import ArgsWriter, StringValue, Trim, dumps
from sglang_gw.parsers.tools._json_stream import skip_ws
from sglang_gw.parsers.tools._machine import MAX_HEAD, MachineParser, State
from sglang_gw.parsers.types import ToolSpec

__all__ = ["MinimaxM3ToolParser", "decode_value"]

NS = "]<]minimax[>["
BLOCK_OPEN, BLOCK_CLOSE = NS + "<tool_call>", NS + "</tool_call>"
INVOKE_OPEN, INVOKE_CLOSE = NS + '<invoke name="', NS + "</invoke>"

_OPEN = Markers((BLOCK_OPEN,))
_BLOCK = Markers((INVOKE_OPEN, BLOCK_CLOSE))
_HEAD = Markers(('">', NS))
_RAW = Markers((INVOKE_CLOSE, BLOCK_CLOSE))
_NS = Markers((NS,))


class MinimaxM3ToolParser(MachineParser):
    text_markers = _OPEN
    special_markers: ClassVar[tuple[str, ...]] = (NS,)

    def __init__(self, tools: Sequence[ToolSpec]) -> None:
        super().__init__(tools)
        self._spec: ToolSpec | None = None
        self._writer = ArgsWriter()
        self._key = ""
        self._string: StringValue | None = None
        self._raw: list[str] = []
        self._depth: list[str] = []

    def initial_state(self) -> State:
        return self._text

    # -- outside calls

    def _text(self) -> bool:
        if self.text_until(self.text_markers) is None:
            return False
        self.out.markup_end()
        return self.goto(self._block)

    def _block(self) -> bool:
        text, marker = self.until(_BLOCK)
        self.out.text(text)
        if marker is None:
            return False
        if marker == BLOCK_CLOSE:
            self.out.markup()
            self.out.markup_end()
            return self.goto(self._text)
        return self.begin_unit(marker, self._head)

    def _head(self) -> bool:
        done = self.read_head(_HEAD, '">')
        if done is None:
            return False
        name = self.head.strip() if done else ""
        if not name or "\n" in name or not self.accepts(name):
            self.release_held()
            return self.goto(self._raw_invoke)
        self.out.markup()
        self.open_call(name)
        self._spec, self._writer = self.tools.get(name), ArgsWriter()
        self.out.args(self._writer.open())
        return self.goto(self._param)

    def _raw_invoke(self) -> bool:
        """An invoke that is no call: content as written, through its closing tag."""
        return self.through(_RAW, INVOKE_CLOSE, self.out.text) and self.goto(self._block)

    # -- inside a call

    def _param(self) -> bool:
        _, marker = self.until(_NS)  # stray text between parameters is the format's
        if marker is None:
            return False
        return self.goto(self._tag)

    def _tag(self) -> bool:
        self.skip_ws()
        gt = self.buf.find(">", self.pos, self.pos + MAX_HEAD)
        if gt == -1:
            if self.eof or len(self.buf) - self.pos >= MAX_HEAD:
                return self._end_call()
            return False
        tag = self.buf[self.pos:gt].strip()
        self.pos = gt + 1
        if tag == "</invoke":
            return self._end_call()
        key = tag[1:].strip() if tag.startswith("<") and not tag.startswith("</") else ""
        if not key or any(c in key for c in '<"\n'):
            return self.goto(self._param)  # a broken or stray tag is skipped
        self.out.args(self._writer.key(key))
        self._key, self._raw, self._depth = key, [], []
        types = param_types(self._spec, key)
        nullable = types is not None and "null" in types
        self._string = StringValue(Trim(), nullable=nullable) if streams_as_string(types) else None
        return self.goto(self._value_start)

    def _value_start(self) -> bool:
        rest = self.buf[self.pos:self.pos + len(NS)]
        if not self.eof and len(rest) < len(NS) and NS.startswith(rest):
            return False  # a nested tag may be opening: not a plain string yet
        if rest == NS:
            self._string = None  # nested tags: read whole, then decode
        return self.goto(self._string_value if self._string is not None else self._collected_value)

    def _string_value(self) -> bool:
        assert self._string is not None
        close = "</" + self._key + ">"
        while (at := self.buf.find(NS, self.pos)) != -1:
            self.out.args(self._string.feed(self.buf[self.pos:at]))
            self.pos = at
            tag = skip_ws(self.buf, at + len(NS))
            ahead = self.buf[tag:tag + len(close)]
            if ahead == close:
                self.pos = tag + len(close)
                return self._string_done()
            if close.startswith(ahead) and not self.eof:
                return False  # the closing tag may be arriving
            self.out.args(self._string.feed(NS))  # the token inside a string: text
            self.pos = at + len(NS)
        end = len(self.buf) if self.eof else _NS.safe_end(self.buf, self.pos)
        self.out.args(self._string.feed(self.buf[self.pos:end]))
        self.pos = end
        return self._string_done() if self.eof else False

    def _string_done(self) -> bool:
        assert self._string is not None
        self.out.args(self._string.end())
        return self.goto(self._param)

    def _collected_value(self) -> bool:
        while True:
            at = self.buf.find(NS, self.pos)
            if at == -1:
                end = len(self.buf) if self.eof else _NS.safe_end(self.buf, self.pos)
                self._raw.append(self.buf[self.pos:end])
                self.pos = end
                return self._value_cut() if self.eof else False
            gt = self.buf.find(">", at + len(NS))
            if gt == -1:
                self._raw.append(self.buf[self.pos:at])
                self.pos = at
                return self._value_cut() if self.eof else False
            tag = self.buf[at + len(NS):gt].strip()
            self._raw.append(self.buf[self.pos:at])
            self.pos = gt + 1
            if tag.startswith("</") and not self._depth and tag[2:].strip() == self._key:
                self.out.args(dumps(decode_value("".join(self._raw), self._schema())))
                return self.goto(self._param)
            self._raw.append(NS + tag + ">")
            _track(self._depth, tag)

    def _value_cut(self) -> bool:
        """The output ended inside a collected value: decode what came."""
        self.out.args(dumps(decode_value("".join(self._raw), self._schema())))
        return False

    def _end_call(self) -> bool:
        self.out.args(self._writer.close())
        self.out.markup_end()
        return self.goto(self._block)

    def _schema(self) -> Mapping[str, Any] | None:
        props = self._spec.parameters.get("properties") if self._spec is not None else None
        schema = props.get(self._key) if isinstance(props, Mapping) else None
        return schema if isinstance(schema, Mapping) else None


def _track(depth: list[str], tag: str) -> None:
    """Keep the stack of open nested tags (a close that matches nothing is ignored)."""
    if tag.startswith("</"):
        name = tag[2:].strip()
        if depth and depth[-1] == name:
            depth.pop()
    elif tag.startswith("<"):
        depth.append(tag[1:].strip())


def decode_value(text: str, schema: Mapping[str, Any] | None) -> Any:
    """A parameter's text as a value: nested tags as a list or object, else a scalar."""
    children = _children(text)
    if children is None:
        types = _types(schema)
        if types is None:
            return text
        if not text and types & {"object", "array"}:  # an empty container prints no tag
            return [] if _is_array(schema) else {}
        return convert(text, types)
    if _is_array(schema) or (children and all(tag == "item" for tag, _ in children) and not _is_object(schema)):
        items = schema.get("items") if schema is not None else None
        return [decode_value(inner, items if isinstance(items, Mapping) else None) for _, inner in children]
    out: dict[str, Any] = {}
    for tag, inner in children:
        value = decode_value(inner, _property(schema, tag))
        if tag in out:  # a repeated tag collects its values in a list (as SGLang reads it)
            prior = out[tag]
            out[tag] = [*prior, value] if isinstance(prior, list) else [prior, value]
        else:
            out[tag] = value
    return out


def _children(text: str) -> list[tuple[str, str]] | None:
    """The top-level `NS<tag>…NS</tag>` elements of `text`, or None if it holds no tag."""
    if NS not in text:
        return None
    out: list[tuple[str, str]] = []
    depth: list[str] = []
    pos, start, name = 0, 0, ""
    while (at := text.find(NS, pos)) != -1:
        gt = text.find(">", at + len(NS))
        if gt == -1:
            break
        tag = text[at + len(NS):gt].strip()
        if not depth and tag.startswith("<") and not tag.startswith("</"):
            name, start = tag[1:].strip(), gt + 1
        elif len(depth) == 1 and tag == "</" + name:
            out.append((name, text[start:at]))
        _track(depth, tag)
        pos = gt + 1
    if depth and name:  # cut off inside an element: keep what came
        out.append((name, text[start:]))
    return out


def _types(schema: Mapping[str, Any] | None) -> frozenset[str] | None:
    return param_types(ToolSpec("", {"properties": {"v": schema}}), "v") if schema is not None else None


def _is_array(schema: Mapping[str, Any] | None) -> bool:
    types = _types(schema)
    return types is not None and "array" in types and "object" not in types


def _is_object(schema: Mapping[str, Any] | None) -> bool:
    types = _types(schema)
    return types is not None and "object" in types


def _property(schema: Mapping[str, Any] | None, key: str) -> Mapping[str, Any] | None:
    props = schema.get("properties") if schema is not None else None
    found = props.get(key) if isinstance(props, Mapping) else None
    if found is None and schema is not None and isinstance(schema.get("additionalProperties"), Mapping):
        found = schema["additionalProperties"]
    return found if isinstance(found, Mapping) else None
