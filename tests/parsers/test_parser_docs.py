"""docs/parsers.md says what the registries hold: the Names tables are generated from them
(a stale copy fails here), and every parser has a row in the format tables."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from sglang_gw.parsers.reasoning import REASONING_PARSERS
from sglang_gw.parsers.tools import TOOL_PARSERS
from sglang_gw.registry import Registry

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "parsers.md").read_text()


def _generator():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("gen_parser_docs", ROOT / "scripts" / "gen_parser_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_names_tables_match_the_registries() -> None:
    gen = _generator()
    assert gen.rewrite(DOC) == DOC, "run: python scripts/gen_parser_docs.py"


def _section(title: str, until: str) -> str:
    return DOC[DOC.index(f"\n## {title}\n"):DOC.index(f"\n## {until}\n")]


def _rows(section: str) -> list[list[str]]:
    """The names in the first cell of each row of the tables keyed by parser name."""
    rows, keyed = [], False
    for line in section.splitlines():
        if not line.startswith("|"):
            keyed = False
            continue
        first = line.split(" | ")[0]
        if first.startswith(("| name", "| parser")):
            keyed = True
        elif keyed and not first.startswith("|---"):
            rows.append(re.findall(r"`([^`]+)`", first))
    return rows


@pytest.mark.parametrize(("registry", "section"), [
    (REASONING_PARSERS, _section("Reasoning parsers", "Tool-call parsers")),
    (TOOL_PARSERS, _section("Tool-call parsers", "Adding a family")),
])
def test_every_parser_has_a_format_row_and_every_row_names_a_parser(registry: Registry, section: str) -> None:
    rows = _rows(section)
    described = {registry.canonical(names[0]) for names in rows if names}
    parsers = {registry.canonical(n) for n in registry.names()}
    assert parsers - described == set(), "parsers without a row in docs/parsers.md"
    stale = {n for names in rows for n in names if not registry.resolves(n)}
    assert stale == set(), "rows naming no registered parser"
