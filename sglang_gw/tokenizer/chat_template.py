"""Chat templates: find a model's jinja template and render conversations as transformers does.

A :class:`ChatTemplate` is built once per model at start-up; ``render`` turns a request's
messages into prompt text whose token ids equal transformers' ``apply_chat_template``.
The jinja environment is configured like transformers' (trim/lstrip blocks, loop controls,
a ``tojson`` that keeps non-ASCII, ``raise_exception``, ``strftime_now``, the accepted and
ignored ``{% generation %}`` tag, namespaces that refuse underscore names). Messages are
normalised in :mod:`sglang_gw.tokenizer.messages`.

Where we knowingly differ from a bare ``apply_chat_template`` call, it is a DESIGN §5
convention: null content is ``""`` (transformers drops the key), list-of-parts content is
joined for roles whose template cannot read parts, tool-call arguments are objects with the
client's string as a fallback, an empty ``tool_calls`` list is dropped, and reasoning is also
offered under ``reasoning``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, NoReturn

import jinja2
import jinja2.ext
import jinja2.nodes
import jinja2.parser
import jinja2.runtime
import jinja2.sandbox
import jinja2.utils

from sglang_gw.errors import ChatTemplateError, ConfigError, InvalidRequestError
from sglang_gw.ids import random_hex
from sglang_gw.tokenizer.messages import Message, argument_objects, normalize_messages
from sglang_gw.tokenizer.skeleton import (
    OPAQUE_FILTERS,
    OPAQUE_TESTS,
    SkeletonCache,
    spoil_active_probe,
    spoil_if_probed,
    watch_probes,
)

__all__ = [
    "SPECIAL_TOKEN_KEYS",
    "ChatTemplate",
    "compile_template",
    "load_chat_template",
    "load_chat_templates",
    "read_special_tokens",
]

# The named special tokens transformers 5.x passes to every template (its special_tokens_map).
SPECIAL_TOKEN_KEYS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
# Template variables a request may not override through chat_template_kwargs.
_RESERVED_KWARGS = frozenset({"messages", "tools", "documents", "add_generation_prompt"})
# Appended to the final message for continue_final_message; the trailing space lets us tell
# a template that keeps the message's spacing from one that trims it.
_CONTINUE_TAG = "SGLANG_GW_CONTINUE_FINAL_MESSAGE "


# --- loading ------------------------------------------------------------------------------


def load_chat_templates(model_dir: Path, override: Path | None = None) -> dict[str, str]:
    """All named templates of a model, ``"default"`` always among them.

    Sources, first found wins: ``override`` (a ``.jinja`` file, or a JSON file with a
    ``chat_template`` key); ``chat_template.jinja`` and ``additional_chat_templates/*.jinja``
    in ``model_dir`` (as transformers, these replace the config's templates); the
    ``chat_template`` of ``tokenizer_config.json``, a string or a list of ``{name, template}``.
    """
    if override is not None:
        templates = _read_override(Path(override))
        where = str(override)
    else:
        model_dir = Path(model_dir)
        templates = _read_template_files(model_dir) or _read_config_templates(model_dir)
        where = str(model_dir)
    if not templates:
        raise ConfigError(f"no chat template found in {where}; pass a template file to use one")
    if "default" not in templates:
        raise ConfigError(f"{where} has chat templates {sorted(templates)} but none named 'default'")
    return templates


def load_chat_template(model_dir: Path, override: Path | None = None) -> str:
    """The model's default template source; see :func:`load_chat_templates` for the order."""
    return load_chat_templates(model_dir, override)["default"]


def read_special_tokens(model_dir: Path) -> dict[str, str]:
    """The named special tokens a template sees (``bos_token``...), as transformers reads them."""
    config = _read_json(Path(model_dir) / "tokenizer_config.json")
    legacy = Path(model_dir) / "special_tokens_map.json"
    if "added_tokens_decoder" not in config and legacy.is_file():
        # Old folders keep their special tokens there, and transformers lets them win.
        config = {**config, **_read_json(legacy)}
    tokens = {key: _token_text(config.get(key)) for key in SPECIAL_TOKEN_KEYS}
    return {key: text for key, text in tokens.items() if text is not None}


def _token_text(value: object) -> str | None:
    if isinstance(value, Mapping):  # an AddedToken as transformers serialises it
        value = value.get("content")
    return value if isinstance(value, str) else None


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a JSON object")
    return data


def _read_override(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise ConfigError(f"chat template file {path} does not exist")
    if path.suffix == ".json":
        return _templates_from_value(_read_json(path).get("chat_template"), path)
    return {"default": path.read_text(encoding="utf-8")}


def _read_template_files(model_dir: Path) -> dict[str, str]:
    templates = {}
    default = model_dir / "chat_template.jinja"
    if default.is_file():
        templates["default"] = default.read_text(encoding="utf-8")
    extra_dir = model_dir / "additional_chat_templates"
    if extra_dir.is_dir():
        for path in sorted(extra_dir.glob("*.jinja")):
            templates[path.stem] = path.read_text(encoding="utf-8")
    return templates


def _read_config_templates(model_dir: Path) -> dict[str, str]:
    path = model_dir / "tokenizer_config.json"
    return _templates_from_value(_read_json(path).get("chat_template"), path)


def _templates_from_value(value: object, path: Path) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, str):
        return {"default": value}
    if isinstance(value, list) and all(_is_named_template(item) for item in value):
        return {item["name"]: item["template"] for item in value}
    raise ConfigError(f"{path}: chat_template must be a string or a list of {{name, template}} objects")


def _is_named_template(item: object) -> bool:
    return isinstance(item, Mapping) and isinstance(item.get("name"), str) and isinstance(item.get("template"), str)


# --- the jinja environment -----------------------------------------------------------------


class _GenerationTag(jinja2.ext.Extension):
    """``{% generation %}…{% endgeneration %}`` marks assistant text for training masks; we
    only render, so the tag renders its body unchanged."""

    tags = {"generation"}  # noqa: RUF012 - jinja reads it as declared on Extension

    def parse(self, parser: jinja2.parser.Parser) -> list[jinja2.nodes.Node]:
        next(parser.stream)
        return parser.parse_statements(("name:endgeneration",), drop_needle=True)


class _Namespace(jinja2.utils.Namespace):
    """Jinja's ``namespace`` that refuses underscore attributes, as transformers' sandbox does."""

    def __init__(*args: Any, **kwargs: Any) -> None:
        # Positional-only self, like jinja's own Namespace, so `namespace(self=1)` still works.
        self, rest = args[0], args[1:]
        for name in dict(*rest, **kwargs):
            _check_namespace_name(name)
        jinja2.utils.Namespace.__init__(self, *rest, **kwargs)

    def __setitem__(self, name: str, value: Any) -> None:
        _check_namespace_name(name)
        super().__setitem__(name, value)


def _check_namespace_name(name: object) -> None:
    if isinstance(name, str) and name.startswith("_"):
        raise jinja2.exceptions.SecurityError(f"a namespace may not hold the underscore attribute {name!r}")


class _DictFactory:
    """``dict(...)`` and ``dict.fromkeys(...)`` for templates, without exposing the type."""

    def __call__(self, *args: Any, **kwargs: Any) -> dict[Any, Any]:
        return dict(*args, **kwargs)

    def fromkeys(self, keys: Any, value: Any = None) -> dict[Any, Any]:
        return dict.fromkeys(keys, value)


def _tojson(
    value: Any,
    ensure_ascii: bool = False,
    indent: int | str | None = None,
    separators: Sequence[str] | None = None,
    sort_keys: bool = False,
) -> str:
    # Jinja's own tojson escapes HTML characters and non-ASCII; templates expect plain JSON.
    spoil_if_probed(value)  # a message text in the value would be escaped; tools are fixed by the shape
    pair = None if separators is None else (separators[0], separators[1])
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=pair, sort_keys=sort_keys)


def _raise_exception(message: object) -> NoReturn:
    raise ChatTemplateError(str(message))


def _strftime_now(fmt: str) -> str:
    spoil_active_probe()  # a skeleton would keep today's date
    return datetime.now().strftime(fmt)


_DICT_ATTRIBUTES = frozenset(dir(dict))


class _Sandbox(jinja2.sandbox.ImmutableSandboxedEnvironment):
    """transformers' sandbox, with its two per-access costs taken out of the hot path.

    A template reads ``message.role`` on plain dicts: the sandbox first asks the dict for an
    attribute (raising and formatting an AttributeError every time), then indexes it. For an
    exact dict and a name that is not a dict attribute the outcome is known, so we index
    straight away. Attribute safety depends only on the object's type and the name (see
    ``is_internal_attribute`` and ``modifies_known_mutable``), so it is decided once per pair.
    Templates render the same either way; about half the render time goes.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._safe: dict[tuple[type, str], bool] = {}

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        key = (type(obj), attr)
        safe = self._safe.get(key)
        if safe is None:
            safe = self._safe[key] = super().is_safe_attribute(obj, attr, value)
        return safe


@lru_cache(maxsize=1)
def _environment() -> jinja2.sandbox.ImmutableSandboxedEnvironment:
    env = _Sandbox(
        trim_blocks=True, lstrip_blocks=True, extensions=[_GenerationTag, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = _tojson
    # Filters and tests that may read a message text unseen would make skeletons wrong.
    for table, opaque in ((env.filters, OPAQUE_FILTERS), (env.tests, OPAQUE_TESTS)):
        for name, func in list(table.items()):
            if name not in opaque:
                table[name] = watch_probes(func)
    env.globals.update(
        raise_exception=_raise_exception, strftime_now=_strftime_now, namespace=_Namespace, dict=_DictFactory()
    )
    return env


@lru_cache(maxsize=64)
def compile_template(source: str) -> jinja2.Template:
    """Compile once per distinct source string; a syntax error is a start-up ConfigError."""
    try:
        return _environment().from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError(f"chat template does not compile (line {exc.lineno}): {exc.message}") from exc


def _render(template: jinja2.Template, context: Mapping[str, Any]) -> str:
    """`template.render(context)`, leaving no reference cycle behind.

    jinja2 keeps each top-level `{% macro %}` of a render in a closure that refers back to
    the macro (so that it can call itself): a cycle per macro per render, garbage only the
    collector frees. gpt-oss's template has four, 51 objects a request; the collector's
    young passes run on the event loop, so a render frees its macros itself.
    """
    ctx = template.new_context(dict(context))
    try:
        return template.environment.concat(template.root_render_func(ctx))  # type: ignore[attr-defined,no-any-return]
    except Exception:
        template.environment.handle_exception()  # what render does: the template's own line in the traceback
    finally:
        for value in ctx.vars.values():
            if isinstance(value, jinja2.runtime.Macro):
                value._func = None  # type: ignore[assignment]


def _run(template: jinja2.Template, context: Mapping[str, Any]) -> str:
    try:
        return _render(template, context)
    except ChatTemplateError:
        raise
    except jinja2.TemplateError as exc:
        raise ChatTemplateError(str(exc) or type(exc).__name__) from exc
    except Exception as exc:  # noqa: BLE001 - a template is code: any failure is the template's
        # transformers lets e.g. a TypeError through; its text is the message users know.
        raise ChatTemplateError(str(exc) or type(exc).__name__) from exc


# --- which roles take content parts -----------------------------------------------------------

_PROBE_TEXT = ("sgw probe alpha", "sgw probe beta")
_STRING, _PARTS, _PARTS_ONLY = "string", "parts", "parts_only"
_RAW_PART = re.compile(r"""["']type["']\s*:\s*["']text["']""")
ConversationShape = Callable[[object], list[Message]]


def _probe_shapes(role: str) -> list[ConversationShape]:
    """Small conversations that put ``content`` in a ``role`` message, in every shape a
    template may treat differently (assistant messages with and without tool calls)."""
    user: Message = {"role": "user", "content": "sgw probe question"}
    call = {"id": "sgwprobe0", "type": "function", "function": {"name": "probe", "arguments": {}}}
    asks = {"role": "assistant", "content": "", "tool_calls": [call]}
    if role == "system":
        return [lambda c: [{"role": "system", "content": c}, user]]
    if role == "user":
        return [lambda c: [{"role": "user", "content": c}]]
    if role == "assistant":
        return [
            lambda c: [user, {"role": "assistant", "content": c}, user],
            lambda c: [user, {**asks, "content": c}, {"role": "tool", "tool_call_id": "sgwprobe0", "content": "x"}],
        ]
    return [lambda c: [user, asks, {"role": "tool", "tool_call_id": "sgwprobe0", "name": "probe", "content": c}]]


def _content_style(template: jinja2.Template, shape: ConversationShape, context: Mapping[str, Any]) -> str:
    """How the template reads content in this shape of message: as a string, as a list of
    parts (one text part renders exactly like the string), or only as parts (a string renders
    nothing). Failing on lists, printing them as JSON or a repr, or reading only the first
    part all mean "string": the parts are then joined."""
    one = [{"type": "text", "text": _PROBE_TEXT[0]}]
    two = [*one, {"type": "text", "text": _PROBE_TEXT[1]}]
    try:
        single = _run(template, {**context, "messages": shape(one)})
        double = _run(template, {**context, "messages": shape(two)})
    except ChatTemplateError:
        return _STRING
    first = double.find(_PROBE_TEXT[0])
    if _PROBE_TEXT[0] not in single or first < 0 or double.find(_PROBE_TEXT[1], first) < 0:
        return _STRING
    if _RAW_PART.search(single):  # the list itself was printed (repr or JSON)
        return _STRING
    try:
        plain = _run(template, {**context, "messages": shape(_PROBE_TEXT[0])})
    except ChatTemplateError:
        return _PARTS_ONLY
    if single == plain:
        return _PARTS
    return _PARTS_ONLY if _PROBE_TEXT[0] not in plain else _STRING


def _role_style(template: jinja2.Template, role: str, context: Mapping[str, Any]) -> str:
    styles = {_content_style(template, shape, context) for shape in _probe_shapes(role)}
    if _STRING in styles:
        return _STRING
    return _PARTS if _PARTS in styles else _PARTS_ONLY


@dataclass(frozen=True, slots=True)
class _Program:
    """One compiled template and how it reads each role's content."""

    source: str
    template: jinja2.Template
    parts_roles: frozenset[str]
    parts_only_roles: frozenset[str]
    role_aliases: dict[str, str]


# OpenAI roles that few templates know, and the role each stands for.
_STAND_INS = {"developer": "system", "function": "tool"}


def _role_aliases(source: str) -> dict[str, str]:
    """The stand-ins for roles the template never compares a role with (gpt-oss knows
    `developer`; Qwen, Llama and DeepSeek would skip it, and the model never see it)."""
    return {role: stand_in for role, stand_in in _STAND_INS.items()
            if not re.search(rf"""role['"\]]*\s*(?:==|!=)\s*['"]{role}['"]""", source)}


def _build_program(source: str, special_tokens: Mapping[str, str]) -> _Program:
    template = compile_template(source)
    context = {**special_tokens, "tools": None, "documents": None, "add_generation_prompt": True}
    styles = {role: _role_style(template, role, context) for role in ("system", "user", "assistant", "tool")}
    parts = frozenset(role for role, style in styles.items() if style != _STRING)
    parts_only = frozenset(role for role, style in styles.items() if style == _PARTS_ONLY)
    return _Program(source, template, parts, parts_only, _role_aliases(source))


# --- rendering ----------------------------------------------------------------------------------


class ChatTemplate:
    """A model's chat template(s), compiled once, rendering like ``apply_chat_template``.

    ``templates`` maps names to sources and must hold ``"default"``; as in transformers, a
    ``"tool_use"`` template is used instead whenever ``tools`` are given.
    """

    def __init__(
        self, templates: str | Mapping[str, str], special_tokens: Mapping[str, str] | None = None,
        *, skeletons: bool = True,
    ) -> None:
        named = {"default": templates} if isinstance(templates, str) else dict(templates)
        if "default" not in named:
            raise ConfigError(f"chat templates {sorted(named)} have none named 'default'")
        self.special_tokens: dict[str, str] = dict(special_tokens or {})
        self._programs = {name: _build_program(source, self.special_tokens) for name, source in named.items()}
        # Plain conversations render from skeletons, learned per tools list (off only to
        # compare against jinja's own render).
        self._skeletons = SkeletonCache(random_hex()) if skeletons else None

    @classmethod
    def from_model_dir(cls, model_dir: Path, override: Path | None = None) -> ChatTemplate:
        """Load the templates (see :func:`load_chat_templates`) and special tokens of a model."""
        return cls(load_chat_templates(model_dir, override), read_special_tokens(model_dir))

    @property
    def source(self) -> str:
        """The default template's source."""
        return self._programs["default"].source

    def parts_roles(self, *, tools: bool = False) -> frozenset[str]:
        """Roles whose list-of-parts content is given to the template as a list."""
        return self._program(tools).parts_roles

    def parts_only_roles(self, *, tools: bool = False) -> frozenset[str]:
        """Roles whose template reads only parts, so string content is given as one part."""
        return self._program(tools).parts_only_roles

    def render(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        documents: Sequence[Mapping[str, Any]] | None = None,
        add_generation_prompt: bool = True,
        continue_final_message: bool = False,
        template_kwargs: Mapping[str, Any] | None = None,
    ) -> str:
        """Render a conversation to prompt text.

        ``template_kwargs`` holds ``chat_template_kwargs`` (e.g. ``enable_thinking``) and
        top-level extras such as ``reasoning_effort``; they override the special tokens.
        Raises :class:`InvalidRequestError` for malformed messages or arguments and
        :class:`ChatTemplateError` when the template refuses or fails on the conversation.
        """
        if continue_final_message and add_generation_prompt:
            raise InvalidRequestError(
                "continue_final_message and add_generation_prompt cannot both be set: the first continues "
                "the last message, the second starts a new assistant message",
                param="continue_final_message",
            )
        skeletons, shape = self._skeletons, None
        if skeletons is not None and documents is None and not continue_final_message:
            shape = skeletons.shape(messages, template_kwargs, add_generation_prompt, tools)
            if shape is not None and (text := skeletons.lookup(shape, messages)) is not None:
                return text
        program = self._program(tools is not None)
        context = self._context(tools, documents, add_generation_prompt, template_kwargs)
        if continue_final_message and "content" not in program.source:
            raise ChatTemplateError("continue_final_message is set but this chat template never reads 'content'")
        variants = _variants(messages, program)
        text = _render_first_that_works(program.template, variants, context, continued=continue_final_message)
        if shape is not None and skeletons is not None:
            skeletons.learn(shape, messages, text, lambda probed: _render_once(
                program.template, next(_variants(probed, program)), context, False))
        return text

    @property
    def skeletons(self) -> SkeletonCache | None:
        """The skeleton cache of plain conversations, with or without tools (its hit and miss
        counts, for tests)."""
        return self._skeletons

    def _program(self, tools: bool) -> _Program:
        if tools and "tool_use" in self._programs:
            return self._programs["tool_use"]
        return self._programs["default"]

    def _context(
        self,
        tools: Sequence[Mapping[str, Any]] | None,
        documents: Sequence[Mapping[str, Any]] | None,
        add_generation_prompt: bool,
        template_kwargs: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        extra = dict(template_kwargs or {})
        reserved = sorted(_RESERVED_KWARGS.intersection(extra))
        if reserved:
            raise InvalidRequestError(
                f"chat_template_kwargs may not set {', '.join(reserved)}", param="chat_template_kwargs"
            )
        # None, not undefined, when absent: templates test both `tools is none` and `tools is defined`.
        return {
            **self.special_tokens,
            **extra,
            "tools": _list_of_objects(tools, "tools"),
            "documents": _list_of_objects(documents, "documents"),
            "add_generation_prompt": add_generation_prompt,
        }


def _list_of_objects(value: object, param: str) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if not isinstance(value, Sequence) or isinstance(value, str) or not all(isinstance(v, Mapping) for v in value):
        raise InvalidRequestError(f"'{param}' must be a list of objects", param=param)
    return [dict(item) for item in value]


def _variants(messages: object, program: _Program) -> Iterator[list[Message]]:
    """The conversation as the template should see it, then fallbacks, each made on demand.

    First the DESIGN §5 form (parts where the template reads them, argument objects); then
    the client's argument strings, for templates that fail on objects; then the same two with
    all parts joined, for templates that read parts in some messages but not others.
    """
    seen: list[list[Message]] = []
    for parts in (True, False):
        for as_objects in (True, False):
            variant = normalize_messages(
                messages,
                parts_roles=program.parts_roles if parts else (),
                parts_only_roles=program.parts_only_roles if parts else (),
                arguments_as_objects=as_objects,
                role_aliases=program.role_aliases,
            )
            if variant not in seen:
                seen.append(variant)
                yield variant


def _render_first_that_works(
    template: jinja2.Template,
    variants: Iterable[list[Message]],
    context: Mapping[str, Any],
    *,
    continued: bool,
) -> str:
    """Render the first variant that works. A result that prints an argument object as a
    Python repr (templates that do ``'…' ~ arguments``) is kept only if nothing better comes.
    When every variant fails, the last error (the client's own strings) is raised."""
    tainted: str | None = None
    error: ChatTemplateError | None = None
    for messages in variants:
        try:
            text = _render_once(template, messages, context, continued)
        except ChatTemplateError as exc:
            error = exc
            continue
        if not _prints_repr(text, argument_objects(messages)):
            return text
        tainted = tainted if tainted is not None else text
    if tainted is not None:
        return tainted
    assert error is not None, "normalize_messages always yields at least one variant"
    raise error


def _render_once(
    template: jinja2.Template, messages: list[Message], context: Mapping[str, Any], continued: bool
) -> str:
    if not continued:
        return _run(template, {**context, "messages": messages})
    tagged, final_text = _tag_final_message(messages)
    return _cut_at_tag(_run(template, {**context, "messages": tagged}), final_text)


def _prints_repr(text: str, objects: Sequence[dict[str, Any]]) -> bool:
    return any(obj and repr(obj) in text for obj in objects)


# --- continue_final_message -----------------------------------------------------------------


def _tag_final_message(messages: list[Message]) -> tuple[list[Message], str]:
    """Append the tag to the final message's text; return the copy and the original text."""
    final = dict(messages[-1])
    content = final["content"]
    if isinstance(content, str):
        final["content"] = content + _CONTINUE_TAG
        return [*messages[:-1], final], content
    parts = [dict(part) for part in content]
    if not parts:
        raise ChatTemplateError("continue_final_message is set but the final message has no text to continue")
    # The model continues the last text part.
    original = parts[-1]["text"]
    parts[-1]["text"] = original + _CONTINUE_TAG
    final["content"] = parts
    return [*messages[:-1], final], original


def _cut_at_tag(rendered: str, final_text: str) -> str:
    marker = _CONTINUE_TAG.strip()
    if final_text.strip() not in rendered or marker not in rendered:
        raise ChatTemplateError(
            "continue_final_message is set but the chat template does not render the final message "
            "intact, so it cannot be continued"
        )
    at = rendered.rindex(marker)
    if rendered.startswith(_CONTINUE_TAG, at):
        return rendered[:at]
    # The template trimmed the message's trailing whitespace (and our tag's), so trim too.
    return rendered[:at].rstrip()
