"""Imports point downwards: the sampling and learning code (``marl_sf.algo``) never imports self-play or the
modules that compose a run; self-play may use algo (it plays opponents through ``marl_sf.algo.opponents``)."""

from __future__ import annotations

import ast
from pathlib import Path

ALGO = Path(__file__).resolve().parents[1] / "marl_sf" / "algo"
ABOVE_ALGO = ("marl_sf.selfplay", "marl_sf.train", "marl_sf.experiment", "marl_sf.enjoy", "marl_sf.tournament")


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_algo_imports_nothing_above_it():
    found = {(path.name, name) for path in ALGO.glob("*.py") for name in _imports(path) if name.startswith(ABOVE_ALGO)}
    assert not found, f"marl_sf.algo imports upwards: {sorted(found)}"
