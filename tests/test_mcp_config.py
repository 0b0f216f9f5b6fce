"""--mcp-config-path in smg's shape, the MCP flags, and which hosts a request may name."""

from __future__ import annotations

from pathlib import Path

import pytest

from sglang_gw.cli_config import config_from_args
from sglang_gw.cli_flags import build_parser
from sglang_gw.errors import ConfigError, InvalidRequestError
from sglang_gw.mcp import ServerSpec, checked_mcp_tools, load_mcp_config
from sglang_gw.mcp.servers import host_allowed

YAML = """
servers:
  - name: calc
    protocol: stdio
    command: python
    args: ["-m", "calc", 3]
    envs: {LEVEL: "${MCP_TEST_LEVEL}"}
  - name: search
    protocol: streamable
    url: https://mcp.internal/mcp
    token: ${MCP_TEST_TOKEN}
    headers: {X-Team: infra}
    required: true
pool: {max_connections: 10}
"""


def test_yaml_in_smgs_shape(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MCP_TEST_LEVEL", "warning")
    monkeypatch.setenv("MCP_TEST_TOKEN", "s3cret")
    path = tmp_path / "mcp.yaml"
    path.write_text(YAML)
    calc, search = load_mcp_config(path)
    assert calc == ServerSpec(name="calc", protocol="stdio", command="python", args=("-m", "calc", "3"),
                              env=(("LEVEL", "warning"),))
    assert (search.protocol, search.url, search.required) == ("streamable", "https://mcp.internal/mcp", True)
    assert dict(search.headers) == {"X-Team": "infra", "Authorization": "Bearer s3cret"}
    assert "s3cret" not in repr(search)  # headers hold secrets: never in logs


def test_json_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "mcp.json"
    path.write_text('{"servers": [{"name": "a", "protocol": "sse", "url": "http://h:1/sse"}]}')
    assert load_mcp_config(path)[0].protocol == "sse"


@pytest.mark.parametrize(("text", "says"), [
    ("servers: [{name: a, protocol: carrier-pigeon}]", "servers[0].protocol"),
    ("servers: [{name: a, protocol: stdio}]", "needs `command`"),
    ("servers: [{name: a, protocol: sse, url: 'ftp://x'}]", "http(s) `url`"),
    ("servers: [{name: a, protocol: sse, url: 'http://x', tokn: t}]", "unknown keys tokn"),
    ("servers: [{name: a, protocol: stdio, command: x}, {name: a, protocol: stdio, command: y}]", "repeated: a"),
    ("servers: [{name: a, protocol: sse, url: 'http://x', token: '${MCP_TEST_UNSET_VAR}'}]", "MCP_TEST_UNSET_VAR"),
    ("server: []", "unknown sections server"),
    ("servers: [oops", "not valid YAML"),
])
def test_mistakes_are_config_errors_naming_their_place(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "mcp.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_mcp_config(path)
    assert says in str(err.value)


def test_flags(tmp_path: Path) -> None:
    path = tmp_path / "mcp.yaml"
    path.write_text("servers: [{name: a, protocol: stdio, command: x}]")
    args = build_parser().parse_args(["launch", "--worker-urls", "grpc://127.0.0.1:1", "--mcp-config-path", str(path),
                                      "--mcp-allowed-hosts", "tools.internal", "10.0.0.5:8080",
                                      "--mcp-tool-timeout-secs", "5", "--mcp-max-iterations", "4"])
    mcp = config_from_args(args).mcp
    assert [s.name for s in mcp.servers] == ["a"]
    assert (mcp.allowed_hosts, mcp.tool_timeout_secs, mcp.max_iterations) == (("tools.internal", "10.0.0.5:8080"),
                                                                               5.0, 4)
    default = config_from_args(build_parser().parse_args(["launch", "--worker-urls", "grpc://127.0.0.1:1"])).mcp
    assert default.servers == () and default.allowed_hosts == ()
    bad = build_parser().parse_args(["launch", "--worker-urls", "grpc://127.0.0.1:1", "--mcp-max-iterations", "0"])
    with pytest.raises(ConfigError):
        config_from_args(bad)


@pytest.mark.parametrize(("url", "allowed", "ok"), [
    ("http://tools.internal/mcp", ("tools.internal",), True),
    ("https://TOOLS.internal:8443/mcp", ("tools.internal",), True),
    ("http://tools.internal:8080/mcp", ("tools.internal:8080",), True),
    ("http://tools.internal:8081/mcp", ("tools.internal:8080",), False),
    ("http://tools.internal/mcp", ("tools.internal:80",), True),  # the scheme's port
    ("https://tools.internal/mcp", ("tools.internal:80",), False),
    ("http://tools.internal@evil.example/mcp", ("tools.internal",), False),  # userinfo is not the host
    ("http://evil.example/?h=tools.internal", ("tools.internal",), False),
    ("http://[::1]:9000/mcp", ("[::1]:9000",), True),
    ("http://127.0.0.1:99999/mcp", ("127.0.0.1",), False),  # a port out of range
    ("http://tools.internal/mcp", (), False),  # the default: none
])
def test_allowed_hosts(url: str, allowed: tuple[str, ...], ok: bool) -> None:
    assert host_allowed(url, allowed) is ok


def test_request_tools_are_checked_before_anything_connects() -> None:
    static = {"calc": ServerSpec(name="calc", protocol="stdio", command="python")}
    tools = [{"type": "function", "name": "f"}, {"type": "mcp", "server_label": "calc"},
             {"type": "mcp", "server_label": "mine", "server_url": "https://tools.internal/sse",
              "authorization": "tok", "allowed_tools": {"tool_names": ["a"]}}]
    calc, mine = checked_mcp_tools(tools, static, ("tools.internal",))
    assert calc.static and calc.spec is static["calc"] and calc.allowed is None and calc.param == "tools[1]"
    assert (mine.static, mine.spec.protocol, mine.allowed) == (False, "sse", frozenset({"a"}))
    assert dict(mine.spec.headers) == {"Authorization": "Bearer tok"}
    with pytest.raises(InvalidRequestError) as err:
        checked_mcp_tools([{"type": "mcp", "server_label": "calc"}, {"type": "mcp", "server_label": "calc"}],
                          static, ())
    assert err.value.param == "tools[1].server_label"
    with pytest.raises(InvalidRequestError) as err:
        checked_mcp_tools([{"type": "mcp", "server_label": "x", "server_url": "http://a", "require_approval": "maybe"}],
                          static, ("a",))
    assert err.value.param.startswith("tools[0]")


def test_approval_rules() -> None:
    rule = {"always": {"tool_names": ["delete"]}, "never": {"tool_names": ["read"]}}
    server, = checked_mcp_tools([{"type": "mcp", "server_label": "s", "server_url": "http://a/mcp",
                                  "require_approval": rule}], {}, ("a",))
    assert [server.needs_approval(t) for t in ("delete", "read", "other")] == [True, False, False]
    always, = checked_mcp_tools([{"type": "mcp", "server_label": "s", "server_url": "http://a/mcp",
                                  "require_approval": "always"}], {}, ("a",))
    assert always.needs_approval("read")
