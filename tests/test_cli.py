"""Start-up checks of the command line."""

from __future__ import annotations

import pytest

from sglang_gw.cli import main


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


def test_limit_flags_reach_the_configuration(capsys) -> None:
    from sglang_gw.cli_config import config_from_args
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
