"""The /v1/messages request body (Anthropic's Messages API), validated at the edge with msgspec.

Content blocks are tagged structs, so an unknown block type, a missing field or a wrong type
is a 400 naming its place (`$.messages[2].content[0].type`). Unknown fields are ignored
(`cache_control`, `citations`, …), as elsewhere. Checks that span fields (a thinking budget
below `max_tokens`, `tool_choice` naming one of `tools`) run in `__post_init__`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from sglang_gw.api.protocol import INT32_MAX, MAX_MESSAGES, MAX_TOOLS, UINT32_MAX
from sglang_gw.errors import InvalidRequestError

__all__ = ["Block", "CountTokensRequest", "MessageParam", "MessagesRequest", "TextBlock", "ThinkingBlock",
           "ToolResultBlock", "ToolUseBlock"]

MAX_STOP_SEQUENCES = 32


class TextBlock(msgspec.Struct, tag_field="type", tag="text"):
    text: str


class ToolUseBlock(msgspec.Struct, tag_field="type", tag="tool_use"):
    id: Annotated[str, Meta(min_length=1)]
    name: Annotated[str, Meta(min_length=1)]
    input: dict[str, Any]


class ToolResultBlock(msgspec.Struct, tag_field="type", tag="tool_result", kw_only=True):
    tool_use_id: Annotated[str, Meta(min_length=1)]
    content: str | list[TextBlock] = ""
    is_error: bool = False


class ThinkingBlock(msgspec.Struct, tag_field="type", tag="thinking", kw_only=True):
    thinking: str
    signature: str = ""


class RedactedThinkingBlock(msgspec.Struct, tag_field="type", tag="redacted_thinking"):
    data: str


Block = TextBlock | ToolUseBlock | ToolResultBlock | ThinkingBlock | RedactedThinkingBlock


class MessageParam(msgspec.Struct, kw_only=True):
    role: Literal["user", "assistant"]
    content: str | list[Block]


class Tool(msgspec.Struct, kw_only=True):
    name: Annotated[str, Meta(min_length=1, max_length=128)]
    input_schema: dict[str, Any]
    description: str | None = None
    # Only client tools run here; Anthropic's server tools (`bash_…`, `web_search_…`) do not.
    type: Literal["custom"] | None = None


class _Choice(msgspec.Struct, tag_field="type", kw_only=True):
    disable_parallel_tool_use: bool = False


class ChoiceAuto(_Choice, tag="auto"):
    pass


class ChoiceAny(_Choice, tag="any"):
    pass


class ChoiceTool(_Choice, tag="tool"):
    name: Annotated[str, Meta(min_length=1)]


class ChoiceNone(msgspec.Struct, tag_field="type", tag="none"):
    pass


ToolChoice = ChoiceAuto | ChoiceAny | ChoiceTool | ChoiceNone


class ThinkingEnabled(msgspec.Struct, tag_field="type", tag="enabled"):
    budget_tokens: Annotated[int, Meta(ge=1024, le=UINT32_MAX)]


class ThinkingAdaptive(msgspec.Struct, tag_field="type", tag="adaptive"):
    pass


class ThinkingDisabled(msgspec.Struct, tag_field="type", tag="disabled"):
    pass


Thinking = ThinkingEnabled | ThinkingAdaptive | ThinkingDisabled


class Metadata(msgspec.Struct, kw_only=True):
    user_id: Annotated[str, Meta(max_length=256)] | None = None


class CountTokensRequest(msgspec.Struct, kw_only=True):
    """What decides the prompt: the body of /v1/messages/count_tokens, and the base of a request."""

    model: str = ""
    messages: Annotated[list[MessageParam], Meta(min_length=1, max_length=MAX_MESSAGES)]
    system: str | list[TextBlock] | None = None
    tools: Annotated[list[Tool], Meta(max_length=MAX_TOOLS)] | None = None
    tool_choice: ToolChoice | None = None
    thinking: Thinking | None = None

    def __post_init__(self) -> None:
        choice = self.tool_choice
        if isinstance(choice, ChoiceAny | ChoiceTool) and not self.tools:
            raise InvalidRequestError(f"tool_choice.type {choice.__struct_config__.tag!r} requires `tools`",
                                      param="tool_choice")
        if isinstance(choice, ChoiceTool) and choice.name not in {t.name for t in self.tools or ()}:
            raise InvalidRequestError(f"tool_choice names {choice.name[:64]!r}, which is not in `tools`",
                                      param="tool_choice.name")
        names = [t.name for t in self.tools or ()]
        if len(set(names)) != len(names):
            raise InvalidRequestError("tool names must be unique", param="tools")


class MessagesRequest(CountTokensRequest, kw_only=True):
    max_tokens: Annotated[int, Meta(ge=1, le=UINT32_MAX)]
    stop_sequences: Annotated[list[str], Meta(max_length=MAX_STOP_SEQUENCES)] | None = None
    stream: bool = False
    temperature: Annotated[float, Meta(ge=0.0, le=1.0)] | None = None
    top_p: Annotated[float, Meta(gt=0.0, le=1.0)] | None = None
    top_k: Annotated[int, Meta(ge=1, le=INT32_MAX)] | None = None
    metadata: Metadata | None = None
    service_tier: str | None = None  # accepted; there is one tier here

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.thinking, ThinkingEnabled) and self.thinking.budget_tokens >= self.max_tokens:
            raise InvalidRequestError("`max_tokens` must be greater than `thinking.budget_tokens`",
                                      param="thinking.budget_tokens")
