"""Greedy evaluation of every checkpoint of an experiment: the return against wall time of training.

    python benchmarks/eval_checkpoints.py --env=vmas_navigation --experiment=nav --max_num_episodes=100 \\
        [--at=10,60,600]

Train with a short ``--save_every_sec`` and a large ``--keep_checkpoints`` first. For each checkpoint of policy 0
(or the ones nearest to the ``--at`` wall seconds) prints its wall time since the run's ``config.json`` was written,
its agent-steps and the per-agent mean episode return with its 95% interval over ``--max_num_episodes`` greedy
episodes (``marl_sf.enjoy.evaluate``; each env's first episodes, see there).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import torch

from marl_sf.algo.runners import make_local_envs
from marl_sf.checkpoint import load_checkpoint
from marl_sf.enjoy import evaluate
from marl_sf.experiment import build_policies
from marl_sf.report import return_stats
from marl_sf.train import parse_args


def main() -> int:
    """Evaluate the checkpoints and print one line each."""
    argv = sys.argv[1:]
    at = [float(x) for a in argv if a.startswith("--at=") for x in a.split("=", 1)[1].split(",")]
    cfg = parse_args([a for a in argv if not a.startswith("--at=")], evaluation=True)
    exp = Path(cfg.train_dir) / cfg.experiment
    start = (exp / "config.json").stat().st_mtime
    files = sorted((exp / "checkpoint_p0").glob("checkpoint_*.pth"))
    wall = {f: f.stat().st_mtime - start for f in files}
    if at:
        files = sorted({min(files, key=lambda f, w=w: abs(wall[f] - w)) for w in at})
    for f in files:
        envs = make_local_envs(cfg, cfg.max_num_episodes)
        specs, models = build_policies(cfg, envs.spec, torch.device("cpu"))
        models[0].load_state_dict(load_checkpoint(f, torch.device("cpu"))["learner"]["model"])
        models[0].eval()
        returns, _ = evaluate(cfg, specs, models, envs, cfg.max_num_episodes, True, cfg.eval_seed)
        s = return_stats(returns.mean(axis=1))  # [episodes] per-agent mean return
        steps = int(re.search(r"_(\d+)\.pth$", f.name).group(1))
        lo, hi = s["return_ci95"]
        print(f"{wall[f]:6.0f} s {steps:>11,} agent-steps  greedy {s['return_mean']:.3f} [{lo:.2f}, {hi:.2f}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
