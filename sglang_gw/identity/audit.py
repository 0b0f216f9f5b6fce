"""The audit log of the control plane (``--audit-log FILE``): one JSON object per line for
every control-plane request, refused ones included::

    {"time": "2026-12-07T15:31:09.123Z", "request_id": "req-…", "who": {"kind": "jwt",
     "subject": "alice", "tenant": "team-a"}, "action": "POST /workers", "status": 201,
     "result": "allowed"}

``who`` holds names only (never a key, a token or a digest of one); a caller that proved no
identity is ``{"kind": "unauthenticated"}``. ``result`` is ``refused`` (401 or 403 at the
door), else ``allowed`` (answered below 400) or ``failed`` (the action ran and erred). The
file is opened for appending and each line flushed as written: control-plane calls are rare,
so a line's few microseconds of blocking write are not worth a writer thread.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from sglang_gw.errors import ConfigError
from sglang_gw.identity.principal import Identity

__all__ = ["UNAUTHENTICATED", "AuditLog"]

log = logging.getLogger(__name__)
UNAUTHENTICATED = {"kind": "unauthenticated"}


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._file: IO[str] = path.open("a", encoding="utf-8")
        except OSError as err:
            raise ConfigError(f"--audit-log {path}: {err}") from None
        self._lock = threading.Lock()  # one line at a time, whichever thread writes

    def record(self, *, who: Identity | None, method: str, path: str, status: int, refused: bool,
               request_id: str) -> None:
        line = {"time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "request_id": request_id, "who": who.audit() if who is not None else UNAUTHENTICATED,
                "action": f"{method} {path}", "status": status,
                "result": "refused" if refused else "allowed" if status < 400 else "failed"}
        text = json.dumps(line, ensure_ascii=False) + "\n"
        try:
            with self._lock:
                self._file.write(text)
                self._file.flush()
        except (OSError, ValueError) as err:  # ValueError: written after close, at shutdown
            log.error("audit log %s not written: %s", self.path, err)

    def close(self) -> None:
        self._file.close()
