"""What `--service-discovery`, `--discovery-file` and `--remove-unhealthy-workers` ask for."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sglang_gw.errors import ConfigError

__all__ = ["BOOTSTRAP_PORT_ANNOTATION", "PROTOCOL_ANNOTATION", "DiscoveryConfig", "KubernetesConfig"]

BOOTSTRAP_PORT_ANNOTATION = "sglang.ai/bootstrap-port"  # smg's default annotation
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
PROTOCOL_ANNOTATION = "sglang.ai/protocol"  # "grpc" or "http", per pod, over --service-discovery-protocol

Selector = tuple[tuple[str, str], ...]


def parse_selector(pairs: list[str] | tuple[str, ...], flag: str) -> Selector:
    """`k=v` pairs (smg's spelling) as a sorted tuple; anything else is a start-up error."""
    out = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"{flag} takes key=value pairs, got {pair!r}")
        out.append((key.strip(), value.strip()))
    return tuple(sorted(out))


@dataclass(slots=True, frozen=True)
class KubernetesConfig:
    """Pods to watch: each selector is one pool (regular, prefill, decode)."""

    selector: Selector = ()
    prefill_selector: Selector = ()
    decode_selector: Selector = ()
    namespace: str | None = None  # None: all namespaces (needs a ClusterRole)
    port: int = 80  # the workers' port on each pod IP (smg's default)
    protocol: str = "grpc"  # or "http" (OpenAI-compatible workers)
    bootstrap_port_annotation: str = BOOTSTRAP_PORT_ANNOTATION
    kubeconfig: str | None = None  # None: in-cluster config if there is one, else $KUBECONFIG / ~/.kube/config
    service_account_dir: str = SERVICE_ACCOUNT_DIR  # in-cluster: the pod's token and CA certificate
    watch_timeout_secs: int = 300  # the API server ends each watch after this; it is resumed at once
    backoff_initial_secs: float = 0.5
    backoff_max_secs: float = 30.0

    def __post_init__(self) -> None:
        if not (self.selector or self.prefill_selector or self.decode_selector):
            raise ConfigError("--service-discovery needs --selector, or --prefill-selector and --decode-selector")
        if bool(self.prefill_selector) != bool(self.decode_selector):
            raise ConfigError("--prefill-selector and --decode-selector go together")
        if not 0 < self.port < 65536:
            raise ConfigError(f"--service-discovery-port must be a port number, got {self.port}")
        if self.protocol not in ("grpc", "http"):
            raise ConfigError(f"--service-discovery-protocol must be grpc or http, got {self.protocol!r}")

    def pools(self) -> list[tuple[str, Selector]]:
        """(worker_type, selector) for each pool to watch."""
        named = (("regular", self.selector), ("prefill", self.prefill_selector), ("decode", self.decode_selector))
        return [(kind, sel) for kind, sel in named if sel]


@dataclass(slots=True, frozen=True)
class DiscoveryConfig:
    kubernetes: KubernetesConfig | None = None
    file: Path | None = None  # --discovery-file: JSON or YAML list of POST /workers bodies
    check_interval_secs: float = 10.0  # file polling, and re-adding wanted workers that are missing
    remove_unhealthy_workers: bool = False

    def __post_init__(self) -> None:
        if not self.check_interval_secs > 0:
            raise ConfigError("--discovery-check-interval-secs must be positive")

    @property
    def enabled(self) -> bool:
        return self.kubernetes is not None or self.file is not None
