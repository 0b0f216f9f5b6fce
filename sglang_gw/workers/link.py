"""How the gateway reaches its gRPC workers: transport, TLS, keepalive, message limits.

One frozen tree, built once from the CLI (`--grpc-transport`, `--ca-cert-paths`,
`--client-cert-path`, `--client-key-path`, `--grpc-keepalive-*`, `--max-message-size`) and
handed to every `GrpcWorkerClient`; a worker added through `POST /workers` may override the
TLS part. Both transports (our HTTP/2 client and grpcio) read the same values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["TRANSPORTS", "Backoff", "LinkSettings", "TlsSettings"]

# How `Generate` and `Embed` reach the worker: "h2", our HTTP/2 client on the event loop
# (the fast path, see workers/h2/channel.py), or "grpcio" (grpc.aio, as every other RPC).
TRANSPORTS = ("h2", "grpcio")


@dataclass(slots=True, frozen=True)
class TlsSettings:
    """Certificates for `grpcs://` workers. No CA paths: the system's trust store."""

    ca_cert_paths: tuple[str, ...] = ()
    client_cert_path: str | None = None  # with the key: mutual TLS
    client_key_path: str | None = None


@dataclass(slots=True, frozen=True)
class Backoff:
    """Reconnect delays: initial, times `multiplier` after each failure up to `maximum`,
    each spread by ±`jitter` (a fraction) so a fleet does not reconnect in step."""

    initial_secs: float = 0.2
    maximum_secs: float = 3.0
    multiplier: float = 1.6
    jitter: float = 0.2


@dataclass(slots=True, frozen=True)
class LinkSettings:
    transport: str = "h2"
    tls: TlsSettings = field(default_factory=TlsSettings)
    # A PING after this long without a frame from the worker while calls are open (and on
    # an idle connection too when `keepalive_permit_without_calls`); no ACK within the
    # timeout ends the connection. A worker's GOAWAY "too_many_pings" doubles the time.
    keepalive_time_secs: float = 30.0
    keepalive_timeout_secs: float = 20.0
    keepalive_permit_without_calls: bool = False
    max_message_size: int = 256 * 1024 * 1024  # each way, as the grpcio channel is set up
    connect_timeout_secs: float = 10.0
    backoff: Backoff = field(default_factory=Backoff)
    upstream_http2: bool = False  # HTTP workers (SGLang's and OpenAI-compatible): HTTP/2 (--upstream-http2)
