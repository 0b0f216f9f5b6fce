"""Every flag of `sglang-gw`, grouped as smg groups them (names are a public contract).

`docs/cli.md` is generated from `build_parser()` (scripts/gen_cli_docs.py); a test keeps it
in step.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sglang_gw.config import DEFAULT_MAX_PAYLOAD_SIZE, GatewayConfig, HistoryConfig, RequestLimits
from sglang_gw.discovery.config import BOOTSTRAP_PORT_ANNOTATION, DiscoveryConfig
from sglang_gw.mcp.config import McpSettings
from sglang_gw.workers.link import TRANSPORTS, LinkSettings

__all__ = ["build_parser"]


def _add_launch(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("launch", help="run the gateway", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                       description="Serve the OpenAI and SGLang APIs in front of SGLang gRPC workers.")
    server = p.add_argument_group("server")
    server.add_argument("--host", default="127.0.0.1", help="address to listen on")
    server.add_argument("--port", type=int, default=30000, help="port to listen on")
    server.add_argument("--workers", type=int, default=1,
                        help="gateway processes sharing the port (pre-forked); each keeps its own health, "
                             "loads and cache_aware trees, and run-time worker changes are refused "
                             "(docs/operations.md)")
    server.add_argument("--allocator", default="auto", choices=["auto", "jemalloc", "system"],
                        help="the process's C allocator: jemalloc (what smg links in) makes the tokenizer's "
                             "work on new text 30-55%% cheaper; auto uses it when the library is installed "
                             "(docs/performance.md)")
    server.add_argument("--log-level", default="info", choices=["debug", "info", "warn", "warning", "error"],
                        help="logging threshold (prompts are logged at debug only)")
    server.add_argument("--config", type=Path, default=None,
                        help="TOML file of flag values (keys are flag names); the command line wins")
    server.add_argument("--tls-cert-path", default=None, metavar="PEM",
                        help="serve HTTPS: the listener's certificate chain (with --tls-key-path)")
    server.add_argument("--tls-key-path", default=None, metavar="PEM", help="the listener certificate's private key")
    workers = p.add_argument_group("workers")
    workers.add_argument("--worker-urls", nargs="*", default=[], metavar="URL",
                         help="SGLang gRPC workers (grpc://host:port, or grpcs:// for TLS), SGLang HTTP workers "
                              "or OpenAI-compatible servers (http(s)://host:port, told apart by asking them); "
                              "none = start a built-in demo worker")
    workers.add_argument("--provider", nargs="*", default=[], metavar="NAME",
                         help="OpenAI-compatible services by preset (openai, crusoe, xai, together, ...); "
                              "the key comes from the preset's environment variable")
    workers.add_argument("--worker-startup-timeout-secs", type=float, default=60.0,
                         help="how long to wait for workers to answer at start-up")
    workers.add_argument("--upstream-http2", action="store_true",
                         help="HTTP workers (SGLang's and OpenAI-compatible): speak HTTP/2, with prior knowledge "
                              "on http:// (the worker must speak h2c) and by ALPN on https://")
    workers.add_argument("--grpc-transport", choices=TRANSPORTS, default="h2",
                         help="the client of the workers' Generate and Embed calls: h2, the gateway's own HTTP/2 "
                              "client on the event loop (fast), or grpcio (grpc.aio); other RPCs always use grpcio")
    workers.add_argument("--ca-cert-paths", nargs="*", default=[], metavar="PEM",
                         help="CA certificates that grpcs:// workers' certificates must chain to "
                              "(default: the system trust store)")
    workers.add_argument("--client-cert-path", default=None, metavar="PEM",
                         help="mutual TLS: the certificate the gateway presents to grpcs:// workers "
                              "(with --client-key-path)")
    workers.add_argument("--client-key-path", default=None, metavar="PEM", help="the client certificate's private key")
    _add_link(workers)
    tok = p.add_argument_group("tokenizer")
    tok.add_argument("--model-path", default=None,
                     help="tokenizer folder, tokenizer.json, or HF id in the local cache (default: ask the worker)")
    tok.add_argument("--tokenizer-path", default=None, help="overrides --model-path for the tokenizer")
    tok.add_argument("--chat-template", type=Path, default=None, help="a .jinja file or a JSON with chat_template")
    tok.add_argument("--served-model-name", default=None, help="model name clients use (default: the worker's)")
    tok.add_argument("--tokenizer-fast-path", default="on", choices=["on", "off"],
                     help="exact faster encoders beside the tokenizer (tiktoken's BPE for byte-level BPE "
                          "vocabularies, a word cache for plain ASCII), each self-checked at start-up; off: the "
                          "tokenizer library alone (docs/tokenizers.md)")
    parsers = p.add_argument_group("parsers")
    parsers.add_argument("--reasoning-parser", default="auto",
                         help="split reasoning from content: a parser name, auto (chosen from the model), "
                              "or none (see docs/parsers.md)")
    parsers.add_argument("--tool-call-parser", default="auto",
                         help="parse tool calls: a parser name, auto (chosen from the model), or none "
                              "(see docs/parsers.md)")
    _add_routing(p)
    _add_reliability(p)
    _add_admission(p)
    _add_connections(p)
    _add_pd(p)
    _add_discovery(p)
    _add_observability(p)
    _add_security(p)
    _add_history(p)
    _add_responses(p)
    _add_mcp(p)
    demo = p.add_argument_group("demo (no --worker-urls)")
    demo.add_argument("--demo-model", type=Path, default=None,
                      help="tokenizer folder for the demo worker (default: the Qwen3 folder of `make tokenizers`)")
    demo.add_argument("--demo-mode", choices=["echo", "random"], default="echo")
    demo.add_argument("--demo-token-delay", type=float, default=0.0, help="seconds per token in the demo worker")


def _add_link(workers: argparse._ArgumentGroup) -> None:
    link = LinkSettings()
    workers.add_argument("--grpc-keepalive-time-secs", type=float, default=link.keepalive_time_secs,
                         help="PING a worker connection that was quiet this long while calls are open; a worker's "
                              "GOAWAY too_many_pings doubles it")
    workers.add_argument("--grpc-keepalive-timeout-secs", type=float, default=link.keepalive_timeout_secs,
                         help="a keepalive PING not answered within this ends the connection (its calls are retried "
                              "where safe)")
    workers.add_argument("--grpc-keepalive-permit-without-calls", action="store_true",
                         help="PING idle worker connections too (the worker must permit it, or it answers GOAWAY "
                              "too_many_pings)")
    workers.add_argument("--max-message-size", type=int, default=link.max_message_size, metavar="BYTES",
                         help="largest gRPC message to or from a worker, on both transports")


def _add_routing(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("routing policy")
    g.add_argument("--policy", default="cache_aware",
                   help="how a worker is chosen: random, round_robin, power_of_two, least_load, cache_aware, "
                        "kv_aware, consistent_hashing, prefix_hash, or a plugin's (see docs/routing.md)")
    g.add_argument("--cache-threshold", type=float, default=0.3,
                   help="cache_aware: minimum prefix match ratio to follow the cache")
    g.add_argument("--balance-abs-threshold", type=int, default=64,
                   help="cache_aware: load gap (requests) above which load balancing wins")
    g.add_argument("--balance-rel-threshold", type=float, default=1.5,
                   help="cache_aware: load ratio above which load balancing wins")
    g.add_argument("--eviction-interval-secs", type=float, default=120.0, help="cache_aware: accepted, unused "
                   "(eviction happens on insert)")
    g.add_argument("--max-tree-size", type=int, default=2 ** 24, help="cache_aware: tokens kept per worker")
    g.add_argument("--prefix-token-count", type=int, default=256, help="prefix_hash: prompt tokens hashed")
    g.add_argument("--block-size", type=int, default=16,
                   help="kv_aware: tokens per KV block (the worker's --page-size) until its KV events say")
    g.add_argument("--routing-key-headers", nargs="*", default=["x-smg-routing-key"],
                   help="headers read, in order, for consistent_hashing's key")
    g.add_argument("--load-monitor-interval", type=float, default=10.0,
                   help="seconds between GetLoads polls, and LoRA adapter listings (0 = off)")
    g.add_argument("--lora-load-on-demand", action="store_true",
                   help="a request for an adapter no worker holds any more loads it on the least-loaded worker "
                        "first (adapters loaded through /v1/load_lora_adapter; others are a 404)")


def _add_reliability(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("reliability")
    g.add_argument("--request-timeout-secs", type=float, default=1800.0,
                   help="end-to-end bound on a request, a hung worker stream included")
    g.add_argument("--retry-max-retries", type=int, default=5, help="retries before the first token")
    g.add_argument("--retry-initial-backoff-ms", type=int, default=50, help="first retry delay")
    g.add_argument("--retry-max-backoff-ms", type=int, default=30_000, help="largest retry delay")
    g.add_argument("--retry-backoff-multiplier", type=float, default=1.5, help="delay growth per retry")
    g.add_argument("--retry-jitter-factor", type=float, default=0.2, help="± fraction of random jitter")
    g.add_argument("--disable-retries", action="store_true", help="never retry")
    g.add_argument("--cb-failure-threshold", type=int, default=10, help="worker failures that open its breaker")
    g.add_argument("--cb-success-threshold", type=int, default=3, help="probe successes that close it")
    g.add_argument("--cb-timeout-duration-secs", type=float, default=60.0, help="open time before a probe")
    g.add_argument("--cb-window-duration-secs", type=float, default=120.0, help="window failures are counted in")
    g.add_argument("--disable-circuit-breaker", action="store_true", help="no circuit breakers")
    g.add_argument("--health-check-interval-secs", type=float, default=60.0, help="seconds between health checks")
    g.add_argument("--health-check-timeout-secs", type=float, default=5.0, help="health check RPC timeout")
    g.add_argument("--health-failure-threshold", type=int, default=3, help="failed checks that mark unhealthy")
    g.add_argument("--health-success-threshold", type=int, default=2, help="passed checks that mark healthy")
    g.add_argument("--disable-health-check", action="store_true", help="no background health checks")
    g.add_argument("--shutdown-grace-period-secs", type=float, default=180.0,
                   help="on shutdown, how long in-flight requests may finish")


def _add_admission(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("admission")
    g.add_argument("--max-concurrent-requests", type=int, default=-1,
                   help="generation and tokenize requests running at once (-1 = from the host's cores, "
                        "0 = unlimited)")
    g.add_argument("--queue-size", type=int, default=100, help="requests that may wait for a slot")
    g.add_argument("--queue-timeout-secs", type=float, default=60.0, help="longest wait in the queue (then 408)")
    g.add_argument("--rate-limit-tokens-per-second", type=float, default=None,
                   help="requests per second admitted (token bucket; then 429)")


def _add_connections(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("client connections (docs/operations.md)")
    g.add_argument("--header-read-timeout-secs", type=float, default=30.0,
                   help="a connection must send a complete request head within this long of being accepted "
                        "(a keep-alive one: of its next request's first byte); else 408 and closed (0 = off)")
    g.add_argument("--idle-connection-timeout-secs", type=float, default=90.0,
                   help="close a keep-alive connection with no request in flight for this long; keep it above "
                        "the idle timeout of a proxy in front (0 = keep until the client closes)")
    g.add_argument("--max-request-header-bytes", type=int, default=64 * 1024,
                   help="largest request head (request line and headers); larger is 431 and closed")
    g.add_argument("--max-request-headers", type=int, default=100, help="most header lines; more is 431 and closed")
    g.add_argument("--stream-body-stall-timeout-secs", type=float, default=300.0,
                   help="a request body that sends no bytes for this long is answered 408 (0 = off); "
                        "admission is taken only once the body is in")
    g.add_argument("--sse-keepalive-secs", type=float, default=15.0,
                   help="send an SSE comment on a stream quiet this long, before the first token too "
                        "(then the 200 goes out and a later failure is an error event) (0 = none)")
    g.add_argument("--max-buffered-request-bytes", type=int, default=1024 * 1024,
                   help="accepted for smg command lines, no effect: every request is parsed here, so its body is "
                        "read whole (bounded by --max-payload-size)")


def _add_observability(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("observability")
    g.add_argument("--prometheus-host", default="127.0.0.1", help="address of the metrics listener")
    g.add_argument("--prometheus-port", type=int, default=None, help="port of the metrics listener (unset = off)")
    g.add_argument("--request-id-headers", nargs="*", default=["x-request-id"],
                   help="headers read, in order, for a client's request id")
    g.add_argument("--log-json", action="store_true", help="one JSON object per log line")
    g.add_argument("--log-dir", type=Path, default=None, help="also write rotating log files here")
    g.add_argument("--enable-trace", action="store_true",
                   help="export OpenTelemetry traces (a span per request, child spans per stage) over OTLP")
    g.add_argument("--otlp-traces-endpoint", default=None, metavar="URL",
                   help="the OTLP collector: host:port or http(s)://host:port (default localhost:4317 for grpc, "
                        "localhost:4318 for http/protobuf); nothing is sent without --enable-trace")
    g.add_argument("--otlp-traces-protocol", choices=["grpc", "http/protobuf"], default="grpc",
                   help="OTLP transport to the collector")
    g.add_argument("--trace-sampling-ratio", type=float, default=1.0, metavar="RATIO",
                   help="share of new traces recorded, 0 to 1 (a client's sampled traceparent is followed)")


def _add_security(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("auth and limits")
    g.add_argument("--api-key", default=None, help="clients must send Authorization: Bearer KEY")
    g.add_argument("--control-plane-api-keys", nargs="*", default=[],
                   help="further keys accepted on control-plane endpoints (/workers, /parse/...): KEY (admin), "
                        "or smg's ID:NAME:ROLE:KEY with ROLE admin or user (docs/security.md)")
    g.add_argument("--max-payload-size", type=int, default=DEFAULT_MAX_PAYLOAD_SIZE,
                   help="largest request body (bytes): 32 MiB holds a full 128k-token conversation with tools "
                        "and images as data URLs (docs/operations.md#limits)")
    g.add_argument("--max-stop-bytes", type=int, default=RequestLimits().max_stop_bytes,
                   help="longest stop string a request may send (UTF-8 bytes); the gateway matches stops itself")
    g.add_argument("--max-total-stop-bytes", type=int, default=RequestLimits().max_total_stop_bytes,
                   help="most bytes of stop strings one request may send, all together")
    g.add_argument("--cors-allowed-origins", nargs="*", default=[], help="origins allowed by CORS")
    _add_identity(p)


def _add_identity(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("identities, roles, tenant limits, audit (docs/security.md)")
    g.add_argument("--tenant-api-key", action="extend", nargs="+", default=[], metavar="TENANT:KEY",
                   help="keys of tenants (repeatable): a user of that tenant on inference routes; its "
                        "stored responses and conversations belong to the tenant")
    g.add_argument("--tenant-api-keys-file", type=Path, default=None, metavar="FILE",
                   help="tenant keys, one TENANT:KEY or TENANT:sha256:HEX a line, re-read when the file changes")
    g.add_argument("--jwt-issuer", default=None, metavar="URL",
                   help="accept JWT bearer tokens from this OIDC issuer (its `iss`), on every route")
    g.add_argument("--jwt-audience", default=None, help="the `aud` tokens must hold (unset: not checked)")
    g.add_argument("--jwt-jwks-uri", default=None, metavar="URL",
                   help="the issuer's JWKS (default: the jwks_uri of its /.well-known/openid-configuration)")
    g.add_argument("--jwt-tenant-claim", default="tenant", help="the claim naming the caller's tenant")
    g.add_argument("--jwt-role-claim", default="roles", help="the claim listing the caller's groups or roles")
    g.add_argument("--jwt-role-mapping", nargs="*", default=[], metavar="GROUP=ROLE",
                   help="grant ROLE (admin or user) to tokens whose role claim holds GROUP; every valid token "
                        "is a user")
    g.add_argument("--audit-log", type=Path, default=None, metavar="FILE",
                   help="append a JSON line for every control-plane request, refused ones too (never a secret)")
    g.add_argument("--tenant-rate-limit-config", type=Path, default=None, metavar="FILE",
                   help="per-tenant limits, YAML or JSON: {tenants: {NAME: {requests_per_second, "
                        "max_concurrent_requests, priority}}}; tenants not listed are not limited; a higher "
                        "priority is admitted first from the queue")
    g.add_argument("--tenant-metrics-max-labels", type=int, default=20,
                   help="tenants with their own `tenant` metrics label (first seen, plus those of the limits "
                        "file); the rest are `other`")


def _add_history(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("history storage (/v1/responses, /v1/conversations; docs/responses.md)")
    defaults = HistoryConfig()  # memory unless --workers N (cli_config.py)
    g.add_argument("--history-backend", default=None, choices=["memory", "none", "sqlite", "postgres"],
                   help="where responses and conversations are kept: memory (this process, bounded), none "
                        "(nothing kept), sqlite (one file), postgres (shared by several gateways); unset: memory, "
                        "or none with --workers N (memory is refused there: each process would keep its own)")
    g.add_argument("--history-memory-max-responses", type=int, default=defaults.memory_max_responses,
                   help="memory: responses kept, and conversations; past this the oldest is dropped")
    g.add_argument("--history-memory-retention-secs", type=float, default=defaults.memory_retention_secs,
                   help="memory: responses and idle conversations older than this are dropped (0 = kept until "
                        "evicted)")
    g.add_argument("--history-sqlite-path", type=Path, default=defaults.sqlite_path,
                   help="sqlite: the database file (created if missing)")
    g.add_argument("--postgres-db-url", default=None, metavar="URL",
                   help="postgres: the database, as postgresql://user@host:port/dbname")
    g.add_argument("--postgres-pool-max", "--postgres-pool-max-size", type=int, default=defaults.postgres_pool_max,
                   help="postgres: most connections the gateway holds (and store calls it runs at once); "
                        "--postgres-pool-max-size is smg's name")
    g.add_argument("--postgres-wait-secs", type=float, default=defaults.postgres_wait_secs,
                   help="postgres: how long a call waits for a connection before answering 503 (an outage), "
                        "and the longest pause between reconnection attempts")
    g.add_argument("--storage-context-headers", nargs="*", default=[], metavar="HEADER[=KEY]",
                   help="headers whose values, when present, own stored objects instead of the API key (for a "
                        "trusted proxy that sets a tenant or user header; smg's header=context_key form)")


def _add_responses(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("responses (/v1/responses; docs/responses.md)")
    g.add_argument("--max-background-responses", type=int, default=GatewayConfig().max_background_responses,
                   help="background responses (background: true) running at once; more are answered 429")


def _add_mcp(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("MCP tool loop (/v1/responses `mcp` tools; docs/mcp.md)")
    defaults = McpSettings()
    g.add_argument("--mcp-config-path", type=Path, default=None, metavar="FILE",
                   help="static MCP servers (YAML or JSON in smg's shape: servers with name, protocol stdio|sse|"
                        "streamable, command/args/envs or url/token/headers), connected at start")
    g.add_argument("--mcp-allowed-hosts", nargs="*", default=[], metavar="HOST[:PORT]",
                   help="hosts a request's own MCP server_url may name (default: none; a request may then use only "
                        "the configured servers)")
    g.add_argument("--mcp-tool-timeout-secs", type=float, default=defaults.tool_timeout_secs,
                   help="longest an MCP tool call may take; past it the call fails and the model is told")
    g.add_argument("--mcp-max-iterations", type=int, default=defaults.max_iterations,
                   help="most model generations in one response's tool loop; past it the response is incomplete")


def _add_pd(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("prefill/decode disaggregation")
    g.add_argument("--pd-disaggregation", action="store_true",
                   help="route each request to a prefill and a decode worker")
    g.add_argument("--prefill", nargs="+", action="append", default=[], metavar="URL [BOOTSTRAP_PORT]",
                   help="a prefill worker and its KV bootstrap port (repeat for more)")
    g.add_argument("--decode", action="append", default=[], metavar="URL", help="a decode worker (repeat for more)")
    g.add_argument("--prefill-policy", default=None, help="policy for prefill workers (default: --policy)")
    g.add_argument("--decode-policy", default=None, help="policy for decode workers (default: --policy)")


def _add_discovery(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("service discovery (docs/discovery.md)")
    g.add_argument("--service-discovery", action="store_true",
                   help="find workers as Kubernetes pods by label selector (list + watch); in-cluster config, "
                        "else $KUBECONFIG")
    g.add_argument("--discovery-provider", choices=["kubernetes", "file"], default=None,
                   help="smg's spelling: kubernetes is --service-discovery, file needs --discovery-file")
    g.add_argument("--selector", nargs="+", default=[], metavar="KEY=VALUE",
                   help="labels of the regular workers' pods")
    g.add_argument("--prefill-selector", nargs="+", default=[], metavar="KEY=VALUE",
                   help="labels of the prefill workers' pods (with --pd-disaggregation)")
    g.add_argument("--decode-selector", nargs="+", default=[], metavar="KEY=VALUE",
                   help="labels of the decode workers' pods (with --pd-disaggregation)")
    g.add_argument("--service-discovery-namespace", default=None,
                   help="namespace to watch (default: all namespaces, which needs a ClusterRole)")
    g.add_argument("--service-discovery-port", type=int, default=80,
                   help="the workers' port on each pod IP")
    g.add_argument("--service-discovery-protocol", choices=["grpc", "http"], default="grpc",
                   help="how discovered pods are reached (a pod's sglang.ai/protocol annotation wins)")
    g.add_argument("--bootstrap-port-annotation", default=BOOTSTRAP_PORT_ANNOTATION,
                   help="pod annotation holding a prefill worker's KV bootstrap port")
    g.add_argument("--discovery-file", type=Path, default=None, metavar="PATH",
                   help="JSON or YAML list of POST /workers bodies (or smg's {version: 1, workers: [...]}), "
                        "read again when it changes")
    g.add_argument("--discovery-check-interval-secs", type=float, default=DiscoveryConfig().check_interval_secs,
                   help="how often the discovery file is checked, and wanted-but-missing workers registered again")
    g.add_argument("--remove-unhealthy-workers", action="store_true",
                   help="drain and remove a worker past --health-failure-threshold (discovery adds it back "
                        "when it answers again)")


def _add_render(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("render", help="render chat requests from stdin to prompt text and ids",
                       description="Read a chat request (JSON) on stdin and print {\"prompt\", \"input_ids\"}: "
                                   "the same code path the server uses, for debugging templates.")
    p.add_argument("--model-path", required=True, help="tokenizer folder (or tokenizer.json / cached HF id)")
    p.add_argument("--chat-template", type=Path, default=None, help="a .jinja file or a JSON with chat_template")
    p.add_argument("--jsonl", action="store_true", help="one request per line, one result line each")


def _add_serve(sub: argparse._SubParsersAction) -> None:
    from sglang_gw.serve import DEFAULT_WORKER_CMD

    p = sub.add_parser("serve", help="start N workers and the gateway together",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                       description="Start --dp-size workers on free ports and the gateway in front of them; stop "
                                   "them all on shutdown. Flags not listed here go to every worker unchanged "
                                   "(--model-path, --tp-size, ...); gateway flags are given as --router-X for "
                                   "`launch`'s --X (--router-policy cache_aware).")
    p.add_argument("--dp-size", type=int, default=1, help="how many workers to start")
    p.add_argument("--worker-cmd", default=DEFAULT_WORKER_CMD,
                   help="the command that starts one worker (--host and --port are appended; a leading "
                        "`python` is this interpreter)")
    p.add_argument("--connection-mode", choices=["grpc", "http"], default="grpc",
                   help="how the gateway speaks to the workers: grpc (--grpc-mode is added to the worker "
                        "command) or http (SGLang's HTTP API; --grpc-mode is taken out)")
    p.add_argument("--worker-host", default="127.0.0.1", help="address the workers listen on")
    p.add_argument("--host", default="127.0.0.1", help="address the gateway listens on")
    p.add_argument("--port", type=int, default=30000, help="port the gateway listens on")
    p.add_argument("--worker-startup-timeout-secs", type=float, default=600.0,
                   help="how long to wait for the workers to come up (loading a model takes a while)")
    p.add_argument("--worker-stop-timeout-secs", type=float, default=10.0,
                   help="after SIGTERM, how long workers get to exit before their process groups are killed")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sglang-gw", description="OpenAI-compatible gateway for SGLang gRPC workers")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_launch(sub)
    _add_render(sub)
    _add_serve(sub)
    return parser
