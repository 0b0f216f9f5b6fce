"""Start-up checks of the command line."""

from __future__ import annotations

import pytest

from sglang_gw.cli import main, parse_args
from sglang_gw.cli_config import config_from_args
from sglang_gw.workers.link import LinkSettings


@pytest.fixture(autouse=True)
def no_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """`main` loads plugins into process-wide registries: none here, so other tests see none."""
    monkeypatch.setenv("SGLANG_GW_PLUGINS", "")


@pytest.mark.parametrize(("flag", "valid"), [("--reasoning-parser", "deepseek_r1"), ("--tool-call-parser", "hermes"),
                                            ("--policy", "cache_aware")])
def test_unknown_parser_fails_at_start_listing_valid_names(flag: str, valid: str, capsys) -> None:
    assert main(["launch", flag, "no-such-parser", "--worker-urls", "grpc://127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert "no-such-parser" in err and valid in err


def test_provider_without_its_key_fails_naming_the_variable(capsys, monkeypatch) -> None:
    monkeypatch.delenv("CRUSOE_API_KEY", raising=False)
    assert main(["launch", "--provider", "crusoe"]) == 2
    assert "CRUSOE_API_KEY" in capsys.readouterr().err


def test_worker_link_flags_reach_the_link_settings() -> None:
    args = parse_args(["launch", "--worker-urls", "grpc://127.0.0.1:1", "--grpc-keepalive-time-secs", "7.5",
                       "--grpc-keepalive-timeout-secs", "3", "--grpc-keepalive-permit-without-calls",
                       "--max-message-size", "1048576"])
    link = config_from_args(args).link
    assert (link.keepalive_time_secs, link.keepalive_timeout_secs) == (7.5, 3.0)
    assert link.keepalive_permit_without_calls is True
    assert link.max_message_size == 1 << 20
    defaults = config_from_args(parse_args(["launch", "--worker-urls", "grpc://127.0.0.1:1"])).link
    assert defaults == LinkSettings()


@pytest.mark.parametrize("flag", ["--grpc-keepalive-time-secs", "--grpc-keepalive-timeout-secs",
                                  "--max-message-size"])
def test_a_non_positive_link_setting_fails_at_start(flag: str, capsys) -> None:
    assert main(["launch", "--worker-urls", "grpc://127.0.0.1:1", flag, "0"]) == 2
    assert flag in capsys.readouterr().err


def test_connection_flags_build_the_connection_config(tmp_path) -> None:
    from sglang_gw.config import ConnectionConfig

    defaults = config_from_args(parse_args(["launch", "--worker-urls", "grpc://w:1"])).connections
    assert defaults == ConnectionConfig()  # smg's defaults: 30 s, 90 s, 300 s, 15 s
    config_file = tmp_path / "gw.toml"
    config_file.write_text("sse-keepalive-secs = 0\nmax_request_headers = 50\n")
    args = parse_args(["launch", "--worker-urls", "grpc://w:1", "--config", str(config_file),
                       "--header-read-timeout-secs", "0", "--idle-connection-timeout-secs", "2.5",
                       "--stream-body-stall-timeout-secs", "0", "--max-request-header-bytes", "4096"])
    assert config_from_args(args).connections == ConnectionConfig(
        header_read_timeout_secs=None, idle_connection_timeout_secs=2.5, max_request_header_bytes=4096,
        max_request_headers=50, stream_body_stall_timeout_secs=None, sse_keepalive_secs=None)


@pytest.mark.parametrize("argv, message", [
    (["--header-read-timeout-secs", "-1"], "0 (off) or positive"),
    (["--max-request-headers", "0"], "max_request_headers"),
])
def test_bad_connection_flags_fail_at_start(argv: list[str], message: str, capsys) -> None:
    assert main(["launch", "--worker-urls", "grpc://w:1", *argv]) == 2
    assert message in capsys.readouterr().err


def test_limit_flags_reach_the_configuration(capsys) -> None:
    from sglang_gw.cli_flags import build_parser
    from sglang_gw.config import GatewayConfig

    args = ["launch", "--worker-urls", "grpc://127.0.0.1:1"]
    defaults = config_from_args(build_parser().parse_args(args))
    assert defaults.limits == GatewayConfig().limits
    assert defaults.security.max_payload_size == GatewayConfig().security.max_payload_size == 32 * 1024 * 1024
    raised = config_from_args(build_parser().parse_args(
        [*args, "--max-stop-bytes", "8", "--max-total-stop-bytes", "12", "--max-payload-size", "1000"]))
    assert (raised.limits.max_stop_bytes, raised.limits.max_total_stop_bytes) == (8, 12)
    assert raised.security.max_payload_size == 1000
    assert main([*args, "--max-stop-bytes", "0"]) == 2
    assert "stop-string limits" in capsys.readouterr().err
