"""Muse Glimmer's message framing, shared by its reasoning and tool-call parsers.

A message is `<|start|>assistant to=RECIPIENT<|message|>BODY` ended by `<|eom|>` (more
follows) or `<|eot|>` (the turn ends). The prompt writes the first `<|start|>assistant`,
so the output opens with a bare ` to=RECIPIENT<|message|>`. `self` is the thought, `user`
the answer, any other recipient a tool.
"""

from __future__ import annotations

import re

__all__ = ["EOM", "EOT", "HEADER_CAP", "MESSAGE", "START", "bare_header", "recipient"]

START, MESSAGE, EOM, EOT = "<|start|>", "<|message|>", "<|eom|>", "<|eot|>"
HEADER_CAP = 256  # a header longer than this is not one
_RECIPIENT = re.compile(r"to=([^\s<]+)")
_NAME = re.compile(r"[^\s<]*")


def recipient(header: str) -> str:
    """Who a header addresses (`user` when it names no one)."""
    found = _RECIPIENT.search(header)
    return found.group(1) if found else "user"


def bare_header(text: str, eof: bool) -> tuple[bool | None, int]:
    """Does `text` open with a bare ` to=RECIPIENT<|message|>` header: (True, its length),
    (False, 0), or (None, 0) while more text may still make it one."""
    body = text.lstrip()
    if len(body) < 3:
        return (None if not eof and "to=".startswith(body) else False), 0
    if not body.startswith("to="):
        return False, 0
    name = _NAME.match(body, 3)
    end = name.end() if name else 3
    tail = body[end:]
    if end > 3 and tail.startswith(MESSAGE):
        return True, len(text) - len(body) + end + len(MESSAGE)
    if not eof and end - 3 <= HEADER_CAP and (not tail or (end > 3 and MESSAGE.startswith(tail))):
        return None, 0
    return False, 0
