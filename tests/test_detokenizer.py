"""IncrementalDetokenizer against whole decodes, on the real tokenizers and a SentencePiece one.

The byte-level families come from ``make tokenizers``. No family there has a
SentencePiece-style decoder, so one is trained here in a second from generated text,
with the same decoder shapes real models use (Llama 2's ``Replace/ByteFallback/Fuse/
Strip`` and a ``Metaspace`` one), byte fallback included.
"""

from __future__ import annotations

import gc
import json
import random
from collections.abc import Callable, Iterator, Sequence

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from sglang_gw.testing.models import FAMILIES, model_dir
from sglang_gw.tokenizer.detokenizer import IncrementalDetokenizer, prepare

FFFD = "\ufffd"
SENTENCEPIECE_KINDS = ("llama2_style", "metaspace")

PIECES = (
    "the", " quick", " brown fox", " jumps", "你好", "世界", "中文字符测试", "𠮷野家",
    "😀", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇯🇵", "🇫🇷🇩🇪", "👍🏽", "🧑🏿‍💻", "e\u0301", "a\u0308\u0323",
    "  ", "   \t ", "\n\n", "\r\n", "def f(x):\n    return x + 1\n", '{"a": [1, 2.5]}',
    "Ω≈ç√", "ü", "ß", "مرحبا", "नमस्ते", "日本語のテキスト", "123456", " 42", "!?", "\u00a0",
)


def random_text(rng: random.Random, pieces: int = 60) -> str:
    return "".join(rng.choice(PIECES) for _ in range(pieces))


def random_chunks(rng: random.Random, ids: Sequence[int]) -> Iterator[list[int]]:
    i = 0
    while i < len(ids):
        step = rng.choice((0, 1, 1, 2, 3, 5, 8))
        yield list(ids[i : i + step])
        i += step


def stream(detok: IncrementalDetokenizer, chunks: Iterator[list[int]]) -> list[str]:
    pieces = [detok.feed(chunk) for chunk in chunks]
    pieces.append(detok.finish())
    return pieces


@pytest.fixture(scope="module")
def load_tokenizer() -> Callable[[str], Tokenizer]:
    cache: dict[str, Tokenizer] = {}

    def load(family: str) -> Tokenizer:
        if family not in cache:
            if family in SENTENCEPIECE_KINDS:
                cache[family] = train_sentencepiece(family)
            else:
                try:
                    folder = model_dir(family)
                except FileNotFoundError:
                    pytest.skip(f"{family} tokenizer folder absent: run `make tokenizers`")
                cache[family] = Tokenizer.from_file(str(folder / "tokenizer.json"))
        return cache[family]

    return load


def train_sentencepiece(kind: str) -> Tokenizer:
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    trainer = trainers.BpeTrainer(
        vocab_size=800, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False
    )
    rng = random.Random(7)
    # No emoji or rare CJK in training: they must come out as <0xNN> byte tokens.
    common = [p for p in PIECES if p.isascii() or p in ("你好", "世界", "ü")]
    tok.train_from_iterator(("".join(rng.choice(common) for _ in range(30)) for _ in range(300)), trainer)
    spec = json.loads(tok.to_str())
    vocab = spec["model"]["vocab"]
    for byte in range(256):
        vocab.setdefault(f"<0x{byte:02X}>", len(vocab))
    tok = Tokenizer.from_str(json.dumps(spec))
    if kind == "llama2_style":
        tok.decoder = decoders.Sequence(
            [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
        )
    else:
        tok.decoder = decoders.Sequence(
            [decoders.ByteFallback(), decoders.Metaspace(replacement="▁", prepend_scheme="first")]
        )
    return tok


ALL_KINDS = (*FAMILIES, *SENTENCEPIECE_KINDS)


@pytest.mark.parametrize("family", ALL_KINDS)
def test_streams_equal_whole_decode(load_tokenizer, family: str) -> None:
    tok = load_tokenizer(family)
    rng = random.Random(f"stream-{family}")
    for _ in range(12):
        ids = tok.encode(random_text(rng), add_special_tokens=False).ids
        whole = tok.decode(ids, skip_special_tokens=True)
        one_by_one = stream(IncrementalDetokenizer(tok), ([i] for i in ids))
        assert "".join(one_by_one) == whole
        for _ in range(5):
            pieces = stream(IncrementalDetokenizer(tok), random_chunks(rng, ids))
            assert "".join(pieces) == whole
            if FFFD not in whole:
                assert not any(FFFD in piece for piece in pieces)


@pytest.mark.parametrize("family", ALL_KINDS)
@pytest.mark.parametrize("skip", [True, False])
def test_special_tokens_skipped_or_shown(load_tokenizer, family: str, skip: bool) -> None:
    tok = load_tokenizer(family)
    rng = random.Random(f"special-{family}")
    added = sorted(tok.get_added_tokens_decoder().items())
    specials = [i for i, t in added if t.special]
    assert specials
    # Added tokens go between characters, where a model emits them.
    ids: list[int] = []
    for _ in range(40):
        ids += tok.encode(random_text(rng, 2), add_special_tokens=False).ids
        if rng.random() < 0.3:
            ids.append(rng.choice([i for i, _ in added]))
    whole = tok.decode(ids, skip_special_tokens=skip)
    pieces = stream(IncrementalDetokenizer(tok, skip_special_tokens=skip), random_chunks(rng, ids))
    assert "".join(pieces) == whole
    shown = tok.id_to_token(specials[0])
    if not skip and specials[0] in ids and shown.isascii():
        assert shown in "".join(pieces)


@pytest.mark.parametrize("family", ALL_KINDS)
def test_character_split_across_tokens_is_held(load_tokenizer, family: str) -> None:
    tok = load_tokenizer(family)
    char, ids = next(
        (c, tok.encode(c, add_special_tokens=False).ids)
        for c in ("🦜", "𠮷", "🧑🏿‍💻", "ꙮ", "𓀀")
        if FFFD in tok.decode(tok.encode(c, add_special_tokens=False).ids[:-1])
    )
    # The first token that leaves a character unfinished (SentencePiece may lead with "▁").
    first = next(k for k in range(len(ids)) if FFFD in tok.decode(ids[: k + 1]))
    detok = IncrementalDetokenizer(tok)
    pieces = [detok.feed([i]) for i in ids]
    assert pieces[first:-1] == [""] * (len(ids) - 1 - first)
    assert (pieces[-1] + detok.finish()).endswith(char[-1])
    # A stream that really ends mid-character flushes U+FFFD, as a whole decode does.
    cut = IncrementalDetokenizer(tok)
    held = "".join(cut.feed([i]) for i in ids[: first + 1])
    assert FFFD not in held
    assert held + cut.finish() == tok.decode(ids[: first + 1])
    assert tok.decode(ids[: first + 1]).endswith(FFFD)


@pytest.mark.parametrize("family", FAMILIES)
def test_byte_level_random_ids_match_decode(load_tokenizer, family: str) -> None:
    # Any id sequence (broken UTF-8, specials, ids past the vocabulary) decodes as a whole.
    tok = load_tokenizer(family)
    prepare(tok)
    rng = random.Random(f"ids-{family}")
    size = tok.get_vocab_size(with_added_tokens=True)
    for _ in range(150):
        ids = [rng.randrange(size + 5) for _ in range(rng.randrange(1, 120))]
        for skip in (True, False):
            whole = tok.decode(ids, skip_special_tokens=skip)
            detok = IncrementalDetokenizer(tok, skip_special_tokens=skip)
            assert "".join(stream(detok, random_chunks(rng, ids))) == whole


@pytest.mark.parametrize("family", FAMILIES)
def test_byte_level_prompt_tail_is_context_only(load_tokenizer, family: str) -> None:
    tok = load_tokenizer(family)
    tail = tok.encode("The capital of France is", add_special_tokens=False).ids[-5:]
    out = tok.encode(" Paris, of course.", add_special_tokens=False).ids
    detok = IncrementalDetokenizer(tok, prompt_tail=tail)
    assert "".join(stream(detok, ([i] for i in out))) == " Paris, of course."


@pytest.mark.parametrize("kind", SENTENCEPIECE_KINDS)
def test_sentencepiece_prompt_tail_keeps_leading_space(load_tokenizer, kind: str) -> None:
    tok = load_tokenizer(kind)
    tail = tok.encode("the quick brown fox", add_special_tokens=False).ids[-5:]
    out = tok.encode("jumps 你好", add_special_tokens=False).ids
    assert tok.id_to_token(out[0]).startswith("▁")
    # Alone, the first token's space is dropped, as the whole decode of ``out`` does.
    alone = stream(IncrementalDetokenizer(tok), ([i] for i in out))
    assert "".join(alone) == tok.decode(out) == "jumps 你好"
    primed = stream(IncrementalDetokenizer(tok, prompt_tail=tail), ([i] for i in out))
    assert "".join(primed) == " jumps 你好"
    assert tok.decode(tail + out).endswith("".join(primed))


def test_sentencepiece_invalid_bytes_do_not_break_the_stream(load_tokenizer) -> None:
    # ByteFallback renders a whole run with any invalid byte as U+FFFDs; the valid
    # character before it was already final, so only the rest is replaced.
    tok = load_tokenizer("llama2_style")
    zhong = [tok.token_to_id(f"<0x{b:02X}>") for b in "中".encode()]
    ids = [*zhong, tok.token_to_id("<0xE4>"), *tok.encode("the", add_special_tokens=False).ids]
    assert tok.decode(ids).startswith(FFFD * 4)
    text = "".join(stream(IncrementalDetokenizer(tok), ([i] for i in ids)))
    assert text.startswith("中" + FFFD) and text.endswith("the")


@pytest.mark.parametrize("family", ("qwen3", "llama2_style"))
def test_feed_of_nothing_and_finish_of_nothing(load_tokenizer, family: str) -> None:
    detok = IncrementalDetokenizer(load_tokenizer(family))
    assert detok.feed([]) == ""
    assert detok.finish() == ""


def test_decode_tables_leave_the_collectors_view(load_tokenizer) -> None:
    """The vocabulary-sized tables, a parser's variant built at first use too, are not
    walked by the garbage collector's passes (runtime/heap.py freezes only what exists
    at start-up)."""
    tok = load_tokenizer("qwen3")
    specials = frozenset(i for i, t in tok.get_added_tokens_decoder().items() if t.special)
    detok = IncrementalDetokenizer(tok, keep_ids=frozenset(sorted(specials)[:2]))
    assert detok.feed(tok.encode("hello", add_special_tokens=False).ids) == "hello"
    gc.collect()
    size = tok.get_vocab_size()
    assert not [o for o in gc.get_objects() if type(o) in (list, tuple) and len(o) >= size]
