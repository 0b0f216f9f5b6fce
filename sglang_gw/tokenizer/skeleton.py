"""Rendered-template skeletons: plain chats skip jinja once their shape has been rendered.

Most chat templates treat a plain message's text as opaque: they print it, and at most ask
it a yes/no question (``'</think>' in content``, ``content.startswith('<tool_response>')``).
For such a conversation the prompt is fixed text with the message texts dropped into slots,
and the fixed text depends only on the conversation's *shape*: the roles in order, which
texts are empty, the template arguments, and the answers to those questions.

The first request of a shape renders twice: normally, and with each text replaced by a
:class:`_Probe`, a ``str`` that prints as a unique marker but answers every question from
the real text and writes the question and answer down (a *guard*). The output, cut at the
markers, is the skeleton. It is kept only if

- every question the template asked returned a bool, an int or None (a template that
  derives text from the content, by ``split``, ``trim``, slicing, ``tojson``..., or reads
  the date, is not opaque);
- each marker appears only whole (escaping, trimming or case changes of text built from
  the content break a marker apart), and every non-empty text appears at least once;
- filling the skeleton with the real texts gives exactly the normal render.

Later requests of the shape whose texts give the same answers are filled in without jinja.
A shape whose answers differ gets a skeleton of its own (a few per shape at most).

A chat that declares tools has them in its shape too, by an exact fingerprint of the list
the template receives (:func:`tools_fingerprint`): the template prints tools from their
value alone, so the same fingerprint gives the same tools text. ``tojson`` of a value that
holds no message text (the tools) leaves the probe render valid; of one that does, spoils it.
"""

from __future__ import annotations

import contextvars
import functools
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec

__all__ = [
    "OPAQUE_FILTERS", "OPAQUE_TESTS", "SkeletonCache", "shape_of", "spoil_active_probe", "spoil_if_probed",
    "tools_fingerprint", "watch_probes",
]

Guard = tuple[int, Callable[..., Any], tuple[Any, ...], Any]
Skeleton = tuple[tuple[str, ...], tuple[int, ...]]  # literals, and the slot after each but the last

MAX_SHAPES = 512
MAX_VARIANTS = 4  # skeletons per shape (different answers to the template's questions)
MAX_FAILURES = 4  # probe renders that could not give a skeleton, before a shape is left to jinja
MAX_FAILURES_BEFORE_OFF = 16  # failed probes, none ever made, before the template is left to jinja
MAX_TOOLS_CHARS = 256 * 1024  # bytes of fingerprint: a longer tools list renders through jinja every time
MAX_CHARS = 16 * 1024 * 1024  # tools fingerprints and skeleton texts kept, all shapes together

# Outer whitespace and a body full of characters that escaping, trimming and re-indenting
# change: a marker that went through any of those no longer appears whole.
_BODY = ' Aa"\\&<>\n\t  \u00e9 '
_EDGE = " \n\t"

_session: contextvars.ContextVar[_Session | None] = contextvars.ContextVar("sglang_gw_probe_session", default=None)

# Answers that can be replayed: if a later text gives the same one, the template took the
# same path and printed the same values.
_REPLAYABLE = (bool, int, type(None))


class _Session:
    """What one probe render saw."""

    __slots__ = ("guards", "spoiled")

    def __init__(self) -> None:
        self.guards: list[Guard] = []
        self.spoiled = False


def spoil_active_probe() -> None:
    """Called by template helpers whose output depends on more than the slots (the date,
    JSON of a value that may hold a text): a skeleton rendered now would not be valid."""
    session = _session.get()
    if session is not None:
        session.spoiled = True


# Jinja filters and tests that treat a text as opaque (print it, pass it on, take its
# length or compare it through the operators the probe answers). Every other one may read a
# text by means the probe cannot see (a regex, ``str(value).islower()``), so it is watched.
OPAQUE_FILTERS = frozenset({"string", "default", "d", "length", "count", "join", "tojson"})
OPAQUE_TESTS = frozenset({
    "defined", "undefined", "none", "string", "mapping", "number", "integer", "float", "boolean", "true",
    "false", "sameas", "eq", "equalto", "==", "ne", "!=", "lt", "lessthan", "<", "le", "<=", "gt",
    "greaterthan", ">", "ge", ">=", "in", "callable", "sequence", "filter", "test",
})


def spoil_if_probed(value: object) -> None:
    """Called by template helpers that transform a whole value (``tojson``): a probe render
    stays valid only if the value holds no message text (tools, numbers, constants)."""
    session = _session.get()
    if session is not None and not session.spoiled and _may_hold_probe(value):
        session.spoiled = True


def _may_hold_probe(value: object) -> bool:
    if isinstance(value, str):
        return isinstance(value, _Probe)
    if type(value) in (int, float, bool, type(None)):
        return False
    if isinstance(value, Mapping):
        return any(_may_hold_probe(k) or _may_hold_probe(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_may_hold_probe(v) for v in value)
    return True  # anything else may print a text by means we cannot see


def watch_probes(func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` (a jinja filter or test), spoiling a probe render when given a probe."""

    @functools.wraps(func)  # keeps jinja's pass_context & co. markers
    def watched(*args: Any, **kwargs: Any) -> Any:
        session = _session.get()
        if session is not None and any(isinstance(a, _Probe) for a in (*args, *kwargs.values())):
            session.spoiled = True
        return func(*args, **kwargs)

    return watched


def _plain_args(args: tuple[Any, ...]) -> bool:
    return all(type(a) in (str, int, bool, type(None)) or (type(a) is tuple and _plain_args(a)) for a in args)


class _Probe(str):
    """A message text as the probe render sees it: prints as its marker, answers from the
    real text (``_real``) and records each answer in its session."""

    # No __slots__: str subclasses cannot have non-empty ones.
    _real: str
    _slot: int
    _session: _Session

    def __new__(cls, marker: str, real: str, slot: int, session: _Session) -> _Probe:
        self = super().__new__(cls, marker)
        self._real, self._slot, self._session = real, slot, session
        return self

    def _ask(self, method: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        answer = method(self._real, *args)
        if type(answer) in _REPLAYABLE and _plain_args(args):
            self._session.guards.append((self._slot, method, args, answer))
        else:
            self._session.spoiled = True
        return answer

    def _derive(self, method: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        self._session.spoiled = True
        return method(self._real, *args)

    def __str__(self) -> str:
        return str.__str__(self)  # printing is opaque: the marker goes out whole

    def __getattr__(self, name: str) -> Any:
        # Only reached for names str lacks, e.g. markupsafe asking for __html__ before
        # escaping: the text is about to be transformed.
        self._session.spoiled = True
        raise AttributeError(name)

    def __hash__(self) -> int:
        return self._derive(str.__hash__, ())


def _question(name: str) -> Callable[..., Any]:
    method = getattr(str, name)

    def ask(self: _Probe, *args: Any, **kwargs: Any) -> Any:
        if kwargs:
            self._session.spoiled = True
            return method(self._real, *args, **kwargs)
        return self._ask(method, args)

    ask.__name__ = name
    return ask


def _derivation(name: str) -> Callable[..., Any]:
    method = getattr(str, name)

    def derive(self: _Probe, *args: Any, **kwargs: Any) -> Any:
        self._session.spoiled = True
        return method(self._real, *args, **kwargs)

    # Not the str method's own name: jinja's sandbox would run a method named "format" itself.
    derive.__name__ = f"probe_{name}"
    return derive


def _bool(text: str) -> bool:
    return bool(text)


_QUESTIONS = (
    "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__contains__", "__len__",
    "startswith", "endswith", "find", "rfind", "index", "rindex", "count",
    "isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "isidentifier", "islower",
    "isnumeric", "isprintable", "isspace", "istitle", "isupper",
)
# Everything else str offers that reads the text and gives something other than a plain
# answer (new text, lists, iterators, formatted or encoded forms).
_DERIVATIONS = tuple(
    name for name in dir(str)
    if callable(getattr(str, name)) and name not in _QUESTIONS and name not in {
        "__str__", "__add__", "__getattr__", "__getattribute__", "__hash__", "__new__", "__init__", "__init_subclass__",
        "__subclasshook__", "__class__", "__setattr__", "__delattr__", "__dir__", "__sizeof__",
        "__reduce__", "__reduce_ex__", "__getstate__", "maketrans",
    }
)
for _name in _QUESTIONS:
    setattr(_Probe, _name, _question(_name))
for _name in _DERIVATIONS:
    setattr(_Probe, _name, _derivation(_name))
_Probe.__bool__ = lambda self: self._ask(_bool, ())  # type: ignore[attr-defined]
# Numbers parsed from the text (jinja's int and float filters).
_Probe.__int__ = lambda self: self._derive(int, ())  # type: ignore[attr-defined]
_Probe.__float__ = lambda self: self._derive(float, ())  # type: ignore[attr-defined]
_Probe.__complex__ = lambda self: self._derive(complex, ())  # type: ignore[attr-defined]


def tools_fingerprint(tools: object) -> bytes | None:
    """An exact fingerprint of a tools list (a list of dicts, as a request's JSON gives), or
    None for another value or one too long to keep.

    Its MessagePack encoding: for the values JSON decodes to (dicts, lists, strings,
    numbers, booleans, None) it tells apart every two values a template could (``1``,
    ``1.0``, ``True`` and ``"1"``, also as keys; key order), in a twentieth of repr's time.
    """
    if type(tools) is not list or not all(type(t) is dict for t in tools):
        return None
    try:
        encoded = msgspec.msgpack.encode(tools)
    except (TypeError, ValueError, OverflowError, RecursionError):
        return None  # not JSON-like values: jinja renders them
    return encoded if len(encoded) <= MAX_TOOLS_CHARS else None


def shape_of(
    messages: object, template_kwargs: Mapping[str, Any] | None, add_generation_prompt: bool,
    tools: object = None,
) -> tuple[Any, ...] | None:
    """The cache key of a plain conversation ({role, content} messages with string content,
    scalar template arguments, no tools or tools with a fingerprint), or None when the
    conversation is not plain."""
    if type(messages) is not list or not messages:
        return None
    fingerprint = None
    if tools is not None and (fingerprint := tools_fingerprint(tools)) is None:
        return None
    roles = []
    for m in messages:
        if type(m) is not dict or len(m) != 2:
            return None
        role, content = m.get("role"), m.get("content")
        if type(role) is not str or not role or type(content) is not str:
            return None
        roles.append((role, not content))
    kwargs: tuple[Any, ...] = ()
    if template_kwargs:
        if not all(type(v) in (str, int, float, bool, type(None)) for v in template_kwargs.values()):
            return None
        kwargs = tuple(sorted(template_kwargs.items()))
    return (add_generation_prompt, kwargs, tuple(roles), fingerprint)


def _fill(skeleton: Skeleton, texts: Sequence[str]) -> str:
    literals, slots = skeleton
    out = [literals[0]]
    for slot, literal in zip(slots, literals[1:], strict=True):
        out.append(texts[slot])
        out.append(literal)
    return "".join(out)


def _holds(guards: Sequence[Guard], texts: Sequence[str]) -> bool:
    return all(method(texts[slot], *args) == answer for slot, method, args, answer in guards)


class _Shape:
    __slots__ = ("chars", "failures", "variants")

    def __init__(self, chars: int) -> None:
        self.variants: list[tuple[tuple[Guard, ...], Skeleton]] = []
        self.failures = 0
        self.chars = chars  # its key's tools fingerprint (bytes) and its skeletons' literals (chars)


class SkeletonCache:
    """Skeletons of one template, by conversation shape.

    ``render(messages)`` must be the template's normal render of a list of messages; it is
    called with real messages, and with probed ones to make a skeleton.
    """

    def __init__(self, nonce: str) -> None:
        self._nonce = nonce
        self._shapes: dict[tuple[Any, ...], _Shape] = {}
        self._chars = 0  # the sum of the shapes' chars, held under MAX_CHARS
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self._made = 0
        self._failed = 0

    @property
    def enabled(self) -> bool:
        """False once a template has failed every probe for a while (it reads the date, or
        transforms every text): then probing only costs."""
        return self._made > 0 or self._failed < MAX_FAILURES_BEFORE_OFF

    def shape(
        self, messages: object, template_kwargs: Mapping[str, Any] | None, add_generation_prompt: bool,
        tools: object = None,
    ) -> tuple[Any, ...] | None:
        """The key of a conversation this cache may serve (see :func:`shape_of`), or None."""
        return shape_of(messages, template_kwargs, add_generation_prompt, tools) if self.enabled else None

    def lookup(self, key: tuple[Any, ...], messages: Sequence[Mapping[str, Any]]) -> str | None:
        """The prompt from a skeleton, or None when this shape has none that holds."""
        shape = self._shapes.get(key)
        if shape is None:
            return None
        texts = [m["content"] for m in messages]
        for guards, skeleton in shape.variants:
            if _holds(guards, texts):
                self.hits += 1
                return _fill(skeleton, texts)
        return None

    def learn(
        self, key: tuple[Any, ...], messages: Sequence[Mapping[str, Any]], rendered: str,
        render: Callable[[list[dict[str, Any]]], str],
    ) -> None:
        """Make a skeleton from this conversation, whose normal render was ``rendered``."""
        self.misses += 1
        if not self.enabled:
            return
        shape = self._shapes.get(key)
        if shape is not None and (shape.failures >= MAX_FAILURES or len(shape.variants) >= MAX_VARIANTS):
            return
        made = self._probe(messages, render)
        texts = [m["content"] for m in messages]
        ok = made is not None and _fill(made[1], texts) == rendered
        with self._lock:
            shape = self._shapes.get(key)
            if shape is None:
                shape = self._shapes[key] = _Shape(len(key[-1] or b""))
                self._chars += shape.chars
            if ok and made is not None:
                shape.variants.append(made)
                added = sum(map(len, made[1][0]))
                shape.chars += added
                self._chars += added
                self._made += 1
            else:
                shape.failures += 1
                self._failed += 1
            while len(self._shapes) > MAX_SHAPES or (self._chars > MAX_CHARS and len(self._shapes) > 1):
                self._chars -= self._shapes.pop(next(iter(self._shapes))).chars  # the oldest shape

    def _markers(self, slot: int) -> tuple[str, str]:
        return f"SgwS{self._nonce}x{slot}Q", f"Q{slot}x{self._nonce}SgwE"

    def _probe(
        self, messages: Sequence[Mapping[str, Any]], render: Callable[[list[dict[str, Any]]], str]
    ) -> tuple[tuple[Guard, ...], Skeleton] | None:
        session = _Session()
        probes = []
        for slot, m in enumerate(messages):
            start, end = self._markers(slot)
            marker = f"{_EDGE}{start}{_BODY}{end}{_EDGE}"
            probes.append({"role": m["role"], "content": _Probe(marker, m["content"], slot, session)})
        token = _session.set(session)
        try:
            output = render(probes)
        except Exception:  # noqa: BLE001 - any failure just means no skeleton; the normal render decides
            return None
        finally:
            _session.reset(token)
        if session.spoiled:
            return None
        skeleton = self._cut(output, [str.__str__(p["content"]) for p in probes], messages)
        return None if skeleton is None else (tuple(session.guards), skeleton)

    def _cut(self, output: str, markers: Sequence[str], messages: Sequence[Mapping[str, Any]]) -> Skeleton | None:
        for slot, marker in enumerate(markers):
            start, end = self._markers(slot)
            whole = output.count(marker)
            if output.count(start) != whole or output.count(end) != whole:
                return None  # a marker was changed on its way out
            if whole == 0 and messages[slot]["content"]:
                return None  # a text that never appears may have been transformed beyond recognition
        slot_of = {marker: slot for slot, marker in enumerate(markers)}
        literals: list[str] = []
        slots: list[int] = []
        at = 0
        for found in re.finditer("|".join(map(re.escape, markers)), output):
            literals.append(output[at:found.start()])
            slots.append(slot_of[found.group()])
            at = found.end()
        literals.append(output[at:])
        return tuple(literals), tuple(slots)
