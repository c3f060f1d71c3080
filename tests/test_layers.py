"""Imports flow one way (DESIGN.md section 2): a lower layer never imports a higher one."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "prefqa"

# module (first component below prefqa) -> layer; higher layers may import lower ones only
LAYERS: dict[str, int] = {
    "errors": 0, "_atomic": 0, "_ids": 0, "_blas": 0, "_stats": 0, "_cluster": 0, "_types": 0, "_util": 0, "_progress": 0, "_version": 0,
    "schema": 1, "_load_report": 1,
    "io": 2, "simulate": 2,
    "engine": 3,
    "features": 4,
    "reliability": 5, "consensus": 5, "models": 5,
    "bias": 6, "prompts": 6, "annotators": 6, "simpson": 6, "planning": 6,
    "drift": 7, "cleaning": 7,
    "pairs": 8,
    "export": 9,
    "audit": 10,
    "cli": 11,
    "__init__": 12, "__main__": 12,
}


def _layer_of(path: Path) -> tuple[str, int]:
    rel = path.relative_to(PACKAGE)
    head = rel.parts[0].removesuffix(".py")
    assert head in LAYERS, f"{rel}: add {head!r} to LAYERS in tests/test_layers.py"
    return head, LAYERS[head]


def _imported_heads(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    rel = path.relative_to(PACKAGE)
    heads: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if node.module and node.module.split(".")[0] == "prefqa":
                    parts = node.module.split(".")[1:]
                    heads.add(parts[0] if parts else "__init__")
                continue
            # relative import: resolve against the importing module's package
            base = list(rel.parts[:-1])[: len(rel.parts) - node.level]
            target = base + (node.module.split(".") if node.module else [])
            if target:
                heads.add(target[0])
            else:
                heads.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "prefqa":
                    heads.add(parts[1] if len(parts) > 1 else "__init__")
    return heads


def test_imports_flow_one_way() -> None:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        head, layer = _layer_of(path)
        for imported in _imported_heads(path):
            if imported == head or imported not in LAYERS:
                continue
            if LAYERS[imported] > layer:
                problems.append(f"{path.relative_to(PACKAGE)} (layer {layer}) imports {imported} (layer {LAYERS[imported]})")
    assert not problems, "\n".join(problems)


def test_modules_stay_small() -> None:
    too_long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 700
    }
    assert not too_long, f"split these modules (DESIGN.md: about 150-500 lines): {too_long}"
