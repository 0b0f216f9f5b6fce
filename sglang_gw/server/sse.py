"""Server-sent events: a response that ends every stream with [DONE], errors included."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from sglang_gw.server.coalesce import ReadyBatches
from sglang_gw.server.errors import sse_error
from sglang_gw.server.hangup import HangUpWatch

__all__ = ["BODY_SEND", "DONE", "SseResponse", "SseStream", "sse_response"]

log = logging.getLogger(__name__)
DONE = b"data: [DONE]\n\n"
# The scope key of the server's own `send`, set by the app (server/app.py): body messages
# skip the middlewares' send wrappers, which only look at the response's start.
BODY_SEND = "sglang_gw.body_send"
_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class SseStream(Response):
    """An SSE answer sent from the request's own task, cancelled when the client hangs up.

    Starlette's StreamingResponse runs the body in a task group next to a disconnect
    listener: a second task and anyio's machinery per request, and one more generator hop
    per event. Here a `HangUpWatch` (no task of its own) cancels the request's task on a
    hang-up; the body's own cleanup (closing the frames, or the pushed call) then frees the
    worker slot and sends Abort. Subclasses say how the body is made (`_send_body`).
    """

    media_type = "text/event-stream"

    def __init__(self) -> None:
        # Response.__init__ would render an empty body and so a content-length of 0.
        self.status_code = 200
        self.background = None
        self.init_headers(_HEADERS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        assert task is not None
        watch = HangUpWatch(receive, task)
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            body_send = scope.get(BODY_SEND, send)
            await self._send_body(body_send)
            await body_send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not watch.hung_up or task.uncancel() > 0:
                raise  # cancelled by someone else (shutdown): not ours to swallow
        finally:
            watch.close()

    async def _send_body(self, send: Send) -> None:
        raise NotImplementedError


class SseResponse(SseStream):
    """Frames pulled from an async iterator, as SSE, ending with [DONE] (errors included)."""

    def __init__(self, frames: AsyncIterator[bytes], *, source: Any = None, done: bool = True) -> None:
        super().__init__()
        self._frames = frames
        self._source = source  # the deltas the frames are made from, closed with them
        self._done = done

    async def _send_body(self, send: Send) -> None:
        await self._send_frames(send)

    async def _send_frames(self, send: Send) -> None:
        batches = ReadyBatches(self._frames)
        try:
            # Frames that are ready together (tokens that came in one read from the worker)
            # go out in one write: see server/coalesce.py.
            while batch := await batches.next_batch():
                body = batch[0] if len(batch) == 1 else b"".join(batch)
                await send({"type": "http.response.body", "body": body, "more_body": True})
        except Exception as exc:  # mid-stream: the status line is gone, so the error is an event
            await send({"type": "http.response.body", "body": sse_error(exc), "more_body": True})
        finally:
            # Close the frames and the worker stream under them now, not whenever the garbage
            # collector gets to them: closing is what frees the worker slot and sends Abort.
            await batches.aclose()
            if self._source is not None:
                await self._source.aclose()
        if self._done:
            await send({"type": "http.response.body", "body": DONE, "more_body": True})


def sse_response(frames: AsyncIterator[bytes], *, source: Any = None, done: bool = True) -> SseResponse:
    """`frames` as SSE; `source` (the deltas the frames are made from) is closed with them."""
    return SseResponse(frames, source=source, done=done)
