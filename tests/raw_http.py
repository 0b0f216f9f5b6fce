"""Raw HTTP/1.1 on a socket, for tests of what uvicorn and llhttp do below any ASGI client."""

from __future__ import annotations

import json
import socket
import time

__all__ = ["error_of", "read_until_closed", "send_all", "status_of"]


def read_until_closed(sock: socket.socket, timeout: float = 20.0) -> bytes:
    """Everything the server sends until it closes the connection (bounded by `timeout`)."""
    deadline = time.monotonic() + timeout
    data = b""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        except TimeoutError:
            break
        if not chunk:
            return data
        data += chunk
    raise AssertionError(f"the connection stayed open for {timeout}s; got {data[:200]!r}")


def status_of(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1])


def error_of(raw: bytes) -> dict[str, object]:
    head_part, _, body = raw.partition(b"\r\n\r\n")
    assert b"connection: close" in head_part.lower()
    return json.loads(body)["error"]


def send_all(sock: socket.socket, data: bytes) -> None:
    """Send what the server takes; it may close the connection before reading it all."""
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
