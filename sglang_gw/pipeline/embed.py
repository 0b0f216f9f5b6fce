"""The pooling road: inputs → token ids → one `Embed` call per input → vectors.

No decode or parse stage runs here. `tokenize_inputs` / `tokenize_pairs` are the prepare
stage (the model's own special tokens and truncation, as its tokenizer.json says; pairs
as the tokenizer pairs them, with `token_type_ids` where the model takes them), checking
each input against the context length. `embed_all` runs one `Embed` call per input, at
most `EMBED_CONCURRENCY` at a time, each sent where the select stage says (so a batch is
spread by the policy) and retried on another worker after a retryable failure, all from
the request's own coroutine (no task per input).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from sglang_gw.errors import ContextLengthExceededError, InvalidRequestError, NoHealthyWorkerError, WorkerError
from sglang_gw.metrics import observe_stage
from sglang_gw.model import ServedModel
from sglang_gw.pipeline.dispatch import DispatchSettings, backoff_delay
from sglang_gw.pipeline.offload import run_cpu
from sglang_gw.pipeline.select import Selector
from sglang_gw.plugins import HookRegistry
from sglang_gw.proto import sglang_scheduler_pb2 as pb
from sglang_gw.routing.base import RouteRequest
from sglang_gw.workers.breaker import record_outcome
from sglang_gw.workers.calls import WorkerCall
from sglang_gw.workers.client import EmbedCall
from sglang_gw.workers.pool import WorkerPool

__all__ = ["EMBED_CONCURRENCY", "EmbedInput", "EmbedTarget", "embed_all", "tokenize_inputs", "tokenize_pairs"]

log = logging.getLogger(__name__)

# Embed calls one request keeps open at once: a batch of 2048 inputs must not open 2048
# calls (each holds a worker slot and a stream on the channel) while others wait.
EMBED_CONCURRENCY = 32
# Inputs sent or answered between two yields to the loop.
_SLICE = 8


@dataclass(slots=True, frozen=True)
class EmbedInput:
    """One input as the worker gets it."""

    ids: list[int]
    text: str = ""
    token_type_ids: list[int] | None = None
    texts: tuple[str, ...] = ()  # a cross-encoder's (query, document)


@dataclass(slots=True, frozen=True)
class EmbedTarget:
    """Where a request's calls go: the model, the fleet, and how to pick and retry."""

    model: ServedModel
    pool: WorkerPool
    settings: DispatchSettings
    hooks: HookRegistry | None = None
    routing_key: str | None = None


def _checked(model: ServedModel, ids: list[int], param: str) -> list[int]:
    if not ids:
        raise InvalidRequestError(f"`{param}` has no tokens", param=param)
    if len(ids) > model.context_length:
        raise ContextLengthExceededError(
            f"`{param}` has {len(ids)} tokens; this model's context length is {model.context_length}", param=param)
    return ids


async def tokenize_inputs(model: ServedModel, inputs: Sequence[str | list[int]],
                          param: str = "input") -> list[EmbedInput]:
    """Texts tokenized with the model's special tokens; id lists passed as they are."""
    texts = [t for t in inputs if isinstance(t, str)]
    size = sum(map(len, texts))
    encoded = iter(await run_cpu(size, lambda: _encode_texts(model, texts)) if texts else ())
    out = []
    for i, item in enumerate(inputs):
        if isinstance(item, str):
            out.append(EmbedInput(_checked(model, next(encoded), f"{param}[{i}]"), text=item))
        else:
            out.append(EmbedInput(_checked(model, list(item), f"{param}[{i}]")))
    return out


def _encode_texts(model: ServedModel, texts: list[str]) -> list[list[int]]:
    """Each text's ids with the model's special tokens: the fast encoders where the model
    has them (`ServedModel.encode`), else one batch call of the tokenizer."""
    if model.segments is not None and model.affixes is not None:
        return [model.encode(t, add_special_tokens=True) for t in texts]
    return [e.ids for e in model.tokenizer.encode_batch_fast(texts, add_special_tokens=True)]


async def tokenize_pairs(model: ServedModel, query: str, documents: Sequence[str],
                         param: str = "documents") -> list[EmbedInput]:
    """(query, document) pairs as the model's tokenizer joins a pair; `token_type_ids`
    only for models that have them."""
    pairs = [(query, doc) for doc in documents]
    size = (len(query) + 1) * len(documents) + sum(map(len, documents))
    encoded = await run_cpu(size, lambda: model.tokenizer.encode_batch_fast(pairs, add_special_tokens=True))
    return [EmbedInput(_checked(model, enc.ids, f"{param}[{i}]"), text=doc,
                       token_type_ids=list(enc.type_ids) if model.kind.token_types else None,
                       texts=(query, doc))
            for i, (enc, doc) in enumerate(zip(encoded, documents, strict=True))]


def _request(item: EmbedInput, request_id: str, cross_encoder: bool) -> pb.EmbedRequest:
    req = pb.EmbedRequest(request_id=request_id, is_cross_encoder=cross_encoder)
    req.tokenized.original_text = item.text
    req.tokenized.input_ids.extend(item.ids)
    if item.token_type_ids is not None:
        req.token_type_ids.extend(item.token_type_ids)
    req.texts.extend(item.texts)
    return req


async def embed_all(target: EmbedTarget, items: Sequence[EmbedInput], request_id: str) -> list[pb.EmbedResponse]:
    """Every input's answer, in input order; the first failure (in input order) gives up
    the calls still open.

    One coroutine for the whole batch, no task per input: up to `EMBED_CONCURRENCY` calls
    are started, then answers are taken oldest first, each making room for the next call.
    Every `_SLICE` inputs it lets the loop run others (docs/performance.md: a wave of
    requests ready together otherwise sends all their calls in one loop pass).
    """
    cross = target.model.kind.task == "cross_encoder"
    answers: list[pb.EmbedResponse] = []
    window: deque[_Pending] = deque()
    try:
        for i, item in enumerate(items):
            if len(window) == EMBED_CONCURRENCY:
                answers.append(await window.popleft().answer())
            pending = _Pending(target, item, _request(item, f"{request_id}-{i}", cross))
            await pending.send()
            window.append(pending)
            if i % _SLICE == _SLICE - 1:
                await asyncio.sleep(0)
        while window:
            answers.append(await window.popleft().answer())
            if window and len(window) % _SLICE == 0:
                await asyncio.sleep(0)
    finally:
        for pending in window:
            pending.cancel()
    return answers


class _Pending:
    """One input's call: sent where the select stage says, retried on another worker while
    failures are retryable; `answer()` awaits it, `cancel()` gives it up."""

    __slots__ = ("_attempt", "_call", "_failed", "_request", "_selector", "_sent_at", "_settings", "_target",
                 "_worker_call")

    def __init__(self, target: EmbedTarget, item: EmbedInput, request: pb.EmbedRequest) -> None:
        route = RouteRequest(model=target.model.name, prompt_ids=item.ids, routing_key=target.routing_key)
        self._selector = Selector(target.pool, route, target.hooks)
        self._target = target
        self._settings = target.settings
        self._request = request
        self._failed: list[str] = []
        self._attempt = 0
        self._call: EmbedCall | None = None
        self._worker_call: WorkerCall | None = None
        self._sent_at = 0.0

    async def send(self) -> None:
        """Start the call on the worker the select stage picks (breakers refusing count as attempts)."""
        while (choice := await self._selector.choose(self._failed)) is None:
            self._attempt += 1
            if self._attempt > self._settings.max_retries:
                raise NoHealthyWorkerError(
                    f"every worker of model {self._target.model.name!r} has its circuit breaker open")
        worker = choice.worker
        self._worker_call = WorkerCall(worker)
        self._sent_at = time.perf_counter()
        self._call = worker.client.start_embed(self._request, timeout=self._settings.request_timeout)

    async def answer(self) -> pb.EmbedResponse:
        settings = self._settings
        while True:
            assert self._call is not None and self._worker_call is not None
            worker_call = self._worker_call
            breaker = worker_call.worker.breaker
            try:
                response = await self._call.answer()
            except WorkerError as err:
                record_outcome(breaker, err, since=worker_call.started)
                worker_call.end()
                if not err.retryable or self._attempt >= settings.max_retries:
                    raise
                self._failed.append(worker_call.worker.url)
                log.info("embed %s: retrying after %s", self._request.request_id, err.message)
                await asyncio.sleep(backoff_delay(settings, self._attempt))
                self._attempt += 1
                await self.send()
                continue
            except BaseException:
                self.cancel()
                raise
            worker_call.end()
            observe_stage("dispatch", time.perf_counter() - self._sent_at)
            if breaker is not None:
                breaker.record_success()
            return response

    def cancel(self) -> None:
        """Give the call up (another input failed, or the client left): the worker's stream
        is reset, the call no longer counted."""
        worker_call = self._worker_call
        if worker_call is None or not worker_call.open:
            return
        assert self._call is not None
        self._call.cancel()
        record_outcome(worker_call.worker.breaker, None)
        worker_call.end()
