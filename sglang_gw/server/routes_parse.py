"""Debugging endpoints: run a parser on a whole text, as smg's /parse/* do."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sglang_gw.api.protocol import decode_body
from sglang_gw.api.validation import check_tools
from sglang_gw.errors import ConfigError, InvalidRequestError
from sglang_gw.parsers.reasoning import REASONING_PARSERS
from sglang_gw.parsers.tools import TOOL_PARSERS
from sglang_gw.parsers.types import ToolSpec
from sglang_gw.server.handling import gateway_of, json_response

__all__ = ["routes"]


class ParseReasoningBody(msgspec.Struct, kw_only=True):
    text: str
    reasoning_parser: str | None = None  # default: the model's
    model: str = ""
    prompt_text: str | None = None


class ParseToolsBody(msgspec.Struct, kw_only=True):
    text: str
    tool_call_parser: str | None = None  # default: the model's
    tools: list[dict[str, Any]] = []
    model: str = ""

    def __post_init__(self) -> None:
        check_tools(self.tools)


def _cls(registry: Any, name: str | None, default: type | None, param: str) -> type:
    try:
        cls = registry.get(name) if name else default
    except ConfigError as err:
        raise InvalidRequestError(err.message, param=param) from None
    if cls is None:
        raise InvalidRequestError(f"no {param} given and the model has none configured", param=param)
    return cls


async def parse_reasoning(request: Request) -> Response:
    gw = gateway_of(request)
    body = decode_body(await request.body(), ParseReasoningBody)
    default = gw.model(body.model).reasoning_parser if (body.model or len(gw.models) == 1) else None
    parser = _cls(REASONING_PARSERS, body.reasoning_parser, default, "reasoning_parser")(prompt_text=body.prompt_text)
    first, last = parser.feed(body.text), parser.finish()
    return json_response({"reasoning_content": first.reasoning + last.reasoning,
                          "content": first.content + last.content})


async def parse_function_call(request: Request) -> Response:
    gw = gateway_of(request)
    body = decode_body(await request.body(), ParseToolsBody)
    default = gw.model(body.model).tool_parser if (body.model or len(gw.models) == 1) else None
    parser = _cls(TOOL_PARSERS, body.tool_call_parser, default, "tool_call_parser")(ToolSpec.from_openai(body.tools))
    content, calls = "", []
    for step in (parser.feed(body.text), parser.finish()):
        content += step.content
        for d in step.calls:
            if d.index == len(calls):
                calls.append({"id": d.id, "type": "function", "function": {"name": d.name, "arguments": ""}})
            calls[d.index]["function"]["arguments"] += d.arguments
    return json_response({"content": content, "tool_calls": calls})


routes = [
    Route("/parse/reasoning", parse_reasoning, methods=["POST"]),
    Route("/parse/function_call", parse_function_call, methods=["POST"]),
]
