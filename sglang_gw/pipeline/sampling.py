"""Resolve a request's sampling knobs into complete `SamplingSettings`.

Order of precedence: the request, then the worker's defaults (GetModelInfo), then
SGLang's own defaults — never proto3 zeros. The context-length check lives here because
it needs both the prompt length and the resolved `max_tokens`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sglang_gw.api.protocol import (
    NativeSamplingParams,
    ResponseFormat,
    SamplingFields,
)
from sglang_gw.api.validation import check_logit_bias
from sglang_gw.config import RequestLimits
from sglang_gw.errors import ContextLengthExceededError, InvalidRequestError
from sglang_gw.model import ServedModel
from sglang_gw.pipeline.types import SamplingSettings

__all__ = ["MAX_STOPS", "check_prompt_size", "knobs_from_native", "knobs_from_openai", "resolve_sampling",
           "stop_list"]

MAX_STOPS = 32
_FLOATS = ("temperature", "top_p", "min_p", "frequency_penalty", "presence_penalty", "repetition_penalty")


def stop_list(stop: str | list[str] | None, limits: RequestLimits, *, param: str = "stop") -> tuple[str, ...]:
    """The request's stop strings, refused (400 naming `param`) past the count and size limits."""
    if stop is None:
        return ()
    stops = (stop,) if isinstance(stop, str) else tuple(stop)
    if len(stops) > MAX_STOPS:
        raise InvalidRequestError(f"at most {MAX_STOPS} stop sequences are allowed", param=param)
    total = 0
    for s in stops:
        size = len(s) if s.isascii() else len(s.encode("utf-8", "surrogatepass"))
        if size > limits.max_stop_bytes:
            raise InvalidRequestError(f"a stop sequence may be at most {limits.max_stop_bytes} bytes long; "
                                      f"one has {size}", param=param)
        total += size
    if total > limits.max_total_stop_bytes:
        raise InvalidRequestError(f"the stop sequences may be at most {limits.max_total_stop_bytes} bytes "
                                  f"together; these have {total}", param=param)
    return tuple(s for s in stops if s)  # an empty stop would match everywhere


def _constraint(fmt: ResponseFormat | None, regex: str | None, ebnf: str | None,
                json_schema: str | None = None) -> tuple[str, str] | None:
    found: list[tuple[str, str]] = []
    if fmt is not None and fmt.type == "json_object":
        found.append(("json_schema", '{"type": "object"}'))
    elif fmt is not None and fmt.type == "json_schema":
        if fmt.json_schema is None or fmt.json_schema.schema is None:
            raise InvalidRequestError("response_format json_schema needs json_schema.schema",
                                      param="response_format.json_schema")
        found.append(("json_schema", json.dumps(fmt.json_schema.schema, ensure_ascii=False)))
    if json_schema:
        found.append(("json_schema", json_schema))
    if regex:
        found.append(("regex", regex))
    if ebnf:
        found.append(("ebnf_grammar", ebnf))
    if len(found) > 1:
        raise InvalidRequestError("use only one of response_format, regex, ebnf", param="response_format")
    return found[0] if found else None


def knobs_from_openai(req: SamplingFields, max_tokens: int | None) -> dict[str, Any]:
    knobs = {name: getattr(req, name) for name in _FLOATS}
    knobs.update(
        top_k=req.top_k, max_tokens=max_tokens, min_tokens=req.min_tokens, n=req.n, seed=req.seed,
        logit_bias=req.logit_bias, logit_bias_param="logit_bias", stop_token_ids=req.stop_token_ids,
        ignore_eos=req.ignore_eos, skip_special_tokens=req.skip_special_tokens, no_stop_trim=req.no_stop_trim,
        spaces_between_special_tokens=req.spaces_between_special_tokens, stream_interval=req.stream_interval,
        constraint=_constraint(req.response_format, req.regex, req.ebnf),
    )
    return knobs


def knobs_from_native(sp: NativeSamplingParams) -> dict[str, Any]:
    knobs = {name: getattr(sp, name) for name in _FLOATS}
    knobs.update(
        top_k=sp.top_k, max_tokens=sp.max_new_tokens, min_tokens=sp.min_new_tokens, n=sp.n,
        seed=sp.sampling_seed, logit_bias=sp.logit_bias, logit_bias_param="sampling_params.logit_bias",
        stop_token_ids=sp.stop_token_ids, ignore_eos=sp.ignore_eos, skip_special_tokens=sp.skip_special_tokens,
        no_stop_trim=sp.no_stop_trim,
        spaces_between_special_tokens=sp.spaces_between_special_tokens, stream_interval=sp.stream_interval,
        constraint=_constraint(None, sp.regex, sp.ebnf, sp.json_schema),
    )
    return knobs


def _max_new_tokens(model: ServedModel, prompt_len: int, max_tokens: int | None) -> int:
    limit = model.context_length
    if prompt_len >= limit:
        raise ContextLengthExceededError(
            f"This model's maximum context length is {limit} tokens, but the prompt has {prompt_len} tokens.",
            param="messages")
    if max_tokens is None:
        return limit - prompt_len
    if prompt_len + max_tokens > limit:
        raise ContextLengthExceededError(
            f"This model's maximum context length is {limit} tokens. However, you requested "
            f"{prompt_len + max_tokens} tokens ({prompt_len} in the prompt, {max_tokens} for the completion). "
            "Please reduce the prompt or max_tokens.", param="max_tokens")
    return max_tokens


def check_prompt_size(model: ServedModel, text: str, max_tokens: int | None, *, param: str) -> None:
    """Refuse, before it is tokenized, a prompt whose size alone proves that `_max_new_tokens`
    would refuse it (tokenizer/token_bound.py); in doubt, let the tokenized count decide."""
    bound, limit = model.token_bound, model.context_length
    # The shortest prompt `_max_new_tokens` refuses: `limit` tokens, fewer with max_tokens.
    refused_from = limit if max_tokens is None else max(1, min(limit, limit - max_tokens + 1))
    if bound is None or not bound.may_reach(text, refused_from):
        return
    least = bound.min_tokens(text)
    if least >= limit:
        raise ContextLengthExceededError(
            f"This model's maximum context length is {limit} tokens, but the prompt has at least {least} tokens.",
            param=param)
    if least >= refused_from:
        assert max_tokens is not None
        raise ContextLengthExceededError(
            f"This model's maximum context length is {limit} tokens. However, you requested at least "
            f"{least + max_tokens} tokens (at least {least} in the prompt, {max_tokens} for the completion). "
            "Please reduce the prompt or max_tokens.", param="max_tokens")


def _logit_bias(model: ServedModel, bias: Mapping[str, float] | None, param: str) -> tuple[tuple[str, float], ...]:
    if not bias:
        return ()
    check_logit_bias(bias, model.vocab_size, param)
    return tuple(sorted(bias.items()))


def resolve_sampling(knobs: Mapping[str, Any], model: ServedModel, prompt_len: int) -> SamplingSettings:
    defaults = model.sampling_defaults
    value = {name: knobs[name] if knobs[name] is not None else defaults[name] for name in (*_FLOATS, "top_k")}
    return SamplingSettings(
        temperature=float(value["temperature"]), top_p=float(value["top_p"]), top_k=int(value["top_k"]),
        min_p=float(value["min_p"]), frequency_penalty=float(value["frequency_penalty"]),
        presence_penalty=float(value["presence_penalty"]), repetition_penalty=float(value["repetition_penalty"]),
        max_new_tokens=_max_new_tokens(model, prompt_len, knobs["max_tokens"]),
        min_new_tokens=knobs["min_tokens"], n=knobs["n"],
        stop_token_ids=tuple(knobs["stop_token_ids"] or ()), ignore_eos=knobs["ignore_eos"],
        skip_special_tokens=knobs["skip_special_tokens"], no_stop_trim=knobs["no_stop_trim"],
        spaces_between_special_tokens=knobs["spaces_between_special_tokens"], seed=knobs["seed"],
        logit_bias=_logit_bias(model, knobs["logit_bias"], knobs["logit_bias_param"]), constraint=knobs["constraint"],
        stream_interval=knobs["stream_interval"],
    )
