"""Shared fixtures: headless rendering, a fresh model factory per test, configs in a temp train_dir."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

from marl_sf.cfg.arguments import parse_full_cfg, parse_sf_args  # noqa: E402
from marl_sf.models.factory import global_model_factory  # noqa: E402


@pytest.fixture(autouse=True)
def fresh_model_factory():
    """Tests that register custom models must not leak them into other tests."""
    global_model_factory().reset()
    yield
    global_model_factory().reset()


@pytest.fixture
def make_cfg(tmp_path):
    """``make_cfg(*argv)`` -> full config whose train_dir is the test's temp folder, on the CPU, serial envs, seed 0,
    no plots; ``argv`` wins over these."""

    def _make(*argv: str, evaluation: bool = False):
        # envs in the test process unless a test asks for workers (the default is one worker per core); no
        # learning-curve PNGs at the end of each run unless a test asks for them (tests/test_plots.py)
        argv = [f"--train_dir={tmp_path}", "--device=cpu", "--progress_bar=False", "--num_workers=0", "--seed=0",
                "--save_plots=False", *argv]  # fmt: skip
        parser, _ = parse_sf_args(argv, evaluation=evaluation)
        return parse_full_cfg(parser, argv)

    return _make
