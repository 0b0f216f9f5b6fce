"""Prepare stage: an API request → `PreparedRequest`s (prompt ids + resolved sampling).

Chat renders the model's template then tokenizes; completions and /generate take text or
ids, one `PreparedRequest` per prompt of a batch. Large prompts are rendered and tokenized
in a background thread (pipeline/offload.py) so a 100k-token prompt never stalls the
event loop. Stop strings are checked first; a prompt whose size alone proves it longer than
the context is refused before it is tokenized (pipeline/sampling.py, `check_prompt_size`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sglang_gw.api.protocol import (
    ChatCompletionRequest,
    CompletionRequest,
    GenerateRequestBody,
    convert_native_sampling,
    prompt_batch,
)
from sglang_gw.errors import InvalidRequestError
from sglang_gw.ids import random_hex
from sglang_gw.metrics import time_stage
from sglang_gw.model import ServedModel
from sglang_gw.pipeline.offload import OFFLOAD_CHARS, OFFLOAD_PLAIN_CHARS, run_cpu
from sglang_gw.pipeline.parse import ParserPlan, plan_parsers
from sglang_gw.pipeline.sampling import (
    check_prompt_size,
    knobs_from_native,
    knobs_from_openai,
    resolve_sampling,
    stop_list,
)
from sglang_gw.pipeline.types import LogprobSpec, PreparedRequest
from sglang_gw.tokenizer.encoding import decode_ids

__all__ = ["new_id", "prepare_chat", "prepare_completion", "prepare_generate", "render_chat", "render_prompt",
           "run_for_chat"]

T = TypeVar("T")


def new_id(prefix: str) -> str:
    return f"{prefix}-{random_hex()}"


def _chat_size(req: ChatCompletionRequest) -> tuple[int, bool]:
    """The characters a chat brings, and whether they are all plain ASCII text."""
    contents = [m.get("content") or "" for m in req.messages]
    texts = [str(c) for c in contents] + ([str(req.tools)] if req.tools else [])
    plain = all(isinstance(c, str) for c in contents) and all(t.isascii() for t in texts)
    return sum(map(len, texts)), plain


def render_prompt(req: ChatCompletionRequest, model: ServedModel) -> str:
    """The prompt text of a chat request: the model's template applied to it."""
    kwargs: dict[str, Any] = dict(req.chat_template_kwargs or {})
    if req.reasoning_effort is not None:
        kwargs.setdefault("reasoning_effort", req.reasoning_effort)
    return model.require_template().render(
        req.messages, tools=req.tools,
        add_generation_prompt=req.add_generation_prompt and not req.continue_final_message,
        continue_final_message=req.continue_final_message, template_kwargs=kwargs,
    )


def render_chat(req: ChatCompletionRequest, model: ServedModel) -> tuple[str, list[int]]:
    """The prompt text and ids for a chat request (also used by `render` and /v1/tokenize)."""
    text = render_prompt(req, model)
    return text, model.encode(text)


async def run_for_chat(req: ChatCompletionRequest, model: ServedModel, fn: Callable[[], T]) -> T:
    """Run `fn`, the rendering and tokenizing of `req`, on the loop when the chat is small,
    in a background thread when it is large (pipeline/offload.py)."""
    size, plain = _chat_size(req)
    return await run_cpu(size, fn, limit=OFFLOAD_PLAIN_CHARS if plain and model.fast_plain_text else OFFLOAD_CHARS)


def _checked_chat(req: ChatCompletionRequest, model: ServedModel, max_tokens: int | None) -> tuple[str, list[int]]:
    text = render_prompt(req, model)
    check_prompt_size(model, text, max_tokens, param="messages")  # an over-long prompt is not tokenized
    return text, model.encode(text)


def _chat_logprobs(req: ChatCompletionRequest) -> LogprobSpec | None:
    if req.top_logprobs and not req.logprobs:
        raise InvalidRequestError("top_logprobs requires logprobs to be true", param="top_logprobs")
    return LogprobSpec(top_n=req.top_logprobs or 0) if req.logprobs else None


def _enable_thinking(req: ChatCompletionRequest) -> bool | None:
    kwargs = req.chat_template_kwargs or {}
    value = kwargs.get("enable_thinking", kwargs.get("thinking"))
    return value if isinstance(value, bool) else None


def _plan(req: ChatCompletionRequest, model: ServedModel, text: str) -> tuple[ParserPlan, tuple[str, str] | None]:
    return plan_parsers(
        reasoning_cls=model.reasoning_parser, tool_cls=model.tool_parser, tools=req.tools,
        tool_choice=req.tool_choice, parallel_tool_calls=req.parallel_tool_calls,
        separate_reasoning=req.separate_reasoning, stream_reasoning=req.stream_reasoning,
        prompt_text=text, enable_thinking=_enable_thinking(req),
    )


async def prepare_chat(req: ChatCompletionRequest, model: ServedModel) -> tuple[PreparedRequest, ParserPlan]:
    with time_stage("prepare"):
        max_tokens = req.max_completion_tokens if req.max_completion_tokens is not None else req.max_tokens
        stops = stop_list(req.stop, model.limits)
        text, ids = await run_for_chat(req, model, lambda: _checked_chat(req, model, max_tokens))
        plan, tool_constraint = _plan(req, model, text)
        knobs = knobs_from_openai(req, max_tokens)
        if tool_constraint is not None:
            if knobs["constraint"] is not None:
                raise InvalidRequestError("tool_choice and response_format cannot both constrain the output",
                                          param="tool_choice")
            knobs["constraint"] = tool_constraint
        sampling = resolve_sampling(knobs, model, len(ids))
        prepared = PreparedRequest(request_id=new_id("chatcmpl"), prompt_ids=ids, prompt_text=text,
                                   sampling=sampling, stops=stops, logprobs=_chat_logprobs(req),
                                   keep_ids=model.marker_ids(plan.markers()),
                                   worker_stream=req.stream or bool(req.stop))
        return prepared, plan


def _prompt_pair(prompt: str | list[int], model: ServedModel, max_tokens: int | None,
                 param: str) -> tuple[str, list[int]]:
    if isinstance(prompt, str):
        if not prompt:
            raise InvalidRequestError("prompt must not be empty", param="prompt")
        check_prompt_size(model, prompt, max_tokens, param=param)  # an over-long prompt is not tokenized
        return prompt, model.encode(prompt, add_special_tokens=True)
    return decode_ids(model.tokenizer, prompt, skip_special_tokens=False), list(prompt)


async def prepare_completion(req: CompletionRequest, model: ServedModel) -> list[PreparedRequest]:
    if req.suffix:
        raise InvalidRequestError("suffix is not supported", param="suffix")
    if req.best_of is not None and req.best_of != req.n:
        raise InvalidRequestError("best_of other than n is not supported", param="best_of")
    with time_stage("prepare"):
        prompts = prompt_batch(req.prompt, "prompt", model.vocab_size)
        stops = stop_list(req.stop, model.limits)
        size = sum(len(p) for p in prompts)
        pairs = await run_cpu(size, lambda: [_prompt_pair(p, model, req.max_tokens, "prompt") for p in prompts])
        logprobs = LogprobSpec(top_n=req.logprobs, prompt=req.echo) if req.logprobs is not None else None
        base = new_id("cmpl")
        out = []
        for i, (text, ids) in enumerate(pairs):
            sampling = resolve_sampling(knobs_from_openai(req, req.max_tokens), model, len(ids))
            out.append(PreparedRequest(request_id=base if len(pairs) == 1 else f"{base}-{i}", prompt_ids=ids,
                                       prompt_text=text, sampling=sampling, stops=stops,
                                       logprobs=logprobs, choice_offset=i * req.n,
                                       worker_stream=req.stream or bool(req.stop)))
        return out


async def prepare_generate(body: GenerateRequestBody, model: ServedModel) -> list[PreparedRequest]:
    if (body.text is None) == (body.input_ids is None):
        raise InvalidRequestError("give exactly one of `text` or `input_ids`", param="text")
    with time_stage("prepare"):
        param = "text" if body.text is not None else "input_ids"
        prompts = prompt_batch(body.text if body.text is not None else body.input_ids, param, model.vocab_size)
        sp = convert_native_sampling(body.sampling_params)
        stops = stop_list(sp.stop, model.limits, param="sampling_params.stop")
        pairs = await run_cpu(sum(len(p) for p in prompts),
                              lambda: [_prompt_pair(p, model, sp.max_new_tokens, param) for p in prompts])
        logprobs = LogprobSpec(top_n=body.top_logprobs_num, prompt=body.logprob_start_len >= 0) \
            if body.return_logprob else None
        base = body.rid or new_id("gen")
        return [
            PreparedRequest(request_id=base if len(pairs) == 1 else f"{base}-{i}", prompt_ids=ids, prompt_text=text,
                            sampling=resolve_sampling(knobs_from_native(sp), model, len(ids)),
                            stops=stops, logprobs=logprobs, choice_offset=i * sp.n,
                            worker_stream=body.stream or bool(sp.stop))
            for i, (text, ids) in enumerate(pairs)
        ]
