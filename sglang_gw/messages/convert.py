"""A Messages request as the chat request the pipeline runs (the Responses API does the same).

    system (string or text blocks)   → a system message (blocks joined with "\\n")
    user text blocks                 → a user message
    user tool_result blocks          → `tool` messages, in place (their tool_use must come earlier)
    assistant text / thinking        → the assistant message's content / reasoning_content
    assistant tool_use               → a tool call of that message (`input` as its arguments)
    a final assistant message        → continued, not answered (Anthropic's prefill)
    tools, tool_choice               → function tools; auto / any (required) / tool (named) / none
    thinking enabled / disabled      → the template's thinking switch (`enable_thinking`, `thinking`)

Tool-use ids we hand out are `toolu_` + the id the model's tool parser made (some templates,
Mistral's, accept only their own shape), so the prefix comes off again in history.
"""

from __future__ import annotations

import json
from typing import Any

from sglang_gw.api.protocol import ChatCompletionRequest
from sglang_gw.errors import InvalidRequestError
from sglang_gw.messages.request import (
    ChoiceAny,
    ChoiceNone,
    ChoiceTool,
    CountTokensRequest,
    MessageParam,
    MessagesRequest,
    TextBlock,
    ThinkingBlock,
    ThinkingDisabled,
    ToolResultBlock,
    ToolUseBlock,
)

__all__ = ["TOOL_ID_PREFIX", "chat_request", "to_messages"]

TOOL_ID_PREFIX = "toolu_"


def _call_id(tool_use_id: str) -> str:
    return tool_use_id.removeprefix(TOOL_ID_PREFIX) or tool_use_id


def _text(content: str | list[TextBlock]) -> str:
    return content if isinstance(content, str) else "\n".join(b.text for b in content)


class _Conversation:
    """Chat messages built block by block, with the tool_use ids seen so far."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.calls: set[str] = set()

    def user(self, msg: MessageParam, i: int) -> None:
        if isinstance(msg.content, str):
            self.messages.append({"role": "user", "content": msg.content})
            return
        if not msg.content:
            raise InvalidRequestError("a user message must hold at least one content block",
                                      param=f"messages[{i}].content")
        texts: list[str] = []
        for j, block in enumerate(msg.content):
            if isinstance(block, TextBlock):
                texts.append(block.text)
            elif isinstance(block, ToolResultBlock):
                self._flush_user(texts)
                self._tool_result(block, f"messages[{i}].content[{j}]")
            else:
                kind = block.__struct_config__.tag
                raise InvalidRequestError(f"a user message cannot hold a {kind!r} block",
                                          param=f"messages[{i}].content[{j}].type")
        self._flush_user(texts)

    def _flush_user(self, texts: list[str]) -> None:
        if texts:
            self.messages.append({"role": "user", "content": "\n".join(texts)})
            texts.clear()

    def _tool_result(self, block: ToolResultBlock, param: str) -> None:
        if block.tool_use_id not in self.calls:
            raise InvalidRequestError(f"tool_result block(s) provided for tool_use id {block.tool_use_id[:64]!r}, "
                                      "which no earlier tool_use block has", param=f"{param}.tool_use_id")
        text = _text(block.content)
        # Templates have no error flag for a tool's answer: the model reads it in the text.
        content = f"Error: {text}" if block.is_error else text
        self.messages.append({"role": "tool", "tool_call_id": _call_id(block.tool_use_id), "content": content})

    def assistant(self, msg: MessageParam, i: int) -> None:
        out: dict[str, Any] = {"role": "assistant", "content": ""}
        if isinstance(msg.content, str):
            out["content"] = msg.content
            self.messages.append(out)
            return
        texts, thoughts, calls = [], [], []
        for j, block in enumerate(msg.content):
            if isinstance(block, TextBlock):
                texts.append(block.text)
            elif isinstance(block, ThinkingBlock):
                thoughts.append(block.thinking)
            elif isinstance(block, ToolUseBlock):
                self.calls.add(block.id)
                calls.append({"id": _call_id(block.id), "type": "function",
                              "function": {"name": block.name,
                                           "arguments": json.dumps(block.input, ensure_ascii=False)}})
            elif isinstance(block, ToolResultBlock):
                raise InvalidRequestError("an assistant message cannot hold a 'tool_result' block",
                                          param=f"messages[{i}].content[{j}].type")
            # redacted_thinking: opaque, nothing a template can show
        out["content"] = "".join(texts)
        if thoughts:
            out["reasoning_content"] = "".join(thoughts)
        if calls:
            out["tool_calls"] = calls
        self.messages.append(out)


def to_messages(req: CountTokensRequest) -> list[dict[str, Any]]:
    """The chat messages of a Messages request (errors name `messages[i].content[j]`)."""
    conv = _Conversation()
    if req.system:
        conv.messages.append({"role": "system", "content": _text(req.system)})
    for i, msg in enumerate(req.messages):
        if msg.role == "user":
            conv.user(msg, i)
        else:
            conv.assistant(msg, i)
    return conv.messages


def _tools(req: CountTokensRequest) -> list[dict[str, Any]] | None:
    if not req.tools:
        return None
    return [{"type": "function", "function": {k: v for k, v in (
        ("name", t.name), ("description", t.description), ("parameters", t.input_schema)) if v is not None}}
        for t in req.tools]


def _tool_choice(req: CountTokensRequest) -> str | dict[str, Any] | None:
    choice = req.tool_choice
    if choice is None or not req.tools:
        return None
    if isinstance(choice, ChoiceNone):
        return "none"
    if isinstance(choice, ChoiceAny):
        return "required"
    if isinstance(choice, ChoiceTool):
        return {"type": "function", "function": {"name": choice.name}}
    return "auto"


def _template_kwargs(req: CountTokensRequest) -> dict[str, Any] | None:
    """The thinking switch, under both names templates read; absent: the template's default."""
    if req.thinking is None:
        return None
    on = not isinstance(req.thinking, ThinkingDisabled)
    return {"enable_thinking": on, "thinking": on}


def chat_request(req: CountTokensRequest) -> ChatCompletionRequest:
    """The chat completion a Messages request (or a count_tokens body) runs as."""
    messages = to_messages(req)
    if not any(m["role"] != "system" for m in messages):
        raise InvalidRequestError("`messages` must hold at least one message", param="messages")
    last = messages[-1]
    prefill = last["role"] == "assistant" and not last.get("tool_calls")
    full = req if isinstance(req, MessagesRequest) else None
    choice = req.tool_choice
    return ChatCompletionRequest(
        model=req.model, messages=messages, tools=_tools(req), tool_choice=_tool_choice(req),
        parallel_tool_calls=False if choice is not None and getattr(choice, "disable_parallel_tool_use", False)
        else None,
        chat_template_kwargs=_template_kwargs(req),
        add_generation_prompt=not prefill, continue_final_message=prefill,
        max_tokens=full.max_tokens if full else None, stop=full.stop_sequences if full else None,
        temperature=full.temperature if full else None, top_p=full.top_p if full else None,
        top_k=full.top_k if full else None, stream=full.stream if full else False,
        user=full.metadata.user_id if full and full.metadata else None,
    )
