"""Dispatch stage: send a prepared request to a worker and read its stream.

A `Generation` is one prepared request on the fleet. `open()` sends it where the select
stage (select.py) says and waits for its first message, retrying a retryable failure on
another worker while nothing has come back yet; after the first message a failure is
final. `step(message)` runs one message through the decode stage. `close()` is the one
place that ends the worker call (its `WorkerCall`, which owns the in-flight counts),
cancels it and, unless the stream ended normally, sends `Abort`; `open()` ends the calls
of attempts that failed. `deltas()` is the pulled form of the three; `server/push.py`
drives them from the connection's callback instead. `close()` may be called any number
of times, and at any point, even while `open()` waits: the request's ledger
(server/ledger.py) calls it when the request ends.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Any

from sglang_gw import metrics, tracing
from sglang_gw.errors import (
    NoHealthyWorkerError,
    WorkerError,
    WorkerUnavailableError,
)
from sglang_gw.metrics import ABORTS_TOTAL, RETRIES_TOTAL, observe_stage
from sglang_gw.model import ServedModel
from sglang_gw.pipeline.decode import PROMPT_TAIL, ChoiceDecoder
from sglang_gw.pipeline.pd import PrefillLeg, open_prefill, pair_requests
from sglang_gw.pipeline.select import Selector, WorkerChoice
from sglang_gw.pipeline.types import ChoiceDelta, PreparedRequest, Usage
from sglang_gw.plugins import HookRegistry
from sglang_gw.proto import sglang_scheduler_pb2 as pb
from sglang_gw.routing.base import RouteRequest
from sglang_gw.workers.breaker import record_outcome
from sglang_gw.workers.calls import WorkerCall
from sglang_gw.workers.client import GenerateStream
from sglang_gw.workers.pool import Worker, WorkerPool

__all__ = ["DispatchSettings", "Generation", "build_generate_request"]

log = logging.getLogger(__name__)
_background: set[asyncio.Task[None]] = set()


@dataclass(slots=True, frozen=True)
class DispatchSettings:
    """Built from `RetryConfig` (the --retry-* flags) at start-up; the defaults are its own."""

    request_timeout: float | None = 1800.0
    max_retries: int = 5
    backoff_initial: float = 0.05
    backoff_max: float = 30.0
    backoff_multiplier: float = 1.5
    jitter_factor: float = 0.2


# SamplingParams fields copied as they are from `SamplingSettings`.
_SCALAR_SAMPLING = ("temperature", "top_p", "top_k", "min_p", "frequency_penalty", "presence_penalty",
                    "repetition_penalty", "max_new_tokens", "skip_special_tokens", "spaces_between_special_tokens",
                    "n", "min_new_tokens", "ignore_eos", "no_stop_trim")


def build_generate_request(p: PreparedRequest, request_id: str) -> pb.GenerateRequest:
    # Filled in place: sub-messages passed to a constructor are copied, which was about
    # half of this function's cost (docs/performance.md, 2026-12-06).
    req = pb.GenerateRequest(request_id=request_id, stream=p.worker_stream)
    tokenized = req.tokenized
    tokenized.original_text = p.prompt_text
    tokenized.input_ids.extend(p.prompt_ids)
    s, sp = p.sampling, req.sampling_params
    for name in _SCALAR_SAMPLING:
        setattr(sp, name, getattr(s, name))
    sp.stop_token_ids.extend(s.stop_token_ids)
    if s.logit_bias:
        sp.logit_bias.update(s.logit_bias)
    if s.constraint is not None:
        setattr(sp, s.constraint[0], s.constraint[1])
    if s.stream_interval is not None:
        sp.stream_interval = s.stream_interval
    if s.seed is not None:
        # The scheduler proto has no seed field; SGLang reads custom params as a dict.
        sp.custom_params.update({"seed": s.seed})
    if p.logprobs is not None:
        req.return_logprob = True
        req.top_logprobs_num = p.logprobs.top_n
        req.logprob_start_len = 0 if p.logprobs.prompt else -1
    return req


def backoff_delay(settings: DispatchSettings, attempt: int) -> float:
    """Exponential backoff with ± jitter, so retrying clients do not arrive in lockstep."""
    base = min(settings.backoff_max, settings.backoff_initial * settings.backoff_multiplier ** attempt)
    return max(0.0, base * (1 + settings.jitter_factor * (2 * random.random() - 1)))


class Generation:
    """One prepared request on the fleet, as a stream of decoded choice deltas.

    `trace_id` is the client's request id (x-request-id), if any: the worker sees it as a
    prefix of `worker_request_id`, so logs on both sides join up, and the prepared
    request's own id after it, so two requests never share one.
    """

    def __init__(self, prepared: PreparedRequest, model: ServedModel, pool: WorkerPool,
                 settings: DispatchSettings, *, routing_key: str | None = None,
                 hooks: HookRegistry | None = None, lora: str | None = None, trace_id: str | None = None) -> None:
        self.prepared = prepared
        self.worker_request_id = f"{trace_id}-{prepared.request_id}" if trace_id else prepared.request_id
        self.route = RouteRequest(model=model.name, prompt_ids=prepared.prompt_ids, routing_key=routing_key,
                                  lora=lora)
        self.selector = Selector(pool, self.route, hooks)
        self._prefill: PrefillLeg | None = None
        self.model = model
        self.pool = pool
        self.settings = settings
        self.usage = Usage(prompt_tokens=len(prepared.prompt_ids))
        self.worker_url: str | None = None
        self.worker: Worker  # set by `open`, with the call's stream
        self.stream: GenerateStream
        self._call: WorkerCall | None = None  # the current attempt's call
        self._begun = self._ttft = self._decode_time = 0.0
        self._opened = self._closed = False
        self._first: pb.GenerateResponse | None = None  # kept by `open` for a `deltas()` after it
        # The request's trace (tracing.py), None when not traced: every span hook checks it.
        self.trace = tracing.current() if tracing.ENABLED else None
        self._decode_leg: Any = None  # PD's decode-leg span, while the leg runs
        tail = prepared.prompt_ids[-PROMPT_TAIL:]
        self._want_logprobs = want_lp = prepared.logprobs is not None
        self.decoders = [
            ChoiceDecoder(prepared.choice_offset + i, model.tokenizer, prepared.sampling, prepared.stops,
                          model.eos_token_ids, tail, want_logprobs=want_lp, keep_ids=prepared.keep_ids)
            for i in range(prepared.sampling.n)
        ]

    async def deltas(self) -> AsyncIterator[ChoiceDelta]:
        """The decoded deltas, pulled: `open`, then `step` per message, then `close`."""
        if self._opened:  # opened by the caller, who then chose to pull
            response, self._first = self._first, None
        else:
            response = await self.open()
        stream = self.stream
        failure: WorkerError | None = None
        try:
            while response is not None:
                delta = self.step(response)
                if delta is not None:
                    yield delta
                if self.prepared.stops and self.done_here():
                    return  # a stop string ended every choice: abort in close
                response = await stream.read()
        except WorkerError as err:
            failure = err
            raise
        finally:
            self.close(failure)

    async def open(self) -> pb.GenerateResponse | None:
        """Pick a worker and start the call; returns its first message. After this, a
        failure is final and `close` must be called, however the stream ends."""
        self._begun = time.perf_counter()
        first = await self._open(build_generate_request(self.prepared, self.worker_request_id))
        self._ttft = time.perf_counter() - self._begun
        self._opened = True
        self._first = first
        return first

    def step(self, response: pb.GenerateResponse) -> ChoiceDelta | None:
        """One worker message through the decode stage."""
        t0 = time.perf_counter()
        delta = self._handle(response)
        self._decode_time += time.perf_counter() - t0
        return delta

    def close(self, failure: WorkerError | None) -> None:
        """End the generation: its worker call is ended (freeing the worker's slot) and, if
        its stream did not end normally, torn down and aborted. `failure` is the worker
        error that ended it, if any. Only the first call counts."""
        if self._closed:
            return
        self._closed = True
        self._first = None
        call = self._call
        if call is None or not call.open:
            return  # never opened, or `open` already ended its last attempt
        if failure is not None:
            record_outcome(call.worker.breaker, failure, since=call.started)
        observe_stage("decode", self._decode_time)
        if self.trace is not None:
            self._trace_decode(failure)
        finished = self.stream.finished
        self._end_call(failure)
        if finished and failure is None:
            metrics.record_generation(prompt_tokens=len(self.prepared.prompt_ids),
                                      completion_tokens=self.completion_tokens(),
                                      total_seconds=time.perf_counter() - self._begun, ttft_seconds=self._ttft,
                                      cached_tokens=self.usage.cached_tokens)

    def _end_call(self, failure: WorkerError | None) -> None:
        """End the current attempt's call once; a stream the worker did not end normally
        is torn down and aborted."""
        call = self._call
        if call is None or not call.end():
            return
        if self._decode_leg is not None:
            leg, self._decode_leg = self._decode_leg, None
            tracing.end(leg, failure)
        if not self.stream.finished:
            self._abandon(call.worker, self.stream, failure)

    async def _open(self, request: pb.GenerateRequest) -> pb.GenerateResponse | None:
        """Send the request where the select stage says and wait for the first response,
        retrying retryable failures on another worker: nothing has reached the client
        yet, so a retry is invisible."""
        failed: list[str] = []
        trace = self.trace
        span = None  # the attempt's span, when traced
        for attempt in range(self.settings.max_retries + 1):
            if self._closed:  # its request ended while it waited to retry: nobody wants it now
                raise asyncio.CancelledError(f"request {self.prepared.request_id} ended")
            picked = time.time_ns() if trace is not None else 0
            choice = await self.selector.choose(failed)
            if trace is not None:
                span = self._trace_select(trace, picked, choice, attempt)
            if choice is None:
                continue  # the pick's breaker refused it: pick again
            worker = choice.worker
            self.worker_url = worker.url
            stream = self._send(choice, request, span)
            self.worker, self.stream, self._call = worker, stream, (call := WorkerCall(worker))
            started = time.perf_counter()
            try:
                first = await stream.read()
            except BaseException as err:
                # Closed meanwhile, the call was cancelled by us: not the worker's failure.
                failure = err if isinstance(err, WorkerError) and not self._closed else None
                record_outcome(worker.breaker, failure, since=call.started)
                if span is not None:
                    span.set_attribute("sglang_gw.retryable", bool(failure is not None and failure.retryable))
                    tracing.end(span, err)
                    trace.set(retries=attempt)  # type: ignore[union-attr]
                self._end_call(failure)
                if failure is None or not failure.retryable or attempt == self.settings.max_retries:
                    raise
                failed.append(worker.url)
                RETRIES_TOTAL.inc()
                log.info("request %s: retrying after %s", self.prepared.request_id, failure.message)
                await asyncio.sleep(backoff_delay(self.settings, attempt))
                continue
            observe_stage("dispatch", time.perf_counter() - started)
            if span is not None:
                trace.first_token_ns = time.time_ns()  # type: ignore[union-attr]
                span.end()
                trace.set(model=self.model.name, worker=worker.url, retries=attempt)  # type: ignore[union-attr]
            if worker.breaker is not None:
                worker.breaker.record_success()
            return first
        raise NoHealthyWorkerError(f"every worker of model {self.model.name!r} has its circuit breaker open")

    def _send(self, choice: WorkerChoice, request: pb.GenerateRequest, span: Any = None) -> GenerateStream:
        """Start the call on the chosen worker; disaggregated, the prefill leg goes out too.
        Traced, each call carries the `traceparent` of its span (`span`, or its PD leg's)."""
        timeout = self.settings.request_timeout
        if self.route.lora is not None:  # each worker has its own id for the adapter
            request.lora_id = choice.worker.adapters.get(self.route.lora, self.route.lora)
        trace = self.trace
        if choice.prefill is None:
            if span is None:
                return choice.worker.client.generate(request, timeout=timeout)
            return choice.worker.client.generate(request, timeout=timeout, metadata=trace.headers(span))  # type: ignore[union-attr]
        prefill_req, decode_req = pair_requests(request, choice.prefill)
        if span is None:
            self._prefill = open_prefill(choice.prefill, prefill_req, timeout)
            return choice.worker.client.generate(decode_req, timeout=timeout)
        assert trace is not None
        room = decode_req.disaggregated_params.bootstrap_room
        prefill_span = trace.child("pd.prefill", {"worker": choice.prefill.url, "bootstrap_room": room})
        self._prefill = open_prefill(choice.prefill, prefill_req, timeout, metadata=trace.headers(prefill_span))
        self._prefill.drain.add_done_callback(lambda _: prefill_span.end())
        self._decode_leg = trace.child("pd.decode", {"worker": choice.worker.url, "bootstrap_room": room})
        return choice.worker.client.generate(decode_req, timeout=timeout, metadata=trace.headers(self._decode_leg))

    def _trace_select(self, trace: tracing.RequestTrace, picked: int, choice: WorkerChoice | None,
                      attempt: int) -> Any:
        """The select stage's span, and the open span of the attempt it starts (None when
        the pick's breaker refused it)."""
        now = time.time_ns()
        if choice is None:
            trace.record("select", picked, now, {"attempt": attempt}, "circuit breaker refused the pick")
            return None
        prefill = choice.prefill.url if choice.prefill is not None else None
        trace.record("select", picked, now,
                     {"attempt": attempt, "worker": choice.worker.url, "prefill_worker": prefill})
        return trace.child("dispatch", {"attempt": attempt, "worker": choice.worker.url}, now)

    def _trace_decode(self, failure: WorkerError | None) -> None:
        """The decode stage's span (first token → now) and the request's token counts."""
        trace = self.trace
        assert trace is not None
        tokens = self.completion_tokens()
        reasons = [d.finish_reason or "" for d in self.decoders]
        now = time.time_ns()
        trace.record("decode", trace.first_token_ns or now, now,
                     {"busy_seconds": self._decode_time, "completion_tokens": tokens, "finish_reasons": reasons},
                     failure)
        trace.prompt_tokens += len(self.prepared.prompt_ids)
        trace.completion_tokens += tokens
        trace.set(finish_reason=reasons[0] if len(reasons) == 1 else ",".join(reasons))

    def _handle(self, response: pb.GenerateResponse) -> ChoiceDelta | None:
        """One worker message → the delta of the one choice it carries, if any."""
        kind = response.WhichOneof("response")
        if kind == "chunk":
            chunk = response.chunk
            decoder = self.decoders[chunk.index]
            self.usage.cached_tokens = max(self.usage.cached_tokens, chunk.cached_tokens)
            lp = chunk.output_logprobs if self._want_logprobs and chunk.HasField("output_logprobs") else None
            return decoder.on_tokens(chunk.token_ids, lp)
        if kind == "complete":
            done = response.complete
            self.usage.cached_tokens = max(self.usage.cached_tokens, done.cached_tokens)
            return self.decoders[done.index].on_complete(done)
        return None

    def done_here(self) -> bool:
        """Every choice is finished and a stop string the gateway matched ended one."""
        decoders = self.decoders
        return all(d.finished for d in decoders) and any(d.stopped_here for d in decoders)

    def completion_tokens(self) -> int:
        return sum(d.tokens for d in self.decoders)

    def _abandon(self, worker: Worker, stream: GenerateStream, failure: WorkerError | None) -> None:
        """Tear down a stream that did not end normally and free the worker's slot (in PD,
        both legs: the prefill worker may still hold the request's KV cache)."""
        stream.cancel()
        if self._prefill is not None:
            leg, self._prefill = self._prefill, None
            leg.stream.cancel()
            if not leg.stream.finished:
                self._spawn(self._abort(leg.worker, "pd_peer_ended"))
        if isinstance(failure, WorkerUnavailableError):
            return  # the worker is unreachable: nothing there to abort
        reason = "stop_string" if self.done_here() else ("worker_error" if failure else "client_gone")
        ABORTS_TOTAL.labels(reason).inc()
        self._spawn(self._abort(worker, reason))

    @staticmethod
    def _spawn(coro: Coroutine[Any, Any, None]) -> None:
        """Run an Abort in the background; kept referenced so it is not collected mid-flight."""
        task = asyncio.get_running_loop().create_task(coro)
        _background.add(task)
        task.add_done_callback(_background.discard)

    async def _abort(self, worker: Worker, reason: str) -> None:
        try:
            await worker.client.abort(self.worker_request_id, reason)
        except WorkerError as err:
            log.debug("abort of %s on %s failed: %s", self.prepared.request_id, worker.url, err.message)
