"""Parsed flags → the gateway's configuration tree, with start-up checks of names and keys."""

from __future__ import annotations

import argparse
import ssl
from pathlib import Path

from sglang_gw.admission import AdmissionConfig, max_concurrent_from_flag
from sglang_gw.config import (
    ConnectionConfig,
    DemoConfig,
    GatewayConfig,
    HistoryConfig,
    ModelConfig,
    ObservabilityConfig,
    PdConfig,
    RequestLimits,
    RetryConfig,
    RoutingConfig,
    SecurityConfig,
    ServerConfig,
)
from sglang_gw.discovery.config import DiscoveryConfig, KubernetesConfig, parse_selector
from sglang_gw.discovery.file import check_workers_file
from sglang_gw.errors import ConfigError
from sglang_gw.history.owner import parse_context_headers
from sglang_gw.identity.config import IdentityConfig, parse_role_mapping
from sglang_gw.identity.keys import SharedKeys, parse_tenant_key
from sglang_gw.identity.limits import load_tenant_limits
from sglang_gw.identity.tokens import JwtSettings
from sglang_gw.mcp.config import McpSettings, load_mcp_config
from sglang_gw.providers import resolve_provider
from sglang_gw.routing.base import PolicyConfig
from sglang_gw.tracing import TracingConfig
from sglang_gw.workers.breaker import BreakerConfig
from sglang_gw.workers.health import HealthConfig
from sglang_gw.workers.link import LinkSettings, TlsSettings
from sglang_gw.workers.tls import load_worker_tls

__all__ = ["config_from_args"]


def _pd_config(args: argparse.Namespace, discovery: DiscoveryConfig) -> PdConfig | None:
    if not args.pd_disaggregation:
        if args.prefill_selector or args.decode_selector:
            raise ConfigError("--prefill-selector and --decode-selector are for --pd-disaggregation")
        return None
    if (not args.prefill or not args.decode) and not discovery.enabled:
        raise ConfigError("--pd-disaggregation needs at least one --prefill and one --decode worker, "
                          "or discovery (--service-discovery, --discovery-file) to find them")
    prefill = []
    for entry in args.prefill:
        if len(entry) > 2 or (len(entry) == 2 and not entry[1].isdigit()):
            raise ConfigError(f"--prefill takes URL [BOOTSTRAP_PORT], got {' '.join(entry)}")
        prefill.append((entry[0], int(entry[1]) if len(entry) == 2 else None))
    return PdConfig(prefill=tuple(prefill), decode=tuple(args.decode), prefill_policy=args.prefill_policy,
                    decode_policy=args.decode_policy)


def _discovery_config(args: argparse.Namespace) -> DiscoveryConfig:
    provider = args.discovery_provider
    if provider == "file" and args.discovery_file is None:
        raise ConfigError("--discovery-provider file needs --discovery-file PATH")
    kubernetes = None
    if args.service_discovery or provider == "kubernetes":
        kubernetes = KubernetesConfig(
            selector=parse_selector(args.selector, "--selector"),
            prefill_selector=parse_selector(args.prefill_selector, "--prefill-selector"),
            decode_selector=parse_selector(args.decode_selector, "--decode-selector"),
            namespace=args.service_discovery_namespace, port=args.service_discovery_port,
            protocol=args.service_discovery_protocol, bootstrap_port_annotation=args.bootstrap_port_annotation)
    elif args.selector or args.prefill_selector or args.decode_selector:
        raise ConfigError("--selector, --prefill-selector and --decode-selector need --service-discovery")
    if args.discovery_file is not None:
        check_workers_file(args.discovery_file)  # unreadable or malformed: fail now, with a clean message
    return DiscoveryConfig(kubernetes=kubernetes, file=args.discovery_file,
                           check_interval_secs=args.discovery_check_interval_secs,
                           remove_unhealthy_workers=args.remove_unhealthy_workers)


def _default_demo_model() -> Path | None:
    from sglang_gw.testing.models import models_root
    folder = models_root() / "qwen3"
    return folder if (folder / "tokenizer.json").is_file() else None


def _check_parser_names(args: argparse.Namespace) -> None:
    """Unknown parser and policy names fail here, before anything starts, listing the valid ones."""
    from sglang_gw.parsers.reasoning import REASONING_PARSERS
    from sglang_gw.parsers.tools import TOOL_PARSERS
    from sglang_gw.routing import POLICIES

    for name in (args.policy, args.prefill_policy, args.decode_policy):
        if name:
            POLICIES.get(name)

    for name, registry in ((args.reasoning_parser, REASONING_PARSERS), (args.tool_call_parser, TOOL_PARSERS)):
        if name and name not in ("auto", "none"):
            registry.get(name)


def _link(args: argparse.Namespace) -> LinkSettings:
    tls = TlsSettings(ca_cert_paths=tuple(args.ca_cert_paths), client_cert_path=args.client_cert_path,
                      client_key_path=args.client_key_path)
    if tls != TlsSettings():
        load_worker_tls(tls)  # unreadable or mismatched files fail now, not at the first grpcs:// worker
    for flag in ("grpc_keepalive_time_secs", "grpc_keepalive_timeout_secs", "max_message_size"):
        if getattr(args, flag) <= 0:
            raise ConfigError(f"--{flag.replace('_', '-')} must be positive")
    return LinkSettings(transport=args.grpc_transport, tls=tls, keepalive_time_secs=args.grpc_keepalive_time_secs,
                        keepalive_timeout_secs=args.grpc_keepalive_timeout_secs,
                        keepalive_permit_without_calls=args.grpc_keepalive_permit_without_calls,
                        max_message_size=args.max_message_size, upstream_http2=args.upstream_http2)


def _listener_tls(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """--tls-cert-path and --tls-key-path, checked to load as uvicorn will load them."""
    cert, key = args.tls_cert_path, args.tls_key_path
    if cert is None and key is None:
        return None, None
    if cert is None or key is None:
        raise ConfigError("--tls-cert-path and --tls-key-path go together: give both to serve HTTPS")
    for flag, path in (("--tls-cert-path", cert), ("--tls-key-path", key)):
        try:
            Path(path).read_bytes()
        except OSError as err:
            raise ConfigError(f"{flag} {path}: cannot read it ({err.strerror or err})") from None
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key, password=lambda: b"")
    except (ssl.SSLError, ValueError) as err:
        raise ConfigError(f"--tls-cert-path {cert} and --tls-key-path {key}: not a PEM certificate and its "
                          f"unencrypted private key ({err})") from None
    return cert, key


def config_from_args(args: argparse.Namespace) -> GatewayConfig:
    _check_parser_names(args)
    providers = tuple((p.base_url, p.api_key) for p in (resolve_provider(name) for name in args.provider))
    discovery = _discovery_config(args)
    demo = None
    if not args.worker_urls and not args.pd_disaggregation and not providers and not discovery.enabled:
        demo = DemoConfig(model_path=args.demo_model or _default_demo_model(), mode=args.demo_mode,
                          token_delay=args.demo_token_delay)
    tls_cert, tls_key = _listener_tls(args)
    return GatewayConfig(
        server=ServerConfig(host=args.host, port=args.port, log_level=_level_name(args.log_level),
                            shutdown_grace_period_secs=args.shutdown_grace_period_secs,
                            processes=args.workers, tls_cert_path=tls_cert, tls_key_path=tls_key),
        model=ModelConfig(model_path=args.model_path, tokenizer_path=args.tokenizer_path,
                          chat_template=args.chat_template, served_model_name=args.served_model_name,
                          reasoning_parser=args.reasoning_parser, tool_call_parser=args.tool_call_parser,
                          tokenizer_fast_path=args.tokenizer_fast_path == "on"),
        worker_urls=tuple(args.worker_urls), provider_workers=providers, demo=demo,
        request_timeout_secs=args.request_timeout_secs,
        worker_startup_timeout_secs=args.worker_startup_timeout_secs, link=_link(args),
        retry=RetryConfig(max_retries=0 if args.disable_retries else args.retry_max_retries,
                          initial_backoff_ms=args.retry_initial_backoff_ms, max_backoff_ms=args.retry_max_backoff_ms,
                          backoff_multiplier=args.retry_backoff_multiplier, jitter_factor=args.retry_jitter_factor),
        routing=RoutingConfig(
            policy=args.policy, routing_key_headers=tuple(args.routing_key_headers),
            load_monitor_interval=args.load_monitor_interval, lora_load_on_demand=args.lora_load_on_demand,
            policy_config=PolicyConfig(
                cache_threshold=args.cache_threshold, balance_abs_threshold=args.balance_abs_threshold,
                balance_rel_threshold=args.balance_rel_threshold, eviction_interval_secs=args.eviction_interval_secs,
                max_tree_size=args.max_tree_size, prefix_token_count=args.prefix_token_count,
                block_size=args.block_size)),
        breaker=BreakerConfig(failure_threshold=args.cb_failure_threshold, success_threshold=args.cb_success_threshold,
                              timeout_duration_secs=args.cb_timeout_duration_secs,
                              window_duration_secs=args.cb_window_duration_secs,
                              enabled=not args.disable_circuit_breaker),
        health=HealthConfig(interval_secs=args.health_check_interval_secs, timeout_secs=args.health_check_timeout_secs,
                            failure_threshold=args.health_failure_threshold,
                            success_threshold=args.health_success_threshold, enabled=not args.disable_health_check),
        admission=AdmissionConfig(max_concurrent_requests=max_concurrent_from_flag(args.max_concurrent_requests),
                                  queue_size=args.queue_size, queue_timeout_secs=args.queue_timeout_secs,
                                  rate_limit_tokens_per_second=args.rate_limit_tokens_per_second),
        connections=_connection_config(args),
        pd=_pd_config(args, discovery),
        observability=ObservabilityConfig(prometheus_host=args.prometheus_host, prometheus_port=args.prometheus_port,
                                          request_id_headers=tuple(args.request_id_headers), log_json=args.log_json,
                                          log_dir=args.log_dir, tracing=_tracing_config(args)),
        security=SecurityConfig(api_key=args.api_key, control_plane_api_keys=_control_plane_keys(args),
                                max_payload_size=args.max_payload_size,
                                cors_allowed_origins=tuple(args.cors_allowed_origins),
                                identity=_identity_config(args)),
        limits=RequestLimits(max_stop_bytes=args.max_stop_bytes, max_total_stop_bytes=args.max_total_stop_bytes),
        history=_history_config(args),
        max_background_responses=_at_least_one(args.max_background_responses, "--max-background-responses"),
        mcp=_mcp_settings(args),
        discovery=discovery,
    )


def _tracing_config(args: argparse.Namespace) -> TracingConfig:
    try:
        return TracingConfig(enabled=args.enable_trace, endpoint=args.otlp_traces_endpoint,
                             protocol=args.otlp_traces_protocol, sampling_ratio=args.trace_sampling_ratio)
    except ValueError as err:
        raise ConfigError(str(err)) from None


def _control_plane_keys(args: argparse.Namespace) -> tuple[str, ...]:
    """The entries, checked now so that a malformed one stops the start (identity/keys.py)."""
    SharedKeys(None, args.control_plane_api_keys)
    return tuple(args.control_plane_api_keys)


def _identity_config(args: argparse.Namespace) -> IdentityConfig:
    jwt = None
    if args.jwt_issuer:
        jwt = JwtSettings(issuer=args.jwt_issuer, audience=args.jwt_audience, jwks_uri=args.jwt_jwks_uri,
                          tenant_claim=args.jwt_tenant_claim, role_claim=args.jwt_role_claim,
                          role_mapping=parse_role_mapping(args.jwt_role_mapping))
    elif args.jwt_audience or args.jwt_jwks_uri or args.jwt_role_mapping:
        raise ConfigError("--jwt-audience, --jwt-jwks-uri and --jwt-role-mapping need --jwt-issuer")
    limits = load_tenant_limits(args.tenant_rate_limit_config) if args.tenant_rate_limit_config else {}
    return IdentityConfig(tenant_api_keys=tuple(parse_tenant_key(e) for e in args.tenant_api_key),
                          tenant_api_keys_file=args.tenant_api_keys_file, jwt=jwt, audit_log=args.audit_log,
                          tenant_limits=tuple(limits.items()),
                          max_tenant_labels=max(0, args.tenant_metrics_max_labels))


def _mcp_settings(args: argparse.Namespace) -> McpSettings:
    if args.mcp_tool_timeout_secs <= 0:
        raise ConfigError("--mcp-tool-timeout-secs must be positive")
    servers = load_mcp_config(args.mcp_config_path) if args.mcp_config_path is not None else ()
    return McpSettings(servers=servers, allowed_hosts=tuple(args.mcp_allowed_hosts),
                       tool_timeout_secs=args.mcp_tool_timeout_secs,
                       max_iterations=_at_least_one(args.mcp_max_iterations, "--mcp-max-iterations"))


def _at_least_one(value: int, flag: str) -> int:
    if value < 1:
        raise ConfigError(f"{flag} must be at least 1")
    return value


def _history_backend(args: argparse.Namespace) -> str:
    """--history-backend, or when unset: memory for one process, none for several (their
    memories would not be shared, and a command line that never used the history APIs
    must keep starting)."""
    if args.history_backend is not None:
        return str(args.history_backend)
    return "none" if args.workers > 1 else "memory"


def _history_config(args: argparse.Namespace) -> HistoryConfig:
    from sglang_gw.history import HISTORY_BACKENDS

    backend = _history_backend(args)
    if backend == "postgres" and not args.postgres_db_url:
        raise ConfigError("--history-backend postgres needs --postgres-db-url postgresql://user@host:port/dbname")
    HISTORY_BACKENDS.get(backend)  # a backend not built yet fails here, listing the others
    if backend == "memory" and args.workers > 1:
        raise ConfigError("--history-backend memory keeps history inside one process, and with --workers "
                          f"{args.workers} a previous_response_id or conversation would often land on a process "
                          "that never saw it: use --history-backend sqlite or postgres (shared by all processes), "
                          "or none")
    if args.history_memory_max_responses < 1 or args.postgres_pool_max < 1:
        raise ConfigError("--history-memory-max-responses and --postgres-pool-max must be at least 1")
    if not args.postgres_wait_secs > 0:
        raise ConfigError("--postgres-wait-secs must be positive")
    if args.history_memory_retention_secs < 0:
        raise ConfigError("--history-memory-retention-secs must be 0 (kept until evicted) or positive")
    try:
        headers = parse_context_headers(args.storage_context_headers)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    return HistoryConfig(backend=backend, memory_max_responses=args.history_memory_max_responses,
                         memory_retention_secs=args.history_memory_retention_secs or None,
                         sqlite_path=args.history_sqlite_path, postgres_db_url=args.postgres_db_url,
                         postgres_pool_max=args.postgres_pool_max, postgres_wait_secs=args.postgres_wait_secs,
                         context_headers=headers)


def _connection_config(args: argparse.Namespace) -> ConnectionConfig:
    def off_if_zero(secs: float) -> float | None:
        if secs < 0:
            raise ConfigError(f"timeouts must be 0 (off) or positive, got {secs:g}")
        return secs or None

    return ConnectionConfig(
        header_read_timeout_secs=off_if_zero(args.header_read_timeout_secs),
        idle_connection_timeout_secs=off_if_zero(args.idle_connection_timeout_secs),
        max_request_header_bytes=args.max_request_header_bytes, max_request_headers=args.max_request_headers,
        stream_body_stall_timeout_secs=off_if_zero(args.stream_body_stall_timeout_secs),
        sse_keepalive_secs=off_if_zero(args.sse_keepalive_secs),
        max_buffered_request_bytes=args.max_buffered_request_bytes)


def _level_name(level: str) -> str:
    return "warning" if level == "warn" else level
