"""`--discovery-file`: a JSON or YAML file of `POST /workers` bodies, read again on change.

Two shapes are accepted: a list of bodies, or smg's `{"version": 1, "workers": [...]}`.
A body is passed through as is (every `/workers` field works, `url` is required); a bare
string is a url. The file is checked every `--discovery-check-interval-secs`: when its
content changed, the new set is diffed against the old one (new workers registered, gone
ones drained and removed, changed ones re-registered). A file that does not parse is
logged and ignored, keeping the last good set (write the file elsewhere and rename it into
place, so that a half-written file is never read).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import yaml

from sglang_gw import metrics
from sglang_gw.background import BackgroundTask
from sglang_gw.discovery.reconcile import Reconciler
from sglang_gw.discovery.registry import Body
from sglang_gw.errors import ConfigError

__all__ = ["FileSource", "check_workers_file", "parse_workers_file"]

log = logging.getLogger(__name__)

SOURCE = "file"


def _entries(doc: Any) -> list[Any]:
    if doc is None:
        return []
    if isinstance(doc, dict):
        if "workers" not in doc:
            raise ValueError("a mapping needs a `workers` list (smg's {\"version\": 1, \"workers\": [...]})")
        if doc.get("version", 1) != 1:
            raise ValueError(f"unknown version {doc.get('version')!r} (only 1 is known)")
        doc = doc["workers"] or []
    if not isinstance(doc, list):
        raise ValueError("expected a list of worker bodies")
    return doc


def parse_workers_file(text: str) -> dict[str, Body]:
    """The bodies by url; ValueError says what is wrong, naming the entry."""
    try:
        doc = yaml.safe_load(text)  # JSON is YAML too
    except yaml.YAMLError as err:
        raise ValueError(f"not JSON or YAML: {err}") from None
    out: dict[str, Body] = {}
    for i, entry in enumerate(_entries(doc)):
        body = {"url": entry} if isinstance(entry, str) else entry
        if not isinstance(body, dict) or not isinstance(body.get("url"), str) or not body["url"]:
            raise ValueError(f"worker {i}: needs a `url` string")
        if body["url"] in out:
            raise ValueError(f"worker {i}: url {body['url']} is listed twice")
        out[body["url"]] = body
    return out


def check_workers_file(path: Path) -> tuple[str, dict[str, Body]]:
    """The file's text and bodies, or a ConfigError naming the flag, the file and the problem."""
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"--discovery-file {path}: cannot read it ({err.strerror or err})") from None
    try:
        return text, parse_workers_file(text)
    except ValueError as err:
        raise ConfigError(f"--discovery-file {path}: {err}") from None


class FileSource(BackgroundTask):
    def __init__(self, path: Path, reconciler: Reconciler, interval: float) -> None:
        super().__init__("discovery-file")
        self._path = path
        self._reconciler = reconciler
        self._interval = interval
        self._text: str | None = None

    async def start(self) -> None:
        self._text, wanted = check_workers_file(self._path)
        self._reconciler.replace(wanted)
        await super().start()

    def check(self) -> None:
        """Read the file; apply it if it changed and parses."""
        try:
            text = self._path.read_text()
        except OSError as err:
            log.warning("discovery (file): cannot read %s (%s); keeping the last set", self._path, err)
            metrics.record_discovery_event(SOURCE, "error")
            return
        if text == self._text:
            return
        self._text = text  # a bad file is reported once, not at every check
        try:
            wanted = parse_workers_file(text)
        except ValueError as err:
            log.error("discovery (file): %s: %s; keeping the last set", self._path, err)
            metrics.record_discovery_event(SOURCE, "error")
            return
        log.info("discovery (file): %s changed: %d workers", self._path, len(wanted))
        self._reconciler.replace(wanted)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            self.check()
            self._reconciler.resync()
