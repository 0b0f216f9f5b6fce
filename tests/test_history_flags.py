"""The history flags: what they build, and the combinations refused at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from sglang_gw.cli import main, parse_args
from sglang_gw.cli_config import config_from_args
from sglang_gw.history import HistoryConfig

WORKER = ["--worker-urls", "grpc://127.0.0.1:1"]


@pytest.fixture(autouse=True)
def no_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SGLANG_GW_PLUGINS", "")


def test_the_default_is_a_bounded_memory_store() -> None:
    assert config_from_args(parse_args(["launch", *WORKER])).history == HistoryConfig()


def test_history_flags_reach_the_configuration(tmp_path: Path) -> None:
    args = parse_args(["launch", *WORKER, "--history-backend", "none", "--history-memory-max-responses", "7",
                       "--history-memory-retention-secs", "0", "--history-sqlite-path", str(tmp_path / "h.db"),
                       "--postgres-pool-max", "3", "--storage-context-headers", "x-tenant-id=tenant", "x-user"])
    history = config_from_args(args).history
    assert history == HistoryConfig(backend="none", memory_max_responses=7, memory_retention_secs=None,
                                    sqlite_path=tmp_path / "h.db", postgres_pool_max=3,
                                    context_headers=(("x-tenant-id", "tenant"), ("x-user", "x-user")))


def test_memory_with_several_processes_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["launch", *WORKER, "--workers", "2", "--history-backend", "memory"]) == 2
    err = capsys.readouterr().err
    assert "--history-backend memory" in err and "--workers 2" in err and "sqlite or postgres" in err


def test_several_processes_keep_no_history_unless_told(tmp_path: Path) -> None:
    """An unset backend with --workers N is none, not memory: a command line that never used
    the history APIs keeps starting, and nothing is lost silently (a continuation is a 404)."""
    assert config_from_args(parse_args(["launch", *WORKER, "--workers", "2"])).history.backend == "none"
    shared = parse_args(["launch", *WORKER, "--workers", "2", "--history-backend", "sqlite"])
    assert config_from_args(shared).history.backend == "sqlite"


def test_postgres_needs_its_url(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["launch", *WORKER, "--history-backend", "postgres"]) == 2
    assert "--postgres-db-url" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--history-memory-max-responses", "0"], ["--postgres-pool-max", "0"],
                                  ["--history-memory-retention-secs", "-1"], ["--storage-context-headers", "=k"]])
def test_bad_history_flags_fail_at_start(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["launch", *WORKER, *argv]) == 2
    assert capsys.readouterr().err.strip()
