"""PBT against the same hyperparameters held fixed, on an env where the learning rate clearly matters.

    python benchmarks/pbt_vs_fixed.py [--seeds 0 1 2] [--member_steps=150000] [--learning_rate=1e-5]

gymnasium CartPole-v1 (one agent, generic defaults) started at ``--learning_rate`` (30x below the default 3e-4:
too low to learn in the budget). Per seed:

* a PBT population of 4 (``--with_pbt --num_policies=4``, ``--pbt_period_env_steps`` = member budget / 10,
  ``--pbt_mutation_rate=0.5 --pbt_perturb_max=2.0``), every member trained ``--member_steps`` agent-steps;
* 4 fixed runs, one per initial configuration of those members (member 0: the config; 1-3: its perturbations),
  each trained ``--member_steps`` agent-steps: the same total agent-steps as the population.

A run's score is its mean training episode return over the last 100 episodes (the PBT objective). Printed: per
seed, the PBT best member and its final learning rate, the fixed runs' scores and median; over seeds, the means with
95% bootstrap intervals (``marl_sf.stats``). Results: docs/experiments.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import gymnasium as gym
import numpy as np

from marl_sf.cfg.arguments import parse_full_cfg, parse_sf_args
from marl_sf.envs.registry import register_env
from marl_sf.pbt import PopulationBasedTraining
from marl_sf.stats import mean, stratified_bootstrap_ci
from marl_sf.train import Trainer, run_rl


def _cartpole(full_env_name, cfg=None, env_config=None, render_mode=None):
    return gym.make("CartPole-v1", render_mode=render_mode)


def _cfg(train_dir: Path, experiment: str, seed: int, steps: int, lr: float, *extra: str):
    argv = ["--env=pbt_cartpole", f"--experiment={experiment}", f"--train_dir={train_dir}", f"--seed={seed}",
            f"--train_for_env_steps={steps}", f"--learning_rate={lr}", "--device=cpu", "--num_workers=0",
            "--progress_bar=False", "--save_plots=False", *extra]  # fmt: skip
    parser, _ = parse_sf_args(argv)
    return parse_full_cfg(parser, argv)


def run_seed(train_dir: Path, seed: int, steps: int, lr: float) -> dict:
    """One seed: the population, then the fixed runs at its members' initial hyperparameters."""
    pbt_args = ["--with_pbt=True", "--num_policies=4", f"--pbt_period_env_steps={steps // 10}",
                "--pbt_mutation_rate=0.5", "--pbt_perturb_max=2.0"]  # fmt: skip
    cfg = _cfg(train_dir, f"pbt_s{seed}", seed, steps, lr, *pbt_args)
    initial = PopulationBasedTraining(cfg, None).load_or_start().members  # the members' starting points
    assert run_rl(cfg) == 0
    population = json.loads((train_dir / f"pbt_s{seed}" / "pbt.json").read_text())["members"]
    best = max(population, key=lambda m: m["objective"])
    fixed = []
    for member in initial:
        overrides = [f"--{k}={v}" for k, v in member.hyperparams.items()]
        trainer = Trainer(_cfg(train_dir, f"fixed_s{seed}_m{member.index}", seed + member.index, steps, lr,
                               *overrides))  # fmt: skip
        assert trainer.train() == 0
        fixed.append(trainer.logger.mean_agent_return())
    return {"seed": seed, "pbt_best": best["objective"], "pbt_best_member": best["index"],
            "pbt_best_learning_rate": best["hyperparams"]["learning_rate"],
            "pbt_objectives": [m["objective"] for m in population], "fixed": fixed,
            "fixed_median": statistics.median(fixed)}  # fmt: skip


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--member_steps", type=int, default=150_000)
    p.add_argument("--learning_rate", type=float, default=1e-5)
    args = p.parse_args()
    register_env("pbt_cartpole", _cartpole)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [run_seed(Path(tmp), s, args.member_steps, args.learning_rate) for s in args.seeds]
    print("| seed | PBT best member: return (lr at the end) | fixed runs' returns | fixed median |")
    print("|---|---|---|---|")
    for r in rows:
        fixed = ", ".join(f"{x:.1f}" for x in r["fixed"])
        print(f"| {r['seed']} | {r['pbt_best']:.1f} (member {r['pbt_best_member']}, lr "
              f"{r['pbt_best_learning_rate']:.2e}) | {fixed} | {r['fixed_median']:.1f} |")  # fmt: skip
    for key in ("pbt_best", "fixed_median"):
        scores = np.array([[r[key]] for r in rows])  # [seeds, 1 task]
        low, high = stratified_bootstrap_ci(scores, mean)
        print(f"{key}: mean {mean(scores):.1f} [{low:.1f}, {high:.1f}] over {len(rows)} seeds")
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
