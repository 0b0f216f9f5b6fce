"""Call objects `{"name": ..., "arguments" | "parameters": ...}`, read as they stream.

Used by the `json`, `llama3`, `hermes` and `mistral` (array form) parsers. The object's
own keys are read here; each value is delimited by a `JsonScanner`. The call is
committed as soon as the `name` string is complete and accepted; from then on the
arguments value streams as the model's raw text (whitespace as written, no
re-serialisation, so non-ASCII stays as it is). Keys may come in any order: arguments
written before the name are held and sent with it. An arguments value that is a JSON
string (some models stringify the object) is decoded once complete if it holds JSON, and
sent as that JSON string otherwise (`"hello"`: still valid JSON); `null`, `""` or a missing
arguments key give `{}`. Other keys (`id`, `type`, ...) are ignored.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from sglang_gw.parsers.tools._arg_types import loads_strict
from sglang_gw.parsers.tools._json_stream import JsonScanner, skip_ws
from sglang_gw.parsers.tools._machine import MachineParser, Output, State, Step, accepted, step_of
from sglang_gw.parsers.types import ToolSpec

__all__ = ["CallObject", "JsonCallsParser", "Status"]

_ARGUMENT_KEYS = ("arguments", "parameters")


class Status(enum.Enum):
    RUNNING = "running"
    DONE = "done"      # the object closed
    FAILED = "failed"  # a character broke the grammar; the scan stopped at it


class CallObject:
    """One call object after its opening `{`; `step` consumes what it can.

    `decision` is None while undecided (the raw text is held), "call" once committed,
    "content" when it turned out not to be a call (its raw text, from `prefix` on, went
    to content and the rest of the object follows it there).
    """

    def __init__(self, out: Output, tools: Mapping[str, ToolSpec], prefix: str,
                 argument_keys: tuple[str, ...] = _ARGUMENT_KEYS) -> None:
        self._out = out
        self._tools = tools  # the request's: a call names one (see `accepted`)
        self._argument_keys = argument_keys
        self._held: list[str] = [prefix, "{"]
        self._args_held: list[str] = []  # raw arguments read before the name
        self.status = Status.RUNNING
        self.decision: str | None = None
        # The step is kept as the class's function, called with the object: a bound method
        # kept on it would make each object a reference cycle.
        self._step: Callable[[CallObject, str, int], int] = CallObject._key_or_close
        self._in_token = False  # `_step` reads a key or value (else whitespace is skipped first)
        self._scanner = JsonScanner()
        self._token: list[str] = []
        self._role = ""  # of the value being read: name, args, args-text, skip
        self._name_seen = False
        self._args_seen = False

    def step(self, text: str, pos: int) -> int:
        while pos < len(text) and self.status is Status.RUNNING:
            if not self._in_token:
                pos = self._blank(text, pos)
                if pos == len(text):
                    break
            pos = self._step(self, text, pos)
        return pos

    def finish(self) -> None:
        """The output ended inside the object: an undecided object is content."""
        if self.status is Status.RUNNING and self.decision is None:
            self._give_up()

    # -- routing of the raw text

    def _raw(self, piece: str) -> None:
        if self.decision is None:
            self._held.append(piece)
        elif self.decision == "content":
            self._out.text(piece)

    def _give_up(self) -> None:
        self.decision = "content"
        self._out.text("".join(self._held))
        self._held.clear()

    def _fail(self, pos: int) -> int:
        self.status = Status.FAILED
        if self.decision is None:
            self._give_up()
        return pos

    def _blank(self, text: str, pos: int) -> int:
        end = skip_ws(text, pos)
        if end > pos:
            self._raw(text[pos:end])
        return end

    # -- the object's own grammar: the steps between tokens start at a non-blank character

    def _key_or_close(self, text: str, pos: int) -> int:
        if text[pos] == "}":
            return self._close(pos)
        self._step = CallObject._key
        return pos

    def _key(self, text: str, pos: int) -> int:
        if text[pos] != '"':
            return self._fail(pos)
        return self._read_token(CallObject._key_text, pos)

    def _key_text(self, text: str, pos: int) -> int:
        end = self._scanner.scan(text, pos)
        piece = text[pos:end]
        self._raw(piece)
        self._token.append(piece)
        if self._scanner.failed:
            return self._fail(end)
        if self._scanner.done:
            self._role = self._role_of(json.loads("".join(self._token)))
            self._step, self._in_token = CallObject._colon, False
        return end

    def _role_of(self, key: str) -> str:
        if key == "name" and not self._name_seen:
            return "name"
        if key in self._argument_keys and not self._args_seen:
            return "args"
        return "skip"

    def _colon(self, text: str, pos: int) -> int:
        if text[pos] != ":":
            return self._fail(pos)
        self._raw(":")
        self._step = CallObject._value_start
        return pos + 1

    def _value_start(self, text: str, pos: int) -> int:
        first = text[pos]
        if self._role == "name":
            self._name_seen = True
            if first != '"':
                self._role = "skip"  # a name that is not a string names nothing
        elif self._role == "args":
            self._args_seen = True
            if first in '"n':  # a stringified object, or null: sent when complete
                self._role = "args-text"
        return self._read_token(CallObject._value, pos)

    def _read_token(self, step: Callable[[CallObject, str, int], int], pos: int) -> int:
        """A key or value starts at `pos`: `step` reads it with a fresh scanner."""
        self._scanner = JsonScanner()
        self._token = []
        self._step, self._in_token = step, True
        return pos

    def _value(self, text: str, pos: int) -> int:
        end = self._scanner.scan(text, pos)
        piece = text[pos:end]
        self._raw(piece)
        if self._role == "args":
            if self.decision == "call":
                self._out.args(piece)
            elif self.decision is None:
                self._args_held.append(piece)
        elif self._role != "skip":
            self._token.append(piece)
        if self._scanner.failed:
            return self._fail(end)
        if self._scanner.done:
            self._value_done()
            self._step, self._in_token = CallObject._after, False
        return end

    def _value_done(self) -> None:
        if self._role == "name":
            self._decide(json.loads("".join(self._token)))
        elif self._role == "args-text":
            raw = "".join(self._token)
            value = json.loads(raw)
            text = _stringified_arguments(value, raw)
            if self.decision == "call":
                self._out.args(text)
            else:
                self._args_held = [text]

    def _decide(self, name: str) -> None:
        if self.decision is not None:
            return
        if not accepted(self._tools, name):
            self._give_up()
            return
        self.decision = "call"
        self._held.clear()
        self._out.start(name)
        self._out.args("".join(self._args_held))

    def _after(self, text: str, pos: int) -> int:
        if text[pos] == ",":
            self._raw(",")
            self._step = CallObject._key
            return pos + 1
        if text[pos] == "}":
            return self._close(pos)
        return self._fail(pos)

    def _close(self, pos: int) -> int:
        self._raw("}")
        self.status = Status.DONE
        if self.decision is None:
            self._give_up()  # no name: not a call
        elif self.decision == "call" and not self._args_seen:
            self._out.args("{}")
        return pos + 1


class JsonCallsParser(MachineParser):
    """States for call objects and arrays of them; subclasses say what comes after.

    What reads on after an object or a run is kept as the parser's function, not a bound
    method (`step_of`, see `_machine.py`: no reference cycle).
    """

    _obj: CallObject | None = None
    # The keys a call object's arguments may come under (Inkling writes `args`).
    argument_keys: ClassVar[tuple[str, ...]] = _ARGUMENT_KEYS
    _after_object: Callable[[Any, CallObject], bool]  # picks the state after an object
    _block_tail: Step  # `object_block`'s states: after a call, after an object that is none
    _block_text: Step
    _run_then: Step  # `run_object`'s state after an object
    _run_text_state: Step  # where text goes once a run of objects ends

    def object_or_text(self, after: Callable[[CallObject], bool], otherwise: State) -> bool:
        """After a held marker: whitespace (held too), then a `{` opens a call object whose
        raw text starts with all that was held (the whitespace before the marker is markup);
        anything else makes the held text content, and `otherwise` reads on."""
        c = self.peek(hold=True)
        if c is None:
            return False
        if c != "{":
            self.release_held()
            return self.goto(otherwise)
        self.out.markup()
        return self.begin_object("".join(self.held or ()), after)

    def object_block(self, tail: State, text: State) -> bool:
        """`object_or_text` for a marker that opens a block of one object: `tail` reads the
        rest of a call's block; after an object that is no call, `text` reads on."""
        self._block_tail, self._block_text = step_of(tail), step_of(text)
        return self.object_or_text(self._block_done, text)

    def _block_done(self, obj: CallObject) -> bool:
        self.state = self._block_tail if obj.decision == "call" else self._block_text
        return True

    def begin_object(self, prefix: str, after: Callable[[CallObject], bool]) -> bool:
        """At a `{`: read a call object; `after(obj)` picks the next state."""
        self.pos += 1
        self.held = None
        self._obj = CallObject(self.out, self.tools, prefix, self.argument_keys)
        self._after_object = step_of(after)
        return self.goto(self._object)

    def _object(self) -> bool:
        obj = self._obj
        assert obj is not None
        self.pos = obj.step(self.buf, self.pos)
        if obj.status is Status.RUNNING:
            return False
        self._obj = None
        return self._after_object(self, obj)

    def flush(self) -> None:
        if self._obj is not None:
            self._obj.finish()
        super().flush()

    # -- runs of objects: arrays `[{...}, {...}]` (brackets and commas are markup) here,
    # other separators in the families

    def begin_array(self, text_state: State) -> bool:
        """After a `[` that is markup: call objects separated by commas."""
        self._run_text_state = step_of(text_state)
        return self.goto(self._array_item)

    def _array_item(self) -> bool:
        c = self.peek(take="]")  # `[]`, or a trailing comma: the array ends
        if c is None:
            return False
        if c == "{":
            return self.run_object(self._array_next)
        return self.end_run()

    def _array_next(self) -> bool:
        c = self.peek(take=",]")
        if c is None:
            return False
        return self.goto(self._array_item) if c == "," else self.end_run()

    def run_object(self, then: State) -> bool:
        """At a `{` in a run: read a call object, then go on in `then`."""
        self._run_then = step_of(then)
        return self.begin_object("", self._run_done)

    def _run_done(self, obj: CallObject) -> bool:
        if obj.status is Status.FAILED:
            return self.end_run()
        self.state = self._run_then
        return True

    def next_in_run(self, obj: CallObject, state: State) -> bool:
        """After an object of a run: `state` reads on, unless the object broke the run."""
        return self.end_run() if obj.status is Status.FAILED else self.goto(state)

    def end_run(self) -> bool:
        """The run ended (or broke): what follows is text again."""
        self.out.markup_end()
        self.state = self._run_text_state
        return True


def _stringified_arguments(value: object, raw: str) -> str:
    """The arguments of `"arguments": <string or null>`: the JSON the string holds, else the
    string itself as JSON (never bare text, which is not valid JSON)."""
    if not isinstance(value, str) or not value.strip():
        return "{}"
    try:
        loads_strict(value)
    except ValueError:
        return raw
    return value
