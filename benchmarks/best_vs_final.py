"""Does the best checkpoint hold what the evaluation that chose it measured, and how far is the final policy?

    python benchmarks/best_vs_final.py --env=mamujoco:Walker2d:2x3 --experiment=walker --train_dir=train_dir

Reads the evaluation during training stored in the best checkpoint (``TrainingEvaluation``: its mode, its episodes'
mean return per agent with a 95% interval), then plays ``--max_num_episodes`` (100) episodes in that mode with the
best and with the latest checkpoint, as ``python -m marl_sf.enjoy`` does, and prints: the stored evaluation, the best
checkpoint's replay (inside the stored interval or not) and the latest's, with its difference to the best's (and
ratio, for positive returns). Per-agent
returns are the mean over all agents of each episode (the team return over the number of agents).
"""

from __future__ import annotations

import json
import sys

import torch

from marl_sf.algo.runners import make_local_envs
from marl_sf.cfg.arguments import experiment_dir
from marl_sf.checkpoint import find_checkpoint, load_checkpoint
from marl_sf.enjoy import evaluate, load_policies
from marl_sf.report import return_stats
from marl_sf.train import parse_args


def replay(cfg, kind: str, deterministic: bool) -> dict:
    """``return_stats`` of the per-agent returns (mean over agents per episode) of ``kind``'s checkpoint."""
    cfg.load_checkpoint_kind = kind
    envs = make_local_envs(cfg, max(1, min(cfg.num_envs, cfg.max_num_episodes)))
    specs, models, _ = load_policies(cfg, envs.spec)
    returns, _ = evaluate(cfg, specs, models, envs, cfg.max_num_episodes, deterministic, cfg.eval_seed)
    return return_stats(returns.mean(axis=1))  # [N, A] -> per-agent mean per episode


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv, evaluation=True)
    path = find_checkpoint(experiment_dir(cfg), 0, "best")
    if path is None:
        print(f"no best checkpoint in {experiment_dir(cfg)}: train first")
        return 1
    best = load_checkpoint(path, torch.device("cpu"))
    entry = best.get("evaluation")
    if entry is None:
        print("the best checkpoint was not chosen on an evaluation during training (--eval_every_sec)")
        return 1
    mode = entry["chosen_mode"]
    report = entry["reports"][mode]
    num_agents = len(report["agents"])
    chosen = {k: report["team"][k] for k in ("return_mean", "episodes")}  # per episode: the team's over the agents
    chosen["return_mean"] /= num_agents
    lo, hi = (x / num_agents for x in report["team"]["return_ci95"])
    best_replay = replay(cfg, "best", mode == "greedy")
    final_replay = replay(cfg, "latest", mode == "greedy")
    result = {
        "chosen_at_agent_steps": entry["agent_steps"],
        "mode": mode,
        "evaluation": {"mean": chosen["return_mean"], "ci95": [lo, hi], "episodes": chosen["episodes"]},
        "best_replay": {"mean": best_replay["return_mean"], "ci95": best_replay["return_ci95"]},
        "best_inside_interval": lo <= best_replay["return_mean"] <= hi,
        "final_replay": {"mean": final_replay["return_mean"], "ci95": final_replay["return_ci95"]},
        "final_minus_best": final_replay["return_mean"] - best_replay["return_mean"],
        "final_over_best": final_replay["return_mean"] / best_replay["return_mean"]
        if best_replay["return_mean"] > 0
        else None,  # a ratio only means something for positive returns
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
