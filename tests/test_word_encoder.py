"""The ASCII word encoder gives exactly the tokenizer's ids, for every family, or declines."""

from __future__ import annotations

import random
import re
import string

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers

from sglang_gw.model import model_from_folder
from sglang_gw.pipeline.offload import OFFLOAD_CHARS, run_cpu
from sglang_gw.proto import sglang_scheduler_pb2 as pb
from sglang_gw.testing.models import FAMILIES, model_dir
from sglang_gw.tokenizer import prompt_cache, word_encoder
from sglang_gw.tokenizer.encoding import GIL_FREE_CHARS
from sglang_gw.tokenizer.word_encoder import WordEncoder, ascii_pattern
from tests.conftest import reference_tokenizer

WORDS = ["the", " The", " QUICK", "brown", " fox's", " don't", " I'LL", " 2026", " 3.14159", " x=y+1;", "\n",
         "\r\n", "\n\n", "   ", "\t", " (a, b)", " [list]", " {\"k\": 'v'}", " foo_bar", " CamelCaseWord", " //",
         " #!", " $100", " 50%", " e-mail", " a/b", "...", " `code`", " ~", " \\path", " ?", "!\n", "  \n  ",
         # markup: some of these are added tokens of some family (declined there), the rest plain text
         " <b>", "</b>", "<think>", "</think>", "<tool_call>", "[INST]", "[/INST]", "<|eot_id|>", "<|im_end|>",
         "<|", "|>", "[TOOL_CALLS]", "<|channel|>", "< think>"]
CHARS = [chr(c) for c in range(128)]


def _texts(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        if i % 3 == 0:  # any ASCII character at all, control characters too
            out.append("".join(rng.choice(CHARS) for _ in range(rng.randint(1, 60))))
        else:
            out.append("".join(rng.choice(WORDS) for _ in range(rng.randint(1, 30))))
    return out


@pytest.mark.parametrize("family", FAMILIES)
def test_ids_equal_the_tokenizers_on_random_ascii(family: str) -> None:
    tok = reference_tokenizer(family)
    enc = WordEncoder.build(tok)
    assert enc is not None, f"{family}: a byte-level BPE tokenizer should get a word encoder"
    encoded = 0
    for text in _texts(FAMILIES.index(family), 4000):
        ids = enc.encode(text)
        if ids is not None:
            encoded += 1
            assert ids == tok.encode(text, add_special_tokens=False).ids, repr(text)
    assert encoded > 1500  # many texts are plain ASCII with no added token in them


@pytest.mark.parametrize("family", FAMILIES)
def test_a_second_pass_from_the_cache_gives_the_same_ids(family: str) -> None:
    tok = reference_tokenizer(family)
    enc = WordEncoder.build(tok)
    assert enc is not None
    texts = _texts(5, 200)
    first = [enc.encode(t) for t in texts]
    assert [enc.encode(t) for t in texts] == first


def test_declines_what_it_cannot_do_exactly() -> None:
    tok = reference_tokenizer("qwen3")
    enc = WordEncoder.build(tok)
    assert enc is not None
    assert enc.encode("café") is None  # not ASCII
    assert enc.encode("a <|im_end|> b") is None  # an added token
    assert enc.encode("a <|im_start|>") is None
    for markup in ("x < y", "<b>bold</b>", "<|not_a_token|>", "<think"):  # no added token in them
        assert enc.encode(markup) == tok.encode(markup, add_special_tokens=False).ids
    assert enc.encode("") == []


def test_other_tokenizer_kinds_get_none() -> None:
    word_level = Tokenizer(models.WordLevel({"a": 0, "[UNK]": 1}, unk_token="[UNK]"))
    word_level.pre_tokenizer = pre_tokenizers.Whitespace()
    assert WordEncoder.build(word_level) is None
    metaspace = Tokenizer(models.BPE())
    metaspace.pre_tokenizer = pre_tokenizers.Metaspace()
    assert WordEncoder.build(metaspace) is None


def test_word_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(word_encoder, "MAX_WORDS", 50)
    tok = reference_tokenizer("llama31")
    enc = WordEncoder.build(tok)
    assert enc is not None
    for text in _texts(9, 300):
        ids = enc.encode(text)
        assert ids is None or ids == tok.encode(text, add_special_tokens=False).ids
        assert len(enc._words) <= 50


def _matches(pattern: str) -> str:
    narrowed = ascii_pattern(pattern)
    assert narrowed is not None
    compiled = re.compile(narrowed, re.ASCII)
    return "".join(c for c in CHARS if compiled.fullmatch(c))


def test_ascii_pattern_narrows_unicode_classes() -> None:
    assert _matches(r"\p{L}") == string.ascii_uppercase + string.ascii_lowercase
    assert _matches(r"\pL") == _matches(r"\p{L}")
    assert _matches(r"\p{N}") == string.digits
    assert _matches(r"\p{Lu}") == string.ascii_uppercase
    assert _matches(r"[\p{Lt}\p{Lm}]") == ""  # no ASCII members: matches nothing
    assert _matches(r"\P{N}") == "".join(c for c in CHARS if c not in string.digits)
    assert _matches(r"[^\r\n\p{L}\p{N}]") == "".join(c for c in CHARS if not c.isalnum() and c not in "\r\n")
    assert _matches(r"[\p{P}\p{S}]") == string.punctuation


def test_negated_property_inside_a_class_is_not_translated() -> None:
    assert ascii_pattern(r"[\P{L}x]") is None


@pytest.mark.parametrize("family", FAMILIES)
def test_long_plain_text_in_a_chat_prompt_is_exact(family: str) -> None:
    """A long prompt piece (past the tokenizer's GIL-free threshold) goes through words too."""
    model = model_from_folder(model_dir(family), pb.GetModelInfoResponse())
    rng = random.Random(11)
    content = "".join(rng.choice(WORDS) for _ in range(6000))
    assert 4096 < len(content) <= prompt_cache.WORDS_MAX_CHARS
    text = model.chat_template.render([{"role": "user", "content": content}])
    assert model.encode(text) == reference_tokenizer(family).encode(text, add_special_tokens=False).ids


async def test_background_threads_leave_long_text_to_the_gil_freereference_tokenizer() -> None:
    """A low-priority preparing thread must not hold the GIL for long (the loop would wait
    on a starved thread): there, long pieces go to the tokenizer; the ids are the same."""
    model = model_from_folder(model_dir("qwen3"), pb.GetModelInfoResponse())
    assert model.segments is not None and model.segments._words is not None
    model.segments._ranks = None  # the word encoder's own behaviour (tiktoken would take long text first)
    content = "".join(random.Random(12).choice(WORDS[:6]) for _ in range(12_000))  # plain ASCII
    text = model.chat_template.render([{"role": "user", "content": content}])
    seen: list[int] = []
    words = model.segments._words
    real = words.encode

    def spy(piece: str) -> list[int] | None:
        seen.append(len(piece))
        return real(piece)

    words.encode = spy  # type: ignore[method-assign]
    expected = reference_tokenizer("qwen3").encode(text, add_special_tokens=False).ids
    assert await run_cpu(OFFLOAD_CHARS, lambda: model.encode(text)) == expected
    assert max(seen, default=0) < GIL_FREE_CHARS  # in the thread: only short pieces
    seen.clear()
    other = model.chat_template.render([{"role": "user", "content": content + " more"}])  # not cached
    assert model.encode(other) == reference_tokenizer("qwen3").encode(other, add_special_tokens=False).ids
    assert max(seen) > GIL_FREE_CHARS  # on the loop's thread: the long piece too
