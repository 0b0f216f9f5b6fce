"""The gateway's configuration: a small tree of frozen dataclasses built once from the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sglang_gw.admission import AdmissionConfig
from sglang_gw.discovery.config import DiscoveryConfig
from sglang_gw.errors import ConfigError
from sglang_gw.history.base import HistoryConfig
from sglang_gw.identity.config import IdentityConfig
from sglang_gw.mcp.config import McpSettings
from sglang_gw.routing.base import PolicyConfig
from sglang_gw.tracing import TracingConfig
from sglang_gw.workers.breaker import BreakerConfig
from sglang_gw.workers.health import HealthConfig
from sglang_gw.workers.link import LinkSettings

__all__ = ["DEFAULT_MAX_PAYLOAD_SIZE", "ConnectionConfig", "DemoConfig", "DiscoveryConfig", "GatewayConfig",
           "HistoryConfig", "ModelConfig", "ObservabilityConfig", "PdConfig", "RequestLimits", "RetryConfig",
           "RoutingConfig", "SecurityConfig", "ServerConfig"]

# 32 MiB, as Anthropic's Messages API: a full 128k-token conversation is about 0.5-1.5 MB of
# JSON (non-ASCII escaped as \uXXXX doubles it), hundreds of tool definitions a few hundred
# KB more, which leaves room for images sent as base64 data URLs (a 20 MB image, OpenAI's
# per-image ceiling, is 27 MB as base64) to the OpenAI-compatible workers that take them.
# smg's 512 MiB let one request make the gateway read, decode and hold half a gigabyte.
DEFAULT_MAX_PAYLOAD_SIZE = 32 * 1024 * 1024


@dataclass(slots=True, frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 30000
    log_level: str = "info"
    shutdown_grace_period_secs: float = 180.0
    processes: int = 1  # --workers: gateway processes sharing the port
    tls_cert_path: str | None = None  # with the key: the listener serves HTTPS
    tls_key_path: str | None = None


@dataclass(slots=True, frozen=True)
class ObservabilityConfig:
    prometheus_host: str = "127.0.0.1"
    prometheus_port: int | None = None  # None: no metrics listener
    request_id_headers: tuple[str, ...] = ("x-request-id",)
    log_json: bool = False
    log_dir: Path | None = None
    tracing: TracingConfig = field(default_factory=TracingConfig)  # --enable-trace (tracing.py)


@dataclass(slots=True, frozen=True)
class SecurityConfig:
    api_key: str | None = None
    control_plane_api_keys: tuple[str, ...] = ()
    max_payload_size: int | None = DEFAULT_MAX_PAYLOAD_SIZE
    cors_allowed_origins: tuple[str, ...] = ()
    identity: IdentityConfig = field(default_factory=IdentityConfig)  # tenant keys, JWT, audit, tenant limits


@dataclass(slots=True, frozen=True)
class ConnectionConfig:
    """How client connections are held (smg's names and defaults; None = off). A head is
    the request line and headers; see server/connections.py and docs/operations.md."""

    header_read_timeout_secs: float | None = 30.0  # accepted (or a next request's first byte) → head complete
    idle_connection_timeout_secs: float | None = 90.0  # keep-alive with no request in flight
    max_request_header_bytes: int = 64 * 1024  # a larger head is refused with 431
    max_request_headers: int = 100  # more header lines are refused with 431 (hyper's limit, smg's server)
    stream_body_stall_timeout_secs: float | None = 300.0  # a body with no new bytes this long → 408
    sse_keepalive_secs: float | None = 15.0  # a quiet stream gets a `: keepalive` comment
    # smg buffers a body it does not parse only to keep it retryable, up to this size;
    # every request is parsed here, so bodies are read whole (--max-payload-size bounds them).
    max_buffered_request_bytes: int = 1024 * 1024

    def __post_init__(self) -> None:
        if self.max_request_header_bytes < 1024 or self.max_request_headers < 1:
            raise ConfigError("max_request_header_bytes must be at least 1024 and max_request_headers at least 1")
        for name in ("header_read_timeout_secs", "idle_connection_timeout_secs", "stream_body_stall_timeout_secs",
                     "sse_keepalive_secs"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ConfigError(f"{name} must be positive, or None for off")


@dataclass(slots=True, frozen=True)
class RequestLimits:
    """What one request may ask the gateway to do, checked before any work is done for it.

    Stop strings are matched by the gateway with an automaton whose size and build time grow
    with their length (tokenizer/stop.py): one 1 MiB stop string cost a second of event loop
    and 400 MB. OpenAI takes 4 stop sequences and real ones are a few bytes to a line. A
    request may send up to 32 (`MAX_STOPS` in pipeline/sampling.py), each of at most
    `max_stop_bytes`, together at most `max_total_stop_bytes` (UTF-8). At these defaults the
    automaton takes a few ms to build and a few MB at worst."""

    max_stop_bytes: int = 1024
    max_total_stop_bytes: int = 4096

    def __post_init__(self) -> None:
        if self.max_stop_bytes < 1 or self.max_total_stop_bytes < 1:
            raise ConfigError("the stop-string limits must be at least 1 byte")


@dataclass(slots=True, frozen=True)
class ModelConfig:
    model_path: str | None = None       # folder, tokenizer.json, or HF id (local cache only)
    tokenizer_path: str | None = None   # overrides model_path for the tokenizer
    chat_template: Path | None = None
    served_model_name: str | None = None
    reasoning_parser: str | None = "auto"  # a registered name, "auto" or "none" (None: none)
    tool_call_parser: str | None = "auto"  # a registered name, "auto" or "none" (None: none)
    tokenizer_fast_path: bool = True  # tiktoken / word-cache encoders beside the tokenizer (exact)


@dataclass(slots=True, frozen=True)
class DemoConfig:
    """With no worker urls, `launch` starts a built-in mock worker on this folder."""

    model_path: Path | None = None
    mode: str = "echo"
    token_delay: float = 0.0


@dataclass(slots=True, frozen=True)
class RetryConfig:
    """smg's --retry-* flags: retries happen only before the first token reached the client."""

    max_retries: int = 5
    initial_backoff_ms: int = 50
    max_backoff_ms: int = 30_000
    backoff_multiplier: float = 1.5
    jitter_factor: float = 0.2


@dataclass(slots=True, frozen=True)
class RoutingConfig:
    policy: str = "cache_aware"
    policy_config: PolicyConfig = field(default_factory=PolicyConfig)
    routing_key_headers: tuple[str, ...] = ("x-smg-routing-key",)
    load_monitor_interval: float = 10.0
    lora_load_on_demand: bool = False


@dataclass(slots=True, frozen=True)
class PdConfig:
    """Prefill/decode disaggregation: each request goes to one prefill and one decode worker."""

    prefill: tuple[tuple[str, int | None], ...] = ()  # (url, bootstrap port)
    decode: tuple[str, ...] = ()
    prefill_policy: str | None = None  # default: the main policy
    decode_policy: str | None = None


@dataclass(slots=True, frozen=True)
class GatewayConfig:
    server: ServerConfig = field(default_factory=ServerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    worker_urls: tuple[str, ...] = ()
    # OpenAI-compatible workers from provider presets: (base url, api key), resolved at start-up.
    provider_workers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    demo: DemoConfig | None = None
    request_timeout_secs: float = 1800.0
    worker_startup_timeout_secs: float = 60.0
    link: LinkSettings = field(default_factory=LinkSettings)  # transport and TLS to gRPC workers
    retry: RetryConfig = field(default_factory=RetryConfig)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    breaker: BreakerConfig = field(default_factory=BreakerConfig)
    admission: AdmissionConfig = field(default_factory=AdmissionConfig)
    connections: ConnectionConfig = field(default_factory=ConnectionConfig)
    pd: PdConfig | None = None
    observability: ObservabilityConfig = field(default_factory=ObservabilityConfig)
    security: SecurityConfig = field(default_factory=SecurityConfig)
    limits: RequestLimits = field(default_factory=RequestLimits)
    history: HistoryConfig = field(default_factory=HistoryConfig)  # responses and conversations storage
    max_background_responses: int = 64  # /v1/responses with background: true, running at once
    mcp: McpSettings = field(default_factory=McpSettings)  # MCP servers of the responses tool loop
    discovery: DiscoveryConfig = field(default_factory=DiscoveryConfig)  # Kubernetes / file discovery
