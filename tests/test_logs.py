"""setup_logging: JSON lines, the request id on each line, rotating files, uvicorn routed in."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from logging.handlers import RotatingFileHandler
from pathlib import Path

import pytest

from sglang_gw.errors import ConfigError
from sglang_gw.logs import LOG_FILE_NAME, REQUEST_ID, loggable_text, setup_logging

log = logging.getLogger("sglang_gw.test_logs")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    uvicorn = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).propagate, logging.getLogger(n).level)
               for n in ("uvicorn", "uvicorn.error", "uvicorn.access")}
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)
    for name, (old, propagate, uv_level) in uvicorn.items():
        logging.getLogger(name).handlers[:] = old
        logging.getLogger(name).propagate = propagate
        logging.getLogger(name).setLevel(uv_level)


def file_lines(log_dir: Path) -> list[str]:
    for handler in logging.getLogger().handlers:
        handler.flush()
    return (log_dir / LOG_FILE_NAME).read_text(encoding="utf-8").splitlines()


def test_json_lines_carry_the_request_id(tmp_path: Path) -> None:
    setup_logging("info", json_lines=True, log_dir=tmp_path)
    log.info("outside %s", "any request")
    token = REQUEST_ID.set("req-42")
    try:
        log.warning("inside %d", 7)
        try:
            raise ZeroDivisionError("division by zero")
        except ZeroDivisionError:
            log.exception("failed: ünïcode")
    finally:
        REQUEST_ID.reset(token)
    log.debug("below the level")
    outside, inside, failed = (json.loads(line) for line in file_lines(tmp_path))
    assert set(outside) == {"time", "level", "logger", "message"}
    assert outside["message"] == "outside any request" and outside["logger"] == "sglang_gw.test_logs"
    assert inside == {**inside, "level": "WARNING", "message": "inside 7", "request_id": "req-42"}
    assert inside["time"].endswith("+00:00")
    assert failed["request_id"] == "req-42" and failed["message"] == "failed: ünïcode"
    assert "ZeroDivisionError" in failed["exc_info"]


def test_plain_lines_tag_the_request_id(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("debug", json_lines=False)
    token = REQUEST_ID.set("req-7")
    try:
        log.debug("hello")
    finally:
        REQUEST_ID.reset(token)
    log.info("bye")
    err = capsys.readouterr().err.splitlines()
    assert err[-2].endswith("DEBUG sglang_gw.test_logs [req-7]: hello")
    assert err[-1].endswith("INFO sglang_gw.test_logs: bye")


def test_rotating_file_handler_rotates(tmp_path: Path) -> None:
    log_dir = tmp_path / "new" / "logs"
    setup_logging("info", log_dir=log_dir, max_bytes=300, backup_count=2)
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, RotatingFileHandler)]
    assert len(handlers) == 1 and handlers[0].maxBytes == 300 and handlers[0].backupCount == 2
    for i in range(30):
        log.info("line %d with some padding to fill the file", i)
    assert (log_dir / LOG_FILE_NAME).is_file() and (log_dir / f"{LOG_FILE_NAME}.1").is_file()
    assert not (log_dir / f"{LOG_FILE_NAME}.3").exists()


def test_setup_twice_replaces_its_own_handlers(tmp_path: Path) -> None:
    before = len(logging.getLogger().handlers)
    setup_logging("info", log_dir=tmp_path)
    setup_logging("warning", json_lines=True)
    assert len(logging.getLogger().handlers) == before + 1
    assert logging.getLogger().level == logging.WARNING


def test_uvicorn_goes_through_the_same_handlers(tmp_path: Path) -> None:
    logging.getLogger("uvicorn.error").addHandler(logging.NullHandler())
    setup_logging("info", json_lines=True, log_dir=tmp_path)
    logging.getLogger("uvicorn.error").info("Uvicorn running")
    (line,) = (json.loads(x) for x in file_lines(tmp_path))
    assert line["logger"] == "uvicorn.error" and line["message"] == "Uvicorn running"
    assert not logging.getLogger("uvicorn.error").handlers


def test_prompts_only_at_debug() -> None:
    setup_logging("info")
    assert loggable_text(log, "secret prompt") == "<13 chars>"
    setup_logging("debug")
    assert loggable_text(log, "secret prompt") == "secret prompt"


def test_bad_log_dir_and_level_are_config_errors(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="--log-dir"):
        setup_logging("info", log_dir=blocker)
    with pytest.raises(ConfigError, match="unknown log level"):
        setup_logging("loud")
    setup_logging("warn")
    assert logging.getLogger().level == logging.WARNING
