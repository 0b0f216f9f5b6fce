"""The Responses API on the chat pipeline (docs/responses.md).

    request.py     the request body (msgspec), tools and tool_choice
    items.py       input items checked and given ids; a context as chat messages
    turn.py        one turn: stored context resolved, the chat request it runs as
    output.py      parsed deltas → output items and the stream's events
    responder.py   the pipeline Responder: the response object, or its event stream
    background.py  background responses, bounded, cancellable
"""

from __future__ import annotations

from sglang_gw.responses.background import BackgroundRuns
from sglang_gw.responses.request import ResponsesRequest
from sglang_gw.responses.responder import ResponsesResponder
from sglang_gw.responses.turn import Turn, open_turn

__all__ = ["BackgroundRuns", "ResponsesRequest", "ResponsesResponder", "Turn", "open_turn"]
