"""Typing XML-style argument values by the declared JSON schema.

XML-style formats carry every value as text. A parameter's schema gives the set of JSON
types it may take (`type`, a list of types, `enum` values, `anyOf`/`oneOf`/`allOf`,
`properties` → object, `items` → array). The rules, in this order:

* no declared tool, an undeclared parameter, or no type found → the text, as a string;
* `null` allowed and the text is `null` (any case) → null;
* integer, number, boolean, object, array (those allowed, in that order) → the first
  that parses: integers as `-12`, numbers as JSON numbers (`1e3`, `.5` and `5.` too),
  booleans as `true`/`false` in any case, objects and arrays as JSON or, failing that,
  as a Python literal (`{'a': True}`, as some templates print them); a number that is
  not finite (`1e999`, `inf`, `NaN`), alone or inside, does not parse (it has no JSON form);
* otherwise the text, as a string (the fallback when nothing parses).

Strings are never guessed from the text: a `string` parameter whose text is `123` stays
`"123"`.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Mapping
from typing import Any

from sglang_gw.parsers.types import ToolSpec

__all__ = ["convert", "jsonable", "loads_strict", "param_types", "streams_as_string"]

Types = frozenset[str]

_ALIASES = {"int": "integer", "uint": "integer", "long": "integer", "short": "integer",
            "float": "number", "double": "number", "num": "number", "bool": "boolean",
            "dict": "object", "map": "object", "list": "array", "arr": "array",
            "str": "string", "text": "string", "enum": "string", "none": "null"}
_INT = re.compile(r"[+-]?\d+")
_NUM = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def param_types(tool: ToolSpec | None, name: str) -> Types | None:
    """The JSON types `name` may take in `tool`'s schema; None when untyped."""
    if tool is None:
        return None
    props = tool.parameters.get("properties") if isinstance(tool.parameters, Mapping) else None
    schema = props.get(name) if isinstance(props, Mapping) else None
    if not isinstance(schema, Mapping):
        return None
    found = _schema_types(schema, depth=0)
    return frozenset(found) if found else None


def streams_as_string(types: Types | None) -> bool:
    """Whether the value is a string whatever its text is (so it can stream as it comes)."""
    return types is None or ("string" in types and types <= {"string", "null"})


def convert(text: str, types: Types | None) -> Any:
    """The typed value of a complete value text (see the module docstring)."""
    if types is None:
        return text
    bare = text.strip()
    if "null" in types and bare.lower() in ("null", "none"):
        return None
    for kind in ("integer", "number", "boolean", "object", "array"):
        if kind in types:
            ok, value = _PARSERS[kind](bare)
            if ok:
                return value
    return text


def _schema_types(schema: Mapping[str, Any], depth: int) -> set[str]:
    if depth > 8:  # self-referencing schemas
        return set()
    found: set[str] = set()
    declared = schema.get("type")
    for t in declared if isinstance(declared, list) else [declared]:
        if isinstance(t, str):
            found.add(_normalise(t))
    for value in schema.get("enum") or () if isinstance(schema.get("enum"), list) else ():
        found.add(_type_of(value))
    if "const" in schema:
        found.add(_type_of(schema["const"]))
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key) or () if isinstance(schema.get(key), list) else ():
            if isinstance(sub, Mapping):
                found |= _schema_types(sub, depth + 1)
    if not found and isinstance(schema.get("properties"), Mapping):
        found.add("object")
    if not found and "items" in schema:
        found.add("array")
    return found


def _normalise(name: str) -> str:
    low = name.strip().lower()
    if low in ("string", "integer", "number", "boolean", "object", "array", "null"):
        return low
    for prefix, canonical in _ALIASES.items():
        if low.startswith(prefix):
            return canonical
    return low


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


def _integer(text: str) -> tuple[bool, Any]:
    if _INT.fullmatch(text):
        return True, int(text)
    ok, value = _number(text)
    return (True, int(value)) if ok and float(value).is_integer() else (False, None)


def _number(text: str) -> tuple[bool, Any]:
    if not _NUM.fullmatch(text):
        return False, None
    if _INT.fullmatch(text):
        return True, int(text)
    value = float(text)
    return (True, value) if math.isfinite(value) else (False, None)


def _boolean(text: str) -> tuple[bool, Any]:
    low = text.lower()
    return (True, low == "true") if low in ("true", "false") else (False, None)


def _container(kind: type) -> Any:
    def parse(text: str) -> tuple[bool, Any]:
        try:
            value = jsonable(loads_strict(text))  # 1e999 reads as inf: not JSON data
        except (ValueError, TypeError):
            try:
                value = jsonable(ast.literal_eval(text))
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                return False, None
        return (True, value) if isinstance(value, kind) else (False, None)
    return parse


def loads_strict(text: str) -> Any:
    """`json.loads` without the NaN/Infinity extensions (they would print invalid JSON)."""
    return json.loads(text, parse_constant=_no_constant)


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def jsonable(value: Any) -> Any:
    """A Python literal as JSON data (tuples and sets → lists); TypeError if it has no
    JSON form (bytes, complex, non-string keys)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError("not finite")
        return value
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: jsonable(v) for k, v in value.items()}
    raise TypeError(type(value).__name__)


_PARSERS = {"integer": _integer, "number": _number, "boolean": _boolean,
            "object": _container(dict), "array": _container(list)}
