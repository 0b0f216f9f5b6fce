"""A served model: everything the pipeline needs to know about one model, built at start-up.

The tokenizer and chat template come from a local folder or from the worker itself; the
name, context length, end tokens and sampling defaults come from the worker's GetModelInfo,
because the worker is the authority on what it actually runs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

from sglang_gw.config import RequestLimits
from sglang_gw.errors import ConfigError, WorkerError
from sglang_gw.model_kind import ModelKind, read_model_kind
from sglang_gw.proto import sglang_scheduler_pb2 as pb
from sglang_gw.tokenizer.affixes import SpecialAffixes
from sglang_gw.tokenizer.chat_template import ChatTemplate
from sglang_gw.tokenizer.detokenizer import prepare as prepare_detokenizer
from sglang_gw.tokenizer.encoding import encode_ids
from sglang_gw.tokenizer.loader import resolve_local, unpack_worker_tokenizer
from sglang_gw.tokenizer.prompt_cache import SegmentEncoder
from sglang_gw.tokenizer.rank_encoder import RankEncoder
from sglang_gw.tokenizer.token_bound import TokenBound
from sglang_gw.tokenizer.word_encoder import WordEncoder
from sglang_gw.workers.client import WorkerClient

__all__ = ["ServedModel", "load_served_model", "model_from_folder"]

log = logging.getLogger(__name__)

# SGLang's own defaults; proto3 zeros must never stand in for them.
SGLANG_DEFAULTS: dict[str, float | int] = {
    "temperature": 1.0, "top_p": 1.0, "top_k": -1, "min_p": 0.0, "repetition_penalty": 1.0,
    "frequency_penalty": 0.0, "presence_penalty": 0.0,
}


@dataclass(slots=True)
class ServedModel:
    name: str
    folder: Path
    tokenizer: Tokenizer
    chat_template: ChatTemplate | None
    eos_token_ids: frozenset[int]
    context_length: int
    sampling_defaults: dict[str, float | int]
    model_path: str = ""
    created: int = field(default_factory=lambda: int(time.time()))
    info: dict[str, Any] = field(default_factory=dict)
    reasoning_parser: type | None = None
    tool_parser: type | None = None
    segments: SegmentEncoder | None = None  # cached prompt tokenization (chat prompts)
    affixes: SpecialAffixes | None = None  # the special tokens around one text (segments then serve those too)
    # Token ids run from 0 to vocab_size - 1: the worker's embedding rows (GetModelInfo),
    # else the tokenizer's ids. An id past the embedding can crash a worker's GPU kernel.
    vocab_size: int = 0
    token_bound: TokenBound | None = None  # tokens a text has at least, from its size
    # The gateway's request limits, carried here so that prepare's (request, model) contract
    # (plugins' too) brings them to the pipeline; set by the gateway when it loads the model.
    limits: RequestLimits = field(default_factory=RequestLimits)
    kind: ModelKind = field(default_factory=ModelKind)  # generate, or which pooling model

    def marker_ids(self, markers: tuple[str, ...]) -> frozenset[int]:
        """Ids of the marker texts that are tokens (missing ones are simply not needed)."""
        found = (self.tokenizer.token_to_id(m) for m in markers)
        return frozenset(i for i in found if i is not None)

    def attach_parsers(self, reasoning: str | None = "auto", tools: str | None = "auto") -> None:
        """Resolve `--reasoning-parser` / `--tool-call-parser` (a name, `auto` or `none`) once, at
        start-up, and log which parser the model got and why."""
        from sglang_gw.parsers.reasoning import REASONING_PARSERS
        from sglang_gw.parsers.tools import TOOL_PARSERS

        r_name, r_why = self._parser_choice("reasoning", reasoning)
        t_name, t_why = self._parser_choice("tools", tools)
        self.reasoning_parser = REASONING_PARSERS.get(r_name) if r_name else None
        self.tool_parser = TOOL_PARSERS.get(t_name) if t_name else None
        log.info("model %s: reasoning parser %s (%s); tool-call parser %s (%s)",
                 self.name, r_name or "none", r_why, t_name or "none", t_why)

    def _parser_choice(self, kind: str, flag: str | None) -> tuple[str | None, str]:
        from sglang_gw.parsers.detect import choose_reasoning_parser, choose_tool_parser

        if flag is None or flag == "none":
            return None, "turned off" if flag == "none" else "no flag"
        if flag != "auto":
            return flag, "flag"
        choose = choose_reasoning_parser if kind == "reasoning" else choose_tool_parser
        specials = [t.content for t in self.tokenizer.get_added_tokens_decoder().values()]
        template = self.chat_template.source if self.chat_template is not None else None
        choice = choose(self.model_path or self.name, specials, template, self._architectures())
        return choice.name, f"auto: {choice.reason}"

    def _architectures(self) -> list[str]:
        """The worker's architectures, else the folder's config.json ones."""
        if self.info.get("architectures"):
            return list(self.info["architectures"])
        try:
            config = json.loads((self.folder / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        found = config.get("architectures") if isinstance(config, dict) else None
        return [a for a in found if isinstance(a, str)] if isinstance(found, list) else []

    @property
    def fast_plain_text(self) -> bool:
        """Plain ASCII chat prompts go through the word encoder, cheap enough to keep long
        ones on the event loop (pipeline/offload.py)."""
        return self.segments is not None and self.segments.has_words

    def encode(self, text: str, *, add_special_tokens: bool = False) -> list[int]:
        if self.segments is not None:
            if not add_special_tokens:
                return self.segments.encode(text)
            if self.affixes is not None:
                return self.affixes.around(self.segments.encode(text))
        return encode_ids(self.tokenizer, text, add_special_tokens=add_special_tokens)

    def require_task(self, tasks: tuple[str, ...] = ("generate",)) -> None:
        """A 400 unless the model does one of `tasks` (chat on an embedding model, say)."""
        if self.kind.task not in tasks:
            from sglang_gw.errors import InvalidRequestError
            wanted = " or ".join(t.replace("_", "-") for t in tasks)
            raise InvalidRequestError(f"model {self.name!r} is a {self.kind.task.replace('_', '-')} model; this "
                                      f"endpoint needs a {wanted} model", param="model")

    def require_template(self) -> ChatTemplate:
        if self.chat_template is None:
            from sglang_gw.errors import InvalidRequestError
            raise InvalidRequestError(f"model {self.name!r} has no chat template; use /v1/completions")
        return self.chat_template


def _sampling_defaults(info: pb.GetModelInfoResponse) -> dict[str, float | int]:
    merged = dict(SGLANG_DEFAULTS)
    for raw in (info.preferred_sampling_params, info.default_sampling_params_json):
        if not raw:
            continue
        try:
            found = json.loads(raw)
        except json.JSONDecodeError:
            log.warning("ignoring unparsable sampling defaults from the worker: %r", raw)
            continue
        merged.update({k: v for k, v in found.items() if k in SGLANG_DEFAULTS and isinstance(v, (int, float))})
    return merged


def model_from_folder(folder: Path, info: pb.GetModelInfoResponse, *, name: str | None = None,
                      chat_template: Path | None = None, fast_path: bool = True) -> ServedModel:
    tokenizer = _tokenizer(folder / "tokenizer.json")
    prepare_detokenizer(tokenizer)
    try:
        template: ChatTemplate | None = ChatTemplate.from_model_dir(folder, chat_template)
    except ConfigError:
        if chat_template is not None:
            raise
        log.warning("no chat template in %s: /v1/chat/completions is disabled for this model", folder)
        template = None
    eos = frozenset(info.eos_token_ids) or _eos_from_folder(folder, tokenizer)
    model = ServedModel(
        name=name or info.served_model_name or info.model_path or folder.name,
        folder=folder,
        tokenizer=tokenizer,
        chat_template=template,
        eos_token_ids=eos,
        context_length=info.max_context_length or 32_768,
        sampling_defaults=_sampling_defaults(info),
        model_path=info.model_path,
        info={"model_type": info.model_type, "architectures": list(info.architectures),
              "vocab_size": info.vocab_size, "max_req_input_len": info.max_req_input_len},
        vocab_size=info.vocab_size or _tokenizer_vocab_size(tokenizer),
        token_bound=_token_bound(tokenizer),
        kind=read_model_kind(info, folder),
    )
    if model.kind.pooling:
        log.info("model %s: a %s model (not generative)", model.name, model.kind.task)
    if model.token_bound is not None:
        log.info("model %s: a token stands for at most %d bytes; prompts longer than the context by their "
                 "size alone are refused untokenized", model.name, model.token_bound.max_token_bytes)
    else:
        log.info("model %s: its tokenizer may drop text, so every prompt is tokenized before the "
                 "context-length check", model.name)
    if template is not None:
        # Cut prompts at the added tokens the template writes (its role markers).
        added = [t.content for t in tokenizer.get_added_tokens_decoder().values()]
        # --tokenizer-fast-path off: the tokenizer alone (the segment cache still cuts at markers).
        words = WordEncoder.build(tokenizer) if fast_path else None
        ranks = _rank_encoder(folder / "tokenizer.json", tokenizer) if fast_path else None
        log.info("model %s: ASCII word encoder %s, tiktoken fast path %s", model.name,
                 "on" if words is not None else "off", "on" if ranks is not None else "off")
        model.segments = SegmentEncoder(tokenizer, [a for a in added if a in template.source], words, ranks)
        model.affixes = SpecialAffixes.of(tokenizer) if fast_path else None
    return model


def _file_key(path: Path) -> tuple[str, int, int]:
    """A tokenizer file as it is now: a file rewritten in place gets a new key."""
    stat = path.stat()
    return (str(path.resolve()), stat.st_mtime_ns, stat.st_size)


def _tokenizer(path: Path) -> Tokenizer:
    """The tokenizer of a file, loaded once (loading, and the decode tables built for it, are
    most of a model's start-up): a model loaded again, or another model on the same file,
    shares it. Nothing changes a loaded tokenizer; it is only read, from any thread."""
    key = _file_key(path)
    tokenizer = _TOKENIZERS.get(key)
    if tokenizer is None:
        if len(_TOKENIZERS) >= 8:
            _TOKENIZERS.clear()
        tokenizer = _TOKENIZERS[key] = Tokenizer.from_file(str(path))
    return tokenizer


_TOKENIZERS: dict[tuple[str, int, int], Tokenizer] = {}


def _token_bound(tokenizer: Tokenizer) -> TokenBound | None:
    """`TokenBound.of`, once per loaded tokenizer (it reads the whole vocabulary)."""
    if tokenizer not in _TOKEN_BOUNDS:
        _TOKEN_BOUNDS[tokenizer] = TokenBound.of(tokenizer)
    return _TOKEN_BOUNDS[tokenizer]


_TOKEN_BOUNDS: weakref.WeakKeyDictionary[Tokenizer, TokenBound | None] = weakref.WeakKeyDictionary()


def _rank_encoder(path: Path, tokenizer: Tokenizer) -> RankEncoder | None:
    """`RankEncoder.build`, once per tokenizer file (it takes a few tenths of a second): a
    model loaded again, or another model on the same tokenizer, shares it."""
    key = _file_key(path)
    if key not in _RANK_ENCODERS:
        if len(_RANK_ENCODERS) >= 8:
            _RANK_ENCODERS.clear()
        _RANK_ENCODERS[key] = RankEncoder.build(tokenizer)
    return _RANK_ENCODERS[key]


_RANK_ENCODERS: dict[tuple[str, int, int], RankEncoder | None] = {}


def _tokenizer_vocab_size(tokenizer: Tokenizer) -> int:
    # Added tokens may sit past the model's dense ids.
    added = tokenizer.get_added_tokens_decoder()
    return max(tokenizer.get_vocab_size(with_added_tokens=True), max(added, default=-1) + 1)


def _eos_from_folder(folder: Path, tokenizer: Tokenizer) -> frozenset[int]:
    for name, key in (("generation_config.json", "eos_token_id"), ("tokenizer_config.json", "eos_token")):
        path = folder / name
        if not path.is_file():
            continue
        value = json.loads(path.read_text()).get(key)
        if isinstance(value, dict):
            value = value.get("content")
        if isinstance(value, str):
            value = tokenizer.token_to_id(value)
        if isinstance(value, int):
            return frozenset([value])
        if isinstance(value, list):
            return frozenset(value)
    return frozenset()


async def load_served_model(client: WorkerClient, *, tokenizer_spec: str | None, name: str | None = None,
                            chat_template: Path | None = None, fast_path: bool = True,
                            window: asyncio.Timeout | None = None,
                            info: pb.GetModelInfoResponse | None = None) -> ServedModel:
    """Build a model from the worker's facts and a local or worker-provided tokenizer.

    `window` (the registrar's start-up timeout) bounds what the worker is asked. The build
    itself, about a second of CPU for a large vocabulary (tokenizer, template, tables), runs
    in a thread so that a gateway already serving goes on between the build's GIL hand-offs
    when a worker of a new model joins; a timeout could not stop it half-way, so the window
    is lifted for it. `info`: the worker's model info, when the caller has asked for it already.
    """
    if info is None:
        info = await client.model_info()
    folder = None
    for spec in (tokenizer_spec, info.tokenizer_path, info.model_path):
        if not spec:
            continue
        try:
            folder = resolve_local(spec)
            break
        except ConfigError as err:
            if spec == tokenizer_spec:
                log.warning("%s; asking the worker for its tokenizer", err)
    if folder is None:
        try:
            folder = unpack_worker_tokenizer(await client.get_tokenizer())
        except WorkerError as err:
            raise ConfigError(f"no local tokenizer and the worker could not send one: {err.message}") from None
    log.info("model %s: tokenizer from %s", name or info.served_model_name, folder)
    if window is not None and not window.expired():  # expired: its cancellation is on the way
        window.reschedule(None)
    return await asyncio.to_thread(model_from_folder, folder, info, name=name, chat_template=chat_template,
                                   fast_path=fast_path)
