"""Imports point downwards: the sampling and learning code (``marl_sf.algo``) never imports self-play or the
modules that compose a run; self-play may use algo (it plays opponents through ``marl_sf.algo.opponents``)."""

from __future__ import annotations

import ast
import importlib
import re
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


ROOT = ALGO.parents[1]
ENGINE = [*ALGO.glob("*.py"), *(ROOT / "models").glob("*.py")]


def test_declared_options_are_read_as_attributes_in_the_engine():
    lines = [(p.name, i, line) for p in ENGINE for i, line in enumerate(p.read_text().splitlines(), 1)]
    found = [f"{name}:{i}" for name, i, line in lines if "cfg.get(" in line]
    assert not found, f"cfg.get( in the engine (read declared options as cfg.x): {found}"


def test_the_data_path_has_no_per_row_special_cases():
    retired = ("state_per_env", "state_per_row", "per_row", "_take", "batch_rows")
    pattern = re.compile(r"\b(" + "|".join(retired) + r")\b")
    found = [f"{p.name}: {m}" for p in ENGINE for m in pattern.findall(p.read_text())]
    assert not found, f"retired data-path helpers are back: {found}"


def test_the_engine_calls_the_model_contract_and_never_probes_the_model():
    """The sampler, learner, players and evaluation act through ``act``/``value``/``evaluate``: no distribution is
    built outside the model layer, no model is asked what it is by comparing its methods."""
    engine = [p for p in ROOT.joinpath("marl_sf").rglob("*.py")]
    model_layer = list((ROOT / "models").glob("*.py"))
    probes = re.compile(r"\.forward is\b|__func__ is\b|\bforward_actions\b|\bvalues_in_learner\b|\bcritic_per_env\b")
    found = [f"{p.name}: {m}" for p in engine + model_layer for m in probes.findall(p.read_text())]
    assert not found, f"model probes are back: {found}"
    built = [p.name for p in engine if "action_distribution(" in p.read_text()]
    assert not built, f"action distributions built outside the model layer: {built}"
    vector_checks = [p.name for p in engine if "is_vector_env(" in p.read_text()]
    assert vector_checks == ["runners.py"], f"is_vector_env outside the runner layer: {vector_checks}"


def test_every_file_function_reference_in_the_architecture_page_exists():
    """docs/architecture.md walks one iteration with `file.py: Name.attr` references; each must resolve."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    refs = re.findall(r"`?([\w/]+\.py): ([A-Za-z_][\w.]*)", text)
    assert len(refs) >= 12
    for path, name in refs:
        matches = [p for p in ROOT.glob(f"**/{Path(path).name}") if ".venv" not in p.parts and str(p).endswith(path)]
        assert matches, f"docs/architecture.md names {path}, which is not in the repo"
        module_path = matches[0].relative_to(ROOT).with_suffix("")
        parts = module_path.parts
        module = ".".join(parts) if parts[0] == "marl_sf" else f"marl_sf.{'.'.join(parts)}"  # envs/, models/
        obj = importlib.import_module(module)
        for attr in name.split("."):
            assert hasattr(obj, attr), f"docs/architecture.md: {path}: {name} does not exist"
            obj = getattr(obj, attr)
