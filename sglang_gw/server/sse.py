"""Server-sent events: a response that ends every stream with [DONE], errors included."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from sglang_gw import tracing
from sglang_gw.server.coalesce import ReadyBatches
from sglang_gw.server.errors import sse_error
from sglang_gw.server.hangup import HangUpWatch
from sglang_gw.server.keepalive import HeadPinger, QuietTimer, ping_message

__all__ = ["BODY_SEND", "DONE", "Head", "SlowStartSse", "SseResponse", "SseStream", "sse_response"]

log = logging.getLogger(__name__)
DONE = b"data: [DONE]\n\n"
# The scope key of the server's own `send`, set by the app (server/app.py): body messages
# skip the middlewares' send wrappers, which only look at the response's start.
BODY_SEND = "sglang_gw.body_send"
_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# Sends the response's start: given to a body so that it goes out inside the body's cleanup.
Head = Callable[[], Awaitable[None]]


class SseStream(Response):
    """An SSE answer sent from the request's own task, cancelled when the client hangs up.

    Starlette's StreamingResponse runs the body in a task group next to a disconnect
    listener: a second task and anyio's machinery per request, and one more generator hop
    per event. Here a `HangUpWatch` (no task of its own) cancels the request's task on a
    hang-up; the body's own cleanup (closing the frames, or the pushed call) then frees the
    worker slot and sends Abort. Subclasses say how the body is made (`_send_body`), and
    send the start through the `head` they are given inside their cleanup's reach, so a
    cancel while it is written still frees the worker. With `keepalive` (seconds) a quiet
    stream gets a ping (server/keepalive.py).
    """

    media_type = "text/event-stream"

    def __init__(self, *, keepalive: float | None = None) -> None:
        # Response.__init__ would render an empty body and so a content-length of 0.
        self.status_code = 200
        self.background = None
        self.init_headers(_HEADERS)
        self.keepalive = keepalive

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        assert task is not None
        watch = HangUpWatch(receive, task)
        try:
            await self._respond(send, scope.get(BODY_SEND, send))
        except asyncio.CancelledError:
            if not watch.hung_up or task.uncancel() > 0:
                raise  # cancelled by someone else (shutdown): not ours to swallow
            if tracing.ENABLED and (trace := tracing.current()) is not None:
                trace.hung_up()
        finally:
            watch.close()

    async def _respond(self, send: Send, body_send: Send) -> None:
        await self.send_body(body_send, lambda: send(self.start_message()))

    def start_message(self) -> Message:
        return {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}

    async def send_body(self, send: Send, head: Head | None) -> None:
        """The start (`head`, unless it went out already), the body, and its end."""
        await self._send_body(send, head)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _send_body(self, send: Send, head: Head | None) -> None:
        raise NotImplementedError


class SseResponse(SseStream):
    """Frames pulled from an async iterator, as SSE, ending with [DONE] (errors included)."""

    def __init__(self, frames: AsyncIterator[bytes], *, source: Any = None, done: bool = True,
                 keepalive: float | None = None, error: Callable[[BaseException], bytes] = sse_error) -> None:
        super().__init__(keepalive=keepalive)
        self._frames = frames
        self._source = source  # the deltas the frames are made from, closed with them
        self._done = done
        self._error = error  # a failure's event, in the stream's API's shape

    async def _send_body(self, send: Send, head: Head | None) -> None:
        pings = _Pings(send, self.keepalive)
        try:
            await self._send_frames(send, head, pings)
        except BaseException:
            pings.cancel()
            raise
        await pings.stop()
        if self._done:
            await send({"type": "http.response.body", "body": DONE, "more_body": True})

    async def _send_frames(self, send: Send, head: Head | None, pings: _Pings) -> None:
        batches = ReadyBatches(self._frames)
        try:
            if head is not None:
                await head()
            pings.start()
            # Frames that are ready together (tokens that came in one read from the worker)
            # go out in one write: see server/coalesce.py.
            while batch := await batches.next_batch():
                body = batch[0] if len(batch) == 1 else b"".join(batch)
                await send({"type": "http.response.body", "body": body, "more_body": True})
                pings.last_write = pings.clock()
        except Exception as exc:  # mid-stream: the status line is gone, so the error is an event
            await send({"type": "http.response.body", "body": self._error(exc), "more_body": True})
        finally:
            # Close the frames and the worker stream under them now, not whenever the garbage
            # collector gets to them: closing is what frees the worker slot and sends Abort.
            await batches.aclose()
            if self._source is not None:
                await self._source.aclose()


class _Pings:
    """Keep-alive pings of a pulled stream: the request's task is waiting for the next
    frame, so a due ping is sent by a short task (one at a time)."""

    __slots__ = ("_interval", "_send", "_task", "_timer", "clock", "last_write")

    def __init__(self, send: Send, interval: float | None) -> None:
        self._send = send
        self._interval = interval
        self._timer: QuietTimer | None = None
        self._task: asyncio.Task[None] | None = None
        self.clock = asyncio.get_running_loop().time
        self.last_write = self.clock()

    def start(self) -> None:
        if self._interval is not None:
            self.last_write = self.clock()
            self._timer = QuietTimer(self._interval, lambda: self.last_write, self._ping)

    def _ping(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._send(ping_message()))

    async def stop(self) -> None:
        """No more pings; one on its way is let finish, so [DONE] and the end come after it."""
        if self._timer is not None:
            self._timer.close()
        if self._task is not None and not self._task.done():
            await asyncio.wait({self._task})

    def cancel(self) -> None:
        """No more pings, at once (the stream is being torn down)."""
        if self._timer is not None:
            self._timer.close()
        if self._task is not None:
            self._task.cancel()


class SlowStartSse(SseStream):
    """A stream whose worker may take long to answer (``--sse-keepalive-secs``).

    `opening` opens the generations and returns the stream to send (pushed or pulled).
    When it does so within `keepalive` seconds, the answer is exactly that stream, and a
    failure before it is an ordinary HTTP error, as without keep-alive. Otherwise the 200
    head and a ping go out meanwhile (:class:`HeadPinger`), and a failure is the stream's
    `failure` bytes (an SSE error event and [DONE] by default), as after the first token.
    """

    def __init__(self, opening: Coroutine[Any, Any, SseStream], keepalive: float, *,
                 failure: Callable[[BaseException], bytes] | None = None) -> None:
        super().__init__(keepalive=keepalive)
        self._opening = opening
        self._failure = failure or (lambda exc: sse_error(exc) + DONE)

    async def _respond(self, send: Send, body_send: Send) -> None:
        start = self.start_message()
        pinger = HeadPinger(send, body_send, start, self.keepalive or 0.0)
        try:
            stream = await self._opening
        except Exception as exc:
            if not pinger.halt():
                raise  # nothing went out yet: an ordinary HTTP error
            await body_send({"type": "http.response.body", "body": self._failure(exc), "more_body": True})
            await body_send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        except BaseException:
            pinger.halt()
            raise
        committed = pinger.halt()
        await stream.send_body(body_send, None if committed else lambda: send(start))

    def close(self) -> None:
        """Drop an answer that will not be sent (its generations were never opened)."""
        self._opening.close()


def sse_response(frames: AsyncIterator[bytes], *, source: Any = None, done: bool = True,
                 keepalive: float | None = None, error: Callable[[BaseException], bytes] = sse_error) -> SseResponse:
    """`frames` as SSE; `source` (the deltas the frames are made from) is closed with them;
    `error` makes a mid-stream failure's event."""
    return SseResponse(frames, source=source, done=done, keepalive=keepalive, error=error)
