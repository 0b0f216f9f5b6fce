"""MCP servers for the tests: the SDK-built test server (sglang_gw/testing/mcp_server.py) as a
child process over stdio, SSE or streamable HTTP on loopback, and scripted model replies
that call its tools in two families' formats (hermes for Qwen3, harmony for gpt-oss)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sglang_gw.mcp import ServerSpec
from tests.conftest import stop_process

__all__ = ["ConnectionRecorder", "call_reply", "final_reply", "http_server", "stdio_spec"]

SERVER = "sglang_gw.testing.mcp_server"


def stdio_spec(name: str, prefix: str = "") -> ServerSpec:
    return ServerSpec(name=name, protocol="stdio", command=sys.executable,
                      args=("-m", SERVER, "stdio", "--prefix", prefix))


@contextmanager
def http_server(protocol: str, prefix: str = "") -> Iterator[str]:
    """The test server over `protocol` (sse or streamable) on a loopback port; yields its URL."""
    proc = subprocess.Popen([sys.executable, "-m", SERVER, protocol, "--prefix", prefix], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening on "), line
        port = int(line.split()[-1])
        yield f"http://127.0.0.1:{port}/" + ("sse" if protocol == "sse" else "mcp")
    finally:
        stop_process(proc)


def call_reply(family: str, name: str, arguments: dict[str, object]) -> str:
    """The model's text for one tool call, in the family's own markup."""
    args = json.dumps(arguments, ensure_ascii=False)
    if family == "gpt_oss":
        return (f"<|channel|>analysis<|message|>I need a tool.<|end|><|start|>assistant<|channel|>commentary "
                f"to=functions.{name} <|constrain|>json<|message|>{args}<|call|>")
    if family == "mistral_nemo":
        return f'[TOOL_CALLS][{{"name": "{name}", "arguments": {args}}}]'
    if family == "llama31":
        return f'<|python_tag|>{{"name": "{name}", "parameters": {args}}}'
    if family == "deepseek_r1":
        return ("I need a tool.\n</think>\n\n<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>"
                f"{name}\n```json\n{args}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>")
    return f'<tool_call>\n{{"name": "{name}", "arguments": {args}}}\n</tool_call>'


def final_reply(family: str, text: str) -> str:
    if family == "deepseek_r1":  # its prompt opens the thinking block
        return f"Done.\n</think>\n\n{text}"
    return f"<|channel|>final<|message|>{text}" if family == "gpt_oss" else text


class ConnectionRecorder:
    """A TCP listener that only counts the connections made to it (for "not a single packet")."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port: int = self.sock.getsockname()[1]
        self.connections = 0
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()
