"""Logging set-up: plain or JSON lines, optional rotating files, the request id on every line.

:func:`setup_logging` is called once at start-up. Every record passes a filter that copies
the current request id (the :data:`REQUEST_ID` context variable, set by the request-id
middleware for the life of one HTTP request, and inherited by the tasks it starts) onto the
record, so a line logged anywhere while serving a request names that request. uvicorn's own
loggers are emptied and propagate to the same handlers (pass ``log_config=None`` to
``uvicorn.Config`` so it does not install its own).

What may be logged:

- **API keys and worker keys: never**, at any level. Log that a key was given, not its value.
- **Prompts, messages and generated text: only at debug.** Code that wants to show one goes
  through :func:`loggable_text`, which returns the text when the logger is enabled for
  DEBUG and only its length otherwise.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from logging.handlers import RotatingFileHandler
from pathlib import Path

from sglang_gw import tracing
from sglang_gw.errors import ConfigError

__all__ = [
    "LOG_FILE_NAME",
    "REQUEST_ID",
    "JsonFormatter",
    "PlainFormatter",
    "RequestIdFilter",
    "current_request_id",
    "loggable_text",
    "setup_logging",
]

REQUEST_ID: ContextVar[str | None] = ContextVar("sglang_gw_request_id", default=None)
LOG_FILE_NAME = "sglang-gw.log"
_UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "warning": logging.WARNING,
           "error": logging.ERROR, "critical": logging.CRITICAL}


def current_request_id() -> str | None:
    return REQUEST_ID.get()


def loggable_text(logger: logging.Logger, text: str) -> str:
    """``text`` itself when ``logger`` logs at DEBUG, else a placeholder with its length."""
    return text if logger.isEnabledFor(logging.DEBUG) else f"<{len(text)} chars>"


class RequestIdFilter(logging.Filter):
    """Puts ``request_id`` (``None`` outside a request) on every record, and the request's
    ``trace_id`` and ``span_id`` when it is traced (--enable-trace); never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        if tracing.ENABLED:
            trace = tracing.current()
            if trace is not None and trace.trace_id is not None:
                record.trace_id, record.span_id = trace.trace_id, trace.span_id
        return True


class PlainFormatter(logging.Formatter):
    """``2026-01-01 12:00:00,000 INFO sglang_gw.x [req-1]: message``"""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(request_tag)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        rid = getattr(record, "request_id", None)
        record.request_tag = f" [{rid}]" if rid else ""
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, trace_id and
    span_id (traced requests), exc_info."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None)
        if rid:
            line["request_id"] = rid
        trace_id = getattr(record, "trace_id", None)
        if trace_id:
            line["trace_id"], line["span_id"] = trace_id, record.span_id
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        # ensure_ascii off: messages stay readable; json still escapes control characters.
        return json.dumps(line, ensure_ascii=False, default=str)


def setup_logging(level: str | int, *, json_lines: bool = False, log_dir: Path | None = None,
                  max_bytes: int = 100 * 1024 * 1024, backup_count: int = 5) -> None:
    """Configure the root logger (and route uvicorn's loggers to it).

    ``level`` is a name (``debug``, ``info``, ``warn``/``warning``, ``error``) or a number.
    With ``log_dir``, lines also go to ``log_dir/sglang-gw.log``, rotated at ``max_bytes``
    with ``backup_count`` old files kept; the folder is created when missing.
    """
    numeric = _level(level)
    formatter: logging.Formatter = JsonFormatter() if json_lines else PlainFormatter()
    handlers: list[logging.Handler] = [_tag(logging.StreamHandler(sys.stderr))]
    if log_dir is not None:
        handlers.append(_tag(_file_handler(Path(log_dir), max_bytes, backup_count)))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_sglang_gw", False)]:
        root.removeHandler(old)
        old.close()
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(RequestIdFilter())  # on the handler: logger filters skip propagated records
        root.addHandler(handler)
    root.setLevel(numeric)
    for name in _UVICORN_LOGGERS:
        uv = logging.getLogger(name)
        uv.handlers.clear()
        uv.propagate = True
        uv.setLevel(logging.NOTSET)


def _level(level: str | int) -> int:
    if isinstance(level, int):
        return level
    try:
        return _LEVELS[level.lower()]
    except KeyError:
        raise ConfigError(f"unknown log level {level!r}; use one of {', '.join(_LEVELS)}") from None


def _file_handler(log_dir: Path, max_bytes: int, backup_count: int) -> RotatingFileHandler:
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        return RotatingFileHandler(log_dir / LOG_FILE_NAME, maxBytes=max_bytes, backupCount=backup_count,
                                   encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"--log-dir {log_dir}: cannot write log files there ({err.strerror or err})") from None


def _tag(handler: logging.Handler) -> logging.Handler:
    """Mark a handler as ours, so a second setup_logging call replaces it (tests do this)."""
    handler._sglang_gw = True  # type: ignore[attr-defined]
    return handler
