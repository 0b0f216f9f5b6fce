"""A gateway whose only worker is a second sglang_gw over OpenAI-compatible HTTP: the upstream
answers chat completions (with reasoning and tool parsing) from a mock gRPC worker, so every
part of the HTTP-worker path (the Messages and Responses APIs over chat completions) is real."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from sglang_gw.config import GatewayConfig, ModelConfig, ServerConfig
from tests.conftest import SCRIPT, RunningGateway, ThreadedServer, free_port

# The upstream's scripted answers: "WEATHER" thinks, then calls get_weather for Paris.
REPLIES = {**SCRIPT, "RESULT": "It is sunny.",
           "WEATHER": '<think>\nOne city.\n</think>\n\n<tool_call>\n{"name": "get_weather", "arguments": '
                      '{"city": "Paris"}}\n</tool_call>'}


def gateway_over_gateway(gateway_factory: Callable[..., RunningGateway]) -> Iterator[tuple[RunningGateway, str]]:
    """(the upstream gateway, the URL of a gateway whose only worker is that one over HTTP),
    for a module-scoped fixture to yield from."""
    upstream = gateway_factory(script=REPLIES, reasoning_parser="qwen3", tool_call_parser="hermes")
    front = ThreadedServer(GatewayConfig(server=ServerConfig(port=free_port()), model=ModelConfig(),
                                         worker_urls=(upstream.url,)))
    front.start()
    try:
        assert "test-model" in front.gateway.http_models and not front.gateway.models
        yield upstream, f"http://127.0.0.1:{front.port}"
    finally:
        front.stop()
