"""Request schemas of the HTTP API, validated at the edge by msgspec.

Bodies are decoded straight from bytes into these structs; a type or range error becomes a
400 naming the offending field (`param`). Unknown fields are ignored, as OpenAI-compatible
servers do, so clients that send extras keep working. Every number a worker receives is
bounded here by its field's type in the scheduler proto (int32, uint32), so no value can
fail later while the request is being built; checks that need the model (token ids against
its vocabulary) are in api/validation.py.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from sglang_gw.api.validation import check_json_depth, check_token_ids, check_tool_choice, check_tools, error_param
from sglang_gw.errors import InvalidRequestError

__all__ = [
    "ChatCompletionRequest",
    "CompletionRequest",
    "DetokenizeRequest",
    "GenerateRequestBody",
    "ResponseFormat",
    "SamplingFields",
    "StreamOptions",
    "NativeSamplingParams",
    "TokenizeRequest",
    "convert_native_sampling",
    "decode_body",
    "prompt_batch",
]

MAX_N = 128
MAX_TOP_LOGPROBS = 20
INT32_MAX = 2**31 - 1
UINT32_MAX = 2**32 - 1
FLOAT32_MAX = 3.4028234663852886e38  # larger floats reach the worker as infinity
Int32 = Annotated[int, Meta(ge=-(2**31), le=INT32_MAX)]
UInt32 = Annotated[int, Meta(ge=0, le=UINT32_MAX)]
Int64 = Annotated[int, Meta(ge=-(2**63), le=2**63 - 1)]  # OpenAI's `seed`; sent in a Struct, as a double
TopK = Annotated[int, Meta(ge=-1, le=INT32_MAX)]
StreamInterval = Annotated[int, Meta(ge=1, le=INT32_MAX)]  # tokens per worker message (SGLang)
TopLogprobs = Annotated[int, Meta(ge=0, le=MAX_TOP_LOGPROBS)]
Penalty = Annotated[float, Meta(ge=-2.0, le=2.0)]
Bias = Annotated[float, Meta(ge=-100.0, le=100.0)]


class StreamOptions(msgspec.Struct, kw_only=True):
    include_usage: bool = False
    continuous_usage_stats: bool = False


class JsonSchemaSpec(msgspec.Struct, kw_only=True):
    name: str = "schema"
    schema: dict[str, Any] | None = None
    strict: bool | None = None
    description: str | None = None


class ResponseFormat(msgspec.Struct, kw_only=True):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaSpec | None = None


class SamplingFields(msgspec.Struct, kw_only=True):
    """Sampling knobs shared by chat and completions (OpenAI names plus SGLang/vLLM extras)."""

    model: str = ""
    temperature: Annotated[float, Meta(ge=0.0, le=2.0)] | None = None
    top_p: Annotated[float, Meta(gt=0.0, le=1.0)] | None = None
    top_k: TopK | None = None
    min_p: Annotated[float, Meta(ge=0.0, le=1.0)] | None = None
    frequency_penalty: Penalty | None = None
    presence_penalty: Penalty | None = None
    repetition_penalty: Annotated[float, Meta(gt=0.0, le=2.0)] | None = None
    max_tokens: UInt32 | None = None
    min_tokens: UInt32 = 0
    n: Annotated[int, Meta(ge=1, le=MAX_N)] = 1
    seed: Int64 | None = None
    logit_bias: dict[str, Bias] | None = None  # keys checked against the vocabulary (api/validation.py)
    stop: str | list[str] | None = None
    stop_token_ids: list[UInt32] | None = None
    ignore_eos: bool = False
    skip_special_tokens: bool = True
    spaces_between_special_tokens: bool = True
    no_stop_trim: bool = False
    stream_interval: StreamInterval | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    response_format: ResponseFormat | None = None
    regex: str | None = None
    ebnf: str | None = None
    user: str | None = None
    lora_path: str | None = None  # a LoRA adapter's name (or `model: "base:adapter"`)


MAX_MESSAGES = 4096
MAX_TOOLS = 512


class ChatCompletionRequest(SamplingFields, kw_only=True):
    messages: Annotated[list[dict[str, Any]], Meta(min_length=1, max_length=MAX_MESSAGES)]
    max_completion_tokens: UInt32 | None = None
    logprobs: bool = False
    top_logprobs: TopLogprobs | None = None
    tools: Annotated[list[dict[str, Any]], Meta(max_length=MAX_TOOLS)] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    add_generation_prompt: bool = True
    continue_final_message: bool = False
    chat_template_kwargs: dict[str, Any] | None = None
    reasoning_effort: str | None = None
    separate_reasoning: bool = True
    stream_reasoning: bool = True

    def __post_init__(self) -> None:
        # Before any template prints the tools into the prompt.
        check_tools(self.tools)
        check_tool_choice(self.tool_choice, self.tools)


# A text, a list of texts, token ids, or a list of token-id lists; msgspec cannot tell
# lists apart inside one union, so the shape (and the ids) are checked in `prompt_batch`.
PromptType = str | list[Any]


class CompletionRequest(SamplingFields, kw_only=True):
    prompt: PromptType
    max_tokens: UInt32 | None = 16  # OpenAI's default for /v1/completions
    echo: bool = False
    logprobs: TopLogprobs | None = None
    suffix: str | None = None
    best_of: Annotated[int, Meta(ge=1, le=MAX_N)] | None = None


class GenerateRequestBody(msgspec.Struct, kw_only=True):
    """SGLang's native /generate (one prompt or a batch)."""

    text: str | list[str] | None = None
    input_ids: list[Any] | None = None  # ids or a batch of id lists; see `prompt_batch`
    sampling_params: dict[str, Any] | None = None
    stream: bool = False
    return_logprob: bool = False
    top_logprobs_num: TopLogprobs = 0  # as OpenAI's top_logprobs
    logprob_start_len: Int32 = -1
    rid: str | None = None
    model: str = ""
    lora_path: str | None = None  # a LoRA adapter's name


class TokenizeRequest(msgspec.Struct, kw_only=True):
    model: str = ""
    prompt: str | None = None
    messages: list[dict[str, Any]] | None = None
    add_special_tokens: bool = True
    add_generation_prompt: bool = True
    tools: list[dict[str, Any]] | None = None
    chat_template_kwargs: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        check_tools(self.tools)


class DetokenizeRequest(msgspec.Struct, kw_only=True):
    model: str = ""
    tokens: list[int]  # checked against the vocabulary, where the model is known
    skip_special_tokens: bool = True


def _token_ids(value: Any, vocab_size: int, param: str) -> bool:
    """Whether ``value`` is a list of token ids; ints outside the vocabulary are refused."""
    if not isinstance(value, list) or not value or not all(type(t) is int for t in value):
        return False
    check_token_ids(value, vocab_size, param)
    return True


def prompt_batch(prompt: Any, param: str, vocab_size: int) -> list[str | list[int]]:
    """Normalise a completions/generate prompt to a batch of texts or id lists."""
    if isinstance(prompt, str):
        return [prompt]
    if _token_ids(prompt, vocab_size, param):
        return [prompt]
    if isinstance(prompt, list) and prompt and all(isinstance(p, str) or _token_ids(p, vocab_size, param)
                                                   for p in prompt):
        return list(prompt)
    raise InvalidRequestError(
        f"`{param}` must be a string, a list of strings, a list of token ids, or a list of token-id lists",
        param=param,
    )


def decode_body(body: bytes, schema: type[msgspec.Struct]) -> Any:
    """Decode and validate a JSON body; errors carry the field path as `param`."""
    if not body:
        raise InvalidRequestError("request body is empty; expected a JSON object")
    check_json_depth(body)
    try:
        return msgspec.json.decode(body, type=schema)
    except msgspec.ValidationError as err:
        raise InvalidRequestError(f"invalid request: {err}", param=error_param(err)) from None
    except msgspec.DecodeError as err:
        raise InvalidRequestError(f"invalid JSON body: {err}") from None


class NativeSamplingParams(msgspec.Struct, kw_only=True):
    """`sampling_params` of SGLang's /generate, with SGLang's names and defaults."""

    max_new_tokens: UInt32 | None = 128
    min_new_tokens: UInt32 = 0
    temperature: Annotated[float, Meta(ge=0.0, le=FLOAT32_MAX)] | None = None
    top_p: Annotated[float, Meta(gt=0.0, le=1.0)] | None = None
    top_k: TopK | None = None
    min_p: Annotated[float, Meta(ge=0.0, le=1.0)] | None = None
    frequency_penalty: Penalty | None = None
    presence_penalty: Penalty | None = None
    repetition_penalty: Annotated[float, Meta(gt=0.0, le=2.0)] | None = None
    stop: str | list[str] | None = None
    stop_token_ids: list[UInt32] | None = None
    ignore_eos: bool = False
    skip_special_tokens: bool = True
    spaces_between_special_tokens: bool = True
    no_stop_trim: bool = False
    n: Annotated[int, Meta(ge=1, le=MAX_N)] = 1
    regex: str | None = None
    json_schema: str | None = None
    ebnf: str | None = None
    logit_bias: dict[str, Bias] | None = None
    sampling_seed: Int64 | None = None
    stream_interval: StreamInterval | None = None


def convert_native_sampling(params: dict[str, Any] | None) -> NativeSamplingParams:
    try:
        return msgspec.convert(params or {}, NativeSamplingParams)
    except msgspec.ValidationError as err:
        raise InvalidRequestError(f"invalid sampling_params: {err}",
                                  param=error_param(err, "sampling_params")) from None
