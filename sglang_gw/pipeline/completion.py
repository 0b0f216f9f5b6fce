"""Frame stage for /v1/completions: deltas → OpenAI text-completion chunks or one response."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec

from sglang_gw.api.protocol import CompletionRequest
from sglang_gw.metrics import observe_stage
from sglang_gw.model import ServedModel
from sglang_gw.pipeline.chat import SYSTEM_FINGERPRINT, usage_json
from sglang_gw.pipeline.logprobs import completion_logprobs
from sglang_gw.pipeline.types import ChoiceDelta, PreparedRequest, Usage

__all__ = ["CompletionResponder"]

_encode = msgspec.json.Encoder().encode


class CompletionResponder:
    def __init__(self, req: CompletionRequest, prepared: list[PreparedRequest], model: ServedModel) -> None:
        self.req = req
        self.model = model
        self.id = prepared[0].request_id.rsplit("-", 1)[0] if len(prepared) > 1 else prepared[0].request_id
        self.created = int(time.time())
        self.model_name = req.model or model.name
        self.choices = len(prepared) * req.n
        # Echo: each choice's text starts with its own prompt.
        self.prompts = [p.prompt_text for p in prepared for _ in range(req.n)]
        self.echo_pending = [req.echo] * self.choices
        self.offsets = [0] * self.choices
        self.top_n = req.logprobs or 0
        self.include_usage = bool(req.stream_options and req.stream_options.include_usage)
        self._frame_time = 0.0  # summed per token, observed once per request
        self._usage_of: Callable[[], Usage] = Usage  # the running usage: set by `start`

    def _text(self, delta: ChoiceDelta) -> str:
        i = delta.index
        if self.echo_pending[i]:
            self.echo_pending[i] = False
            return self.prompts[i] + delta.text
        return delta.text

    def _logprobs(self, delta: ChoiceDelta) -> dict[str, Any] | None:
        if delta.logprobs is None:
            return None
        lp = completion_logprobs(self.model.tokenizer, delta.logprobs, self.top_n, self.offsets[delta.index])
        return lp

    def _object(self, choices: list[dict[str, Any]], obj_usage: Usage | None, stream: bool) -> dict[str, Any]:
        obj: dict[str, Any] = {"id": self.id, "object": "text_completion", "created": self.created,
                               "model": self.model_name, "system_fingerprint": SYSTEM_FINGERPRINT, "choices": choices}
        if not stream or self.include_usage:
            obj["usage"] = usage_json(obj_usage) if obj_usage is not None else None
        return obj

    def start(self, usage_of: Callable[[], Usage]) -> bytes:
        self._usage_of = usage_of
        return b""

    def frames(self, delta: ChoiceDelta) -> bytes:
        t0 = time.perf_counter()
        text = self._text(delta)
        lp = self._logprobs(delta)
        self.offsets[delta.index] += len(text)
        body = b""
        if text or lp or delta.finish_reason:
            choice = {"index": delta.index, "text": text, "logprobs": lp, "finish_reason": delta.finish_reason}
            body = b"data: " + _encode(self._object([choice], None, True)) + b"\n\n"
        self._frame_time += time.perf_counter() - t0
        return body

    def tail(self) -> bytes:
        observe_stage("frame", self._frame_time)
        return b"data: " + _encode(self._object([], self._usage_of(), True)) + b"\n\n" if self.include_usage else b""

    async def complete(self, deltas: AsyncIterator[ChoiceDelta], usage_of: Callable[[], Usage]) -> dict[str, Any]:
        texts: list[list[str]] = [[] for _ in range(self.choices)]
        lps: list[dict[str, list[Any]] | None] = [None] * self.choices
        reasons: list[str | None] = [None] * self.choices
        async for delta in deltas:
            i = delta.index
            text = self._text(delta)
            lp = self._logprobs(delta)
            self.offsets[i] += len(text)
            texts[i].append(text)
            if lp is not None:
                lps[i] = lp if lps[i] is None else {k: lps[i][k] + lp[k] for k in lp}  # type: ignore[index]
            if delta.finish_reason is not None:
                reasons[i] = delta.finish_reason
        choices = [{"index": i, "text": "".join(texts[i]), "logprobs": lps[i], "finish_reason": reasons[i]}
                   for i in range(self.choices)]
        return self._object(choices, usage_of(), False)
