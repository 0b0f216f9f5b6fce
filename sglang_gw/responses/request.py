"""The /v1/responses request body, validated at the edge with msgspec.

The body is decoded into `ResponsesRequest`; `input` items and `tools` are then converted
one by one (items.py, `function_tools`) so that an error names its field as OpenAI does:
`input[3].content[0].type`, `tools[1].type`. Unknown fields are ignored, as elsewhere.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from sglang_gw.api.protocol import MAX_MESSAGES, MAX_TOOLS, TopLogprobs, UInt32
from sglang_gw.api.validation import error_param
from sglang_gw.errors import InvalidRequestError

__all__ = ["INCLUDABLE", "LOGPROBS_INCLUDE", "FunctionTool", "ResponsesRequest", "TextFormat", "function_tools",
           "tool_choice_for_chat"]

LOGPROBS_INCLUDE = "message.output_text.logprobs"
# What `include` may name. Only the logprobs change the answer; the others are accepted
# because clients send them by default, and there is nothing of theirs to include here.
INCLUDABLE = frozenset({LOGPROBS_INCLUDE, "reasoning.encrypted_content", "message.input_image.image_url"})
MAX_METADATA_KEYS = 16


class TextFormat(msgspec.Struct, kw_only=True):
    type: Literal["text", "json_object", "json_schema"] = "text"
    name: str | None = None
    schema: dict[str, Any] | None = None
    strict: bool | None = None
    description: str | None = None


class TextConfig(msgspec.Struct, kw_only=True):
    format: TextFormat | None = None
    verbosity: str | None = None


class ReasoningConfig(msgspec.Struct, kw_only=True):
    effort: Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"] | None = None  # the SDK's values
    summary: str | None = None


class ConversationRef(msgspec.Struct, kw_only=True):
    id: Annotated[str, Meta(min_length=1)]


class FunctionTool(msgspec.Struct, kw_only=True):
    type: Literal["function"]
    name: Annotated[str, Meta(min_length=1)]
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ResponsesRequest(msgspec.Struct, kw_only=True):
    model: str = ""
    input: str | Annotated[list[dict[str, Any]], Meta(max_length=MAX_MESSAGES)] = ""
    instructions: str | None = None
    previous_response_id: Annotated[str, Meta(min_length=1)] | None = None
    conversation: Annotated[str, Meta(min_length=1)] | ConversationRef | None = None
    store: bool = True
    stream: bool = False
    background: bool = False
    tools: Annotated[list[dict[str, Any]], Meta(max_length=MAX_TOOLS)] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool = True
    max_output_tokens: Annotated[int, Meta(ge=1, le=2**32 - 1)] | None = None
    max_tool_calls: UInt32 | None = None
    temperature: Annotated[float, Meta(ge=0.0, le=2.0)] | None = None
    top_p: Annotated[float, Meta(gt=0.0, le=1.0)] | None = None
    top_logprobs: TopLogprobs | None = None
    text: TextConfig | None = None
    reasoning: ReasoningConfig | None = None
    metadata: dict[str, Annotated[str, Meta(max_length=512)]] | None = None
    user: str | None = None
    truncation: Literal["auto", "disabled"] = "disabled"
    include: list[str] | None = None

    def __post_init__(self) -> None:
        if self.previous_response_id is not None and self.conversation is not None:
            raise InvalidRequestError("give either `previous_response_id` or `conversation`, not both",
                                      param="previous_response_id")
        if self.background and not self.store:
            raise InvalidRequestError("a background response must be stored: `background` needs `store` true",
                                      param="background")
        if self.background and self.stream:
            raise InvalidRequestError("streaming a background response is not supported here", param="stream")
        for i, name in enumerate(self.include or ()):
            if name not in INCLUDABLE:
                valid = ", ".join(sorted(INCLUDABLE))
                raise InvalidRequestError(f"`include` cannot name {name[:80]!r}; valid: {valid}",
                                          param=f"include[{i}]")
        if self.metadata is not None:
            _check_metadata(self.metadata)
        if isinstance(self.input, str) and not self.input and self.previous_response_id is None \
                and self.conversation is None:
            raise InvalidRequestError("`input` is required", param="input")

    @property
    def conversation_id(self) -> str | None:
        conv = self.conversation
        return conv.id if isinstance(conv, ConversationRef) else conv

    @property
    def wants_logprobs(self) -> bool:
        return LOGPROBS_INCLUDE in (self.include or ())


def _check_metadata(metadata: dict[str, str]) -> None:
    if len(metadata) > MAX_METADATA_KEYS:
        raise InvalidRequestError(f"`metadata` may hold at most {MAX_METADATA_KEYS} keys", param="metadata")
    for key in metadata:
        if len(key) > 64:
            raise InvalidRequestError("`metadata` keys may be at most 64 characters long", param="metadata")


def function_tools(tools: list[dict[str, Any]] | None) -> list[FunctionTool]:
    """The request's function tools (400 naming `tools[i].type` for a type not served);
    `mcp` tools are checked and run by the MCP loop (mcp/servers.py, mcp_loop.py)."""
    out = []
    for i, tool in enumerate(tools or ()):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind == "mcp":
            continue
        if kind != "function":
            raise InvalidRequestError(f"tool type {str(kind)[:40]!r} is not supported; only `function` and `mcp` "
                                      "tools are", param=f"tools[{i}].type")
        try:
            out.append(msgspec.convert(tool, FunctionTool))
        except msgspec.ValidationError as err:
            raise InvalidRequestError(f"invalid tool: {err}", param=error_param(err, f"tools[{i}]")) from None
    return out


def tool_choice_for_chat(choice: str | dict[str, Any] | None, tools: list[FunctionTool],
                         mcp_tools: list[dict[str, Any]] | None = None) -> str | dict[str, Any] | None:
    """Responses' `tool_choice` in chat completions' shape (`{"type":"function","name"}` →
    `{"type":"function","function":{"name"}}`); checked against the tools."""
    if choice is None or isinstance(choice, str):
        if choice not in (None, "none", "auto", "required"):
            raise InvalidRequestError(f"`tool_choice` must be none, auto, required or a function; got {choice[:40]!r}",
                                      param="tool_choice")
        return choice
    if choice.get("type") == "mcp":  # an MCP server's tool: checked and forced by the MCP loop (mcp_loop.py)
        if not any(isinstance(t, dict) and t.get("type") == "mcp" for t in mcp_tools or ()):
            raise InvalidRequestError("`tool_choice` names an mcp tool, but `tools` has no mcp server",
                                      param="tool_choice")
        return None
    name = choice.get("name")
    if choice.get("type") != "function" or not isinstance(name, str):
        raise InvalidRequestError("`tool_choice` must be none, auto, required or {type: function, name}",
                                  param="tool_choice")
    if name not in {t.name for t in tools}:
        raise InvalidRequestError(f"`tool_choice` names {name[:64]!r}, which is not in `tools`", param="tool_choice")
    return {"type": "function", "function": {"name": name}}
