"""The load client: a keep-alive HTTP/1.1 client on raw asyncio streams, and the `Tally`
every virtual user records into."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import msgspec

from benchlib.settings import HOST

__all__ = ["HttpConnection", "Tally"]

@dataclass(slots=True)
class Tally:
    """Everything one measured window records, appended to by every virtual user."""

    ok: int = 0
    errors: int = 0
    tokens: int = 0
    prompt_tokens: int = 0  # from `usage`, as the gateway counted them
    chunks: int = 0
    ttft: list[float] = field(default_factory=list)  # first output (non-streaming: whole latency)
    gaps: list[float] = field(default_factory=list)  # between output chunks of one stream
    first_error: str = ""

    def fail(self, what: str) -> None:
        self.errors += 1
        self.first_error = self.first_error or what

    def add(self, other: Tally) -> None:
        """Count `other`'s requests in this tally too (a window measured in slices)."""
        self.ok += other.ok
        self.errors += other.errors
        self.tokens += other.tokens
        self.prompt_tokens += other.prompt_tokens
        self.chunks += other.chunks
        self.ttft += other.ttft
        self.gaps += other.gaps
        self.first_error = self.first_error or other.first_error


def _has_output(payload: bytes) -> bool:
    """Does an SSE chunk carry generated text or tool calls? (not the role-only first chunk)
    Byte scanning instead of JSON parsing keeps the load generator cheap."""
    for key in (b'"content"', b'"reasoning_content"', b'"tool_calls"', b'"arguments"'):
        at = payload.find(key)
        if at < 0:
            continue
        rest = payload[at + len(key): at + len(key) + 8].lstrip(b": ")
        if rest[:1] == b'"' and rest[1:2] != b'"' or rest[:1] == b"[" and rest[1:2] != b"]":
            return True
    return False


class HttpConnection:
    """A keep-alive HTTP/1.1 client on raw asyncio streams: a few µs per SSE event, where
    httpx would cost the load generator tens."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._server_closes = False  # the last answer said `Connection: close`

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None
        self._server_closes = False

    async def connect(self) -> None:
        if self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(HOST, self._port)

    async def _send(self, body: bytes, path: str = "/v1/chat/completions") -> asyncio.StreamReader:
        await self.connect()
        assert self._writer is not None
        head = (f"POST {path} HTTP/1.1\r\nHost: {HOST}:{self._port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        self._writer.write(head + body)
        assert self._reader is not None
        return self._reader

    async def _head(self, reader: asyncio.StreamReader) -> tuple[int, dict[bytes, bytes]]:
        lines = (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        self._server_closes = headers.get(b"connection", b"").lower() == b"close"
        return int(lines[0].split(b" ", 2)[1]), headers

    async def _parts(self, reader: asyncio.StreamReader, headers: dict[bytes, bytes]) -> AsyncIterator[bytes]:
        if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                yield (await reader.readexactly(size + 2))[:-2]
            await reader.readuntil(b"\r\n")  # the empty trailer
        elif b"content-length" in headers:
            yield await reader.readexactly(int(headers[b"content-length"]))
        else:
            yield await reader.read()  # the body ends with the connection
            self._server_closes = True

    async def post_plain(self, body: bytes, path: str = "/v1/chat/completions") -> tuple[int, bytes]:
        reader = await self._send(body, path)
        status, headers = await self._head(reader)
        return status, b"".join([p async for p in self._parts(reader, headers)])

    async def open_stream(self, body: bytes) -> None:
        """Send a streaming chat and return at its first event with text, leaving the stream
        open (the memory figure counts open streams); `close` ends it."""
        reader = await self._send(body)
        status, _ = await self._head(reader)
        if status != 200:
            raise RuntimeError(f"HTTP {status}")
        while not _has_output(await reader.readuntil(b"\n\n")):
            pass

    async def chat(self, body: bytes, stream: bool, tally: Tally) -> None:
        """One request, recorded into `tally`. A connection left mid-answer (an error, a
        timeout) is closed, so the next request starts on a clean one."""
        clean = False
        try:
            clean = await self._chat(body, stream, tally)
        finally:
            if not clean or self._server_closes:
                self.close()

    async def _chat(self, body: bytes, stream: bool, tally: Tally) -> bool:
        start = time.perf_counter()
        reader = await self._send(body)
        status, headers = await self._head(reader)
        if status != 200 or not stream:
            data = b"".join([p async for p in self._parts(reader, headers)])
            if status != 200:
                tally.fail(f"HTTP {status}: {data[:300]!r}")
                return True
            tally.ttft.append(time.perf_counter() - start)
            usage = msgspec.json.decode(data)["usage"]
            tally.tokens += usage["completion_tokens"]
            tally.prompt_tokens += usage.get("prompt_tokens", 0)
            tally.ok += 1
            return True
        return await self._read_sse(self._parts(reader, headers), start, tally)

    async def _read_sse(self, parts: AsyncIterator[bytes], start: float, tally: Tally) -> bool:
        buf, prev, usage = b"", 0.0, None
        prompt_tokens = 0
        async for part in parts:
            now = time.perf_counter()
            events = (buf + part.replace(b"\r\n", b"\n")).split(b"\n\n")
            buf = events.pop()
            for event in events:
                payload = event[5:].strip() if event.startswith(b"data:") else b""
                if payload == b"[DONE]" or not payload:
                    continue
                if _has_output(payload):
                    tally.chunks += 1
                    if prev:
                        tally.gaps.append(now - prev)
                    else:
                        tally.ttft.append(now - start)
                    prev = now
                if b'"completion_tokens"' in payload:
                    counts = msgspec.json.decode(payload).get("usage") or {}
                    usage = counts.get("completion_tokens", usage)
                    prompt_tokens = counts.get("prompt_tokens", prompt_tokens)
                if payload.startswith(b'{"error"'):
                    tally.fail(f"stream error: {payload[:300]!r}")
                    return False
        if usage is None:
            tally.fail("stream ended without usage")
        else:
            tally.tokens += usage
            tally.prompt_tokens += prompt_tokens
            tally.ok += 1
        return True
