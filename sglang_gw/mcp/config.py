"""MCP settings, and the static servers of `--mcp-config-path` in smg's shape.

The file is YAML (JSON is YAML too) with a list of servers::

    servers:
      - name: calc                    # what a request names as `server_label`
        protocol: stdio               # stdio | sse | streamable
        command: python
        args: ["-m", "calc_server"]
        envs: {LOG_LEVEL: warning}
      - name: search
        protocol: streamable
        url: https://mcp.internal/mcp
        token: ${SEARCH_TOKEN}        # sent as `Authorization: Bearer …`
        headers: {X-Team: infra}

`${VAR}` in a `token`, a header value or an env value is read from the gateway's
environment, so secrets stay out of the file. smg's `proxy`, `pool`, `inventory` and
`warmup` sections are accepted and ignored (logged); anything else is a start-up error.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from sglang_gw.errors import ConfigError

__all__ = ["PROTOCOLS", "McpSettings", "ServerSpec", "load_mcp_config"]

log = logging.getLogger(__name__)

PROTOCOLS = ("stdio", "sse", "streamable")
_IGNORED_SECTIONS = {"proxy", "pool", "inventory", "warmup"}
_SERVER_KEYS = {"name", "protocol", "command", "args", "envs", "url", "token", "headers", "required", "proxy"}
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(slots=True, frozen=True)
class ServerSpec:
    """How to reach one MCP server: a command (stdio) or a URL (sse, streamable)."""

    name: str
    protocol: str
    command: str = ""
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    url: str = ""
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # may hold secrets
    required: bool = False

    @property
    def key(self) -> tuple[object, ...]:
        """Sessions are shared by specs with equal keys (same server, same credentials)."""
        return (self.protocol, self.command, self.args, self.env, self.url, self.headers)


@dataclass(slots=True, frozen=True)
class McpSettings:
    servers: tuple[ServerSpec, ...] = ()
    allowed_hosts: tuple[str, ...] = ()  # host or host:port a request's server_url may name
    tool_timeout_secs: float = 60.0
    max_iterations: int = 10  # model turns of one response's tool loop
    connect_timeout_secs: float = 10.0
    max_dynamic_sessions: int = 64  # per-request servers kept open (least recently used closed first)
    dynamic_idle_secs: float = 300.0  # a per-request server's session unused this long is closed


def _expand(value: object, where: str) -> str:
    text = str(value)

    def var(m: re.Match[str]) -> str:
        if m.group(1) not in os.environ:
            raise ConfigError(f"{where} uses ${{{m.group(1)}}}, which is not set in the environment")
        return os.environ[m.group(1)]

    return _VAR.sub(var, text)


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a mapping")
    return value


def _server(raw: Any, i: int) -> ServerSpec:
    where = f"servers[{i}]"
    raw = _mapping(raw, where)
    unknown = sorted(set(raw) - _SERVER_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown keys {', '.join(unknown)}; valid: {', '.join(sorted(_SERVER_KEYS))}")
    name, protocol = raw.get("name"), raw.get("protocol")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}.name must be a non-empty string")
    if protocol not in PROTOCOLS:
        raise ConfigError(f"{where}.protocol must be one of {', '.join(PROTOCOLS)}; got {protocol!r}")
    headers = {str(k): _expand(v, f"{where}.headers.{k}") for k, v in _mapping(raw.get("headers"), where).items()}
    if raw.get("token"):
        headers["Authorization"] = "Bearer " + _expand(raw["token"], f"{where}.token")
    env = tuple((str(k), _expand(v, f"{where}.envs.{k}")) for k, v in _mapping(raw.get("envs"), where).items())
    if protocol == "stdio":
        if not isinstance(raw.get("command"), str) or not raw["command"]:
            raise ConfigError(f"{where}: a stdio server needs `command`")
        return ServerSpec(name=name, protocol=protocol, command=raw["command"],
                          args=tuple(str(a) for a in raw.get("args") or ()), env=env,
                          required=bool(raw.get("required", False)))
    url = raw.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}: a {protocol} server needs an http(s) `url`")
    return ServerSpec(name=name, protocol=protocol, url=url, headers=tuple(headers.items()),
                      required=bool(raw.get("required", False)))


def load_mcp_config(path: str | Path) -> tuple[ServerSpec, ...]:
    """The static servers of a config file; every mistake is a ConfigError naming its place."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as err:
        raise ConfigError(f"--mcp-config-path {path}: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"--mcp-config-path {path}: not valid YAML or JSON: {err}") from None
    data = _mapping(data, f"--mcp-config-path {path}")
    unknown = sorted(set(data) - _IGNORED_SECTIONS - {"servers"})
    if unknown:
        raise ConfigError(f"--mcp-config-path {path}: unknown sections {', '.join(unknown)}")
    for section in sorted(_IGNORED_SECTIONS & set(data)):
        log.info("--mcp-config-path: the %r section is not used by this gateway", section)
    servers = data.get("servers") or []
    if not isinstance(servers, list):
        raise ConfigError(f"--mcp-config-path {path}: `servers` must be a list")
    specs = tuple(_server(raw, i) for i, raw in enumerate(servers))
    names = [s.name for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"--mcp-config-path {path}: server names must be unique; repeated: {', '.join(dupes)}")
    return specs
