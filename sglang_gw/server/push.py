"""Pushed SSE: a stream whose per-token work runs in the worker connection's callback.

Pulled, each streamed token wakes the request's task, which resumes a chain of awaits
(the SSE loop, the frame stage, the deltas, the worker stream, the call) to get one delta
and hands a frame back up to `send`. Pushed, the HTTP/2 call gives each batch of messages
that one DATA frame carried straight to `_Pump.feed`, inside the connection's
`data_received`: decode (`Generation.step`) and frame (`StreamFramer.frames`) run there,
synchronously, and the frame is written by running the server's `send` by hand. When
that `send` finishes without suspending (the usual case: the transport takes the bytes),
no task wakes up at all for the token. The request's task sleeps until the stream ends.

When `send` does suspend (the client's socket is full), the pump keeps that step and
wakes the task, which finishes it; frames made meanwhile are kept and written after it,
in order. A client that reads slowly so only costs memory, as with a pulled stream.

Errors end the stream as a pulled one does: a worker failure or an error in a stage
becomes an SSE error event and [DONE]; a hang-up cancels the task. However it ends,
`Generation.close` frees the worker slot and aborts an unfinished call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from starlette.types import Send

from sglang_gw.errors import WorkerError
from sglang_gw.pipeline.dispatch import Generation
from sglang_gw.pipeline.framing import StreamFramer
from sglang_gw.pipeline.types import Usage
from sglang_gw.proto import sglang_scheduler_pb2 as pb
from sglang_gw.server.coalesce import Resume, steppable
from sglang_gw.server.errors import sse_error
from sglang_gw.server.keepalive import PING, QuietTimer
from sglang_gw.server.sse import DONE, Head, SseStream

__all__ = ["PushedSse"]


class _Pump:
    """The sink of one pushed call: messages → deltas → frames → `send`, synchronously."""

    __slots__ = ("_clock", "_framer", "_gen", "_keepalive", "_loop", "_send", "_stops", "_waiter", "backlog",
                 "blocked", "ended", "error", "last_write")

    def __init__(self, gen: Generation, framer: StreamFramer, send: Send, keepalive: float | None = None) -> None:
        self._gen = gen
        self._framer = framer
        self._send = send
        self._stops = bool(gen.prepared.stops)
        self._loop = asyncio.get_running_loop()
        self._clock = self._loop.time
        self._keepalive = keepalive
        self.last_write = self._clock()
        self._waiter: asyncio.Future[None] | None = None
        self.ended = False  # the call ended, a stop string ended it, or a stage failed
        self.error: Exception | None = None  # a stage's error (not the worker's)
        self.blocked: tuple[Any, Any] | None = None  # a `send` step that suspended, and its signal
        self.backlog: list[bytes] = []  # frames made while `blocked`

    def feed(self, messages: list[pb.GenerateResponse] | None) -> None:
        """Called by the HTTP/2 call (or by `run` for the first message): must not raise."""
        if self.ended:
            return
        if messages is None:
            self._end()
            return
        gen, frames = self._gen, self._framer.frames
        try:
            # Joined once: a DATA frame may carry dozens of messages when the gateway falls
            # behind, and adding each frame to the body would copy it over and over.
            parts: list[bytes] = []
            for message in messages:
                delta = gen.step(message)
                if delta is not None:
                    parts.append(frames(delta))
                if self._stops and gen.done_here():
                    self.ended = True  # a stop string ended every choice: close() aborts
                    break
            body = b"".join(parts)
            if body:
                self.write(body)
        except Exception as exc:  # a stage's bug must not break the connection's other calls
            self.error = exc
            self.ended = True
        if self.ended:
            self._end()

    def write(self, body: bytes) -> None:
        """Send `body` now if the server takes it without waiting; else leave it to `run`."""
        self.last_write = self._clock()
        if self.blocked is not None:
            self.backlog.append(body)
            return
        step = steppable(self._send({"type": "http.response.body", "body": body, "more_body": True}))
        try:
            signal = step.send(None)
        except StopIteration:
            return
        self.blocked = (step, signal)
        self._wake()

    async def run(self, first: pb.GenerateResponse | None) -> None:
        """Drive the stream from the request's task until it ends; raises a stage's error."""
        if first is not None:
            self.feed([first])
        if not self.ended:
            self._gen.stream.push_to(self.feed)
        quiet = None if self._keepalive is None else QuietTimer(self._keepalive, lambda: self.last_write, self._ping)
        try:
            await self._drive()
        finally:
            if quiet is not None:
                quiet.close()
        if self.error is not None:
            raise self.error

    async def _drive(self) -> None:
        while True:
            if self.blocked is not None:
                step, signal = self.blocked
                await Resume(step, signal)  # the task's cancellation reaches the step
                self.blocked = None
                if self.backlog:
                    body, self.backlog = b"".join(self.backlog), []
                    self.write(body)
                continue
            if self.ended:
                break
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def _ping(self) -> None:
        """A quiet stream's keep-alive: written as a frame is (a full socket has bytes
        waiting already, so it needs none)."""
        if self.blocked is None and not self.ended:
            self.write(PING)

    def discard(self) -> None:
        """Close a `send` step left suspended (the task was cancelled before finishing it)."""
        if self.blocked is not None:
            step, self.blocked = self.blocked[0], None
            step.close()
        self.backlog = []

    def _end(self) -> None:
        self.ended = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class PushedSse(SseStream):
    """One opened generation's stream as SSE, pushed (see the module's docstring)."""

    def __init__(self, gen: Generation, framer: StreamFramer, first: pb.GenerateResponse | None,
                 usage_of: Callable[[], Usage], *, keepalive: float | None = None) -> None:
        super().__init__(keepalive=keepalive)
        self._gen = gen
        self._framer = framer
        self._first = first
        self._usage_of = usage_of

    async def _send_body(self, send: Send, head: Head | None) -> None:
        gen, framer = self._gen, self._framer
        failure: WorkerError | None = None
        pump: _Pump | None = None
        try:
            if head is not None:
                await head()
            try:
                if opening := framer.start(self._usage_of):
                    await send({"type": "http.response.body", "body": opening, "more_body": True})
                pump = _Pump(gen, framer, send, self.keepalive)
                await pump.run(self._first)
                gen.stream.settle()  # raises the worker's error, if the call failed
                body = framer.tail() + DONE
            except WorkerError as err:
                failure = err
                body = sse_error(err) + DONE
            except Exception as exc:  # mid-stream: the status line is gone, so the error is an event
                body = sse_error(exc) + DONE
            await send({"type": "http.response.body", "body": body, "more_body": True})
        finally:
            gen.stream.push_to(None)
            if pump is not None:
                pump.discard()
            gen.close(failure)
