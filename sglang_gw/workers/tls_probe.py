"""Why a worker refused the connection, in TLS terms: a second look when grpcio's error is vague.

grpcio reports a refused handshake as UNAVAILABLE, and in two cases only as "Socket closed":
a worker that requires a client certificate and got none or one it does not trust (with
TLS 1.3 the client's side of the handshake is done before the server checks the
certificate, so the server just closes), and a TLS worker reached with `grpc://`. Left
alone, registration would retry either for the whole start-up timeout. One connection made
with the ssl module tells these apart from a worker that is not up yet, so the registrar
can stop at once with a message that says what to fix.
"""

from __future__ import annotations

import asyncio
import ssl

from sglang_gw.workers.tls import describe_ssl_error

__all__ = ["explain_refusal", "might_be_tls"]

# The HTTP/2 client preface and an empty SETTINGS frame: a gRPC server answers it at once.
_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
_HINTS = ("socket closed", "handshake", "ssl", "tls", "certificate", "verification")
_CLOSE_WAIT_SECS = 0.1  # for the worker's close_notify, which grpc servers never send


def might_be_tls(details: str) -> bool:
    """Whether a failed call's text could hide a TLS refusal (a refused port cannot)."""
    lowered = details.lower()
    return any(hint in lowered for hint in _HINTS)


async def explain_refusal(host: str, port: int, context: ssl.SSLContext | None, *,
                          client_cert: bool = False, timeout: float = 10.0) -> str | None:
    """What TLS problem keeps us from `host:port`, or None if it is not (visibly) one.

    With `context` (a `grpcs://` worker), a handshake with it; without (`grpc://`), a check
    whether the worker speaks TLS at all.
    """
    if context is None:
        return await _speaks_tls(host, port, timeout)
    return await _refused_handshake(host, port, context, client_cert, timeout)


async def _refused_handshake(host: str, port: int, context: ssl.SSLContext, client_cert: bool,
                             timeout: float) -> str | None:
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=context, server_hostname=host,
                                    ssl_shutdown_timeout=_CLOSE_WAIT_SECS), timeout)
    except ssl.SSLError as err:
        return f"TLS handshake failed: {describe_ssl_error(err)}"
    except (OSError, TimeoutError):
        return None  # not listening (yet), or silent: not a TLS question
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        alpn = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
        if alpn != "h2":
            return f"the TLS server did not agree to HTTP/2 (ALPN {alpn!r}): is it a gRPC worker?"
        writer.write(_PREFACE)
        first = await asyncio.wait_for(reader.read(1), timeout)
    except ssl.SSLError as err:
        return f"the worker ended the TLS session: {describe_ssl_error(err)}"
    except (OSError, TimeoutError):
        return None
    finally:
        writer.close()
    if first:
        return None
    if client_cert:
        return ("the worker closed the connection right after the TLS handshake: it refused our client "
                "certificate (is it signed by a CA the worker trusts?)")
    return ("the worker closed the connection right after the TLS handshake: it requires a client "
            "certificate (mutual TLS); give one with --client-cert-path and --client-key-path, or "
            "client_cert_path and client_key_path when adding the worker")


async def _speaks_tls(host: str, port: int, timeout: float) -> str | None:
    """A TLS handshake that accepts any certificate: only to learn whether TLS is spoken."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=context, ssl_shutdown_timeout=_CLOSE_WAIT_SECS), timeout)
    except (OSError, TimeoutError):  # ssl.SSLError included: it is not TLS
        return None
    writer.close()
    return "the worker speaks TLS, but the url says plaintext: use grpcs://"
