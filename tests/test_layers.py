"""Layers point down: a module may import only from layers below its own (or its own unit).

The table is the architecture (docs/architecture.md): the CLI on top, then the HTTP server,
the gateway (models, workers, start-up), the request pipeline, and below them the parts
the pipeline uses, down to the base every layer may use. Lazy imports inside functions
count too: they are dependencies all the same.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "sglang_gw"

# unit (a top-level module or package of sglang_gw) → layer; higher layers import lower ones.
LAYERS: dict[str, int] = {
    "__main__": 9, "cli": 9, "cli_config": 9, "cli_flags": 9, "config_file": 9, "render": 9, "demo": 9, "serve": 9,
    "server": 8,
    "gateway": 7, "responses": 7, "messages": 7,
    "pipeline": 6,
    "plugins": 5, "model": 5,
    "model_kind": 4,
    "config": 4,
    "workers": 3, "discovery": 3, "runtime": 3, "history": 3, "mcp": 3, "identity": 3,
    "admission": 2, "routing": 2, "tokenizer": 2, "parsers": 2, "providers": 2, "api": 2, "testing": 2,
    "registry": 1, "metrics": 1, "background": 1, "logs": 1,
    "errors": 0, "ids": 0, "proto": 0, "batched_metrics": 0, "tracing": 0, "__init__": 0,
}
# The command line's modules use each other; below it, a layer's units are independent.
TOP = 9
# The mock worker is for tests and the demo, never for the serving path.
MAY_IMPORT_TESTING = {"testing", "demo", "cli_config"}


def unit_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imported_units(tree: ast.AST) -> set[str]:
    units: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "sglang_gw":
            if node.module == "sglang_gw":  # from sglang_gw import metrics (or __version__)
                units.update(a.name if a.name in LAYERS else "__init__" for a in node.names)
            else:
                units.add(unit_of(node.module))
        elif isinstance(node, ast.Import):
            units.update(unit_of(a.name) for a in node.names if a.name.split(".")[0] == "sglang_gw")
    return units


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "proto" not in p.relative_to(PACKAGE).parts)


def test_every_unit_has_a_layer() -> None:
    units = {unit_of(".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts)) for p in modules()}
    assert units - LAYERS.keys() == set()


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path: Path) -> None:
    source = unit_of(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts))
    layer = LAYERS[source]
    upward = sorted(u for u in imported_units(ast.parse(path.read_text())) - {source}
                    if LAYERS.get(u, 99) > layer or (LAYERS.get(u, 99) == layer and layer != TOP))
    assert upward == [], f"{path.relative_to(PACKAGE)} (layer {layer}) imports {upward}"
    if source not in MAY_IMPORT_TESTING:
        assert "testing" not in imported_units(ast.parse(path.read_text()))


def test_the_check_sees_an_upward_import() -> None:
    tree = ast.parse("from sglang_gw.server.app import build_app\nfrom sglang_gw import metrics\n")
    assert imported_units(tree) == {"server", "metrics"}
