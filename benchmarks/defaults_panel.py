"""The generic defaults on a panel of envs nobody tuned for: trained return next to random play.

    python benchmarks/defaults_panel.py                       # every env, seeds 0 and 1
    python benchmarks/defaults_panel.py --envs cartpole tictactoe --seeds 0

Each env is registered the way a user would register it (the public PettingZoo adapters around the
PettingZoo / gymnasium env, or the contract env of ``examples/``, without its recipe) and trained with
``run_rl`` and no option but the experiment's name, its seed and its agent-step budget. Then the latest
checkpoint plays greedy evaluation episodes, and a uniformly random policy plays as many.

Per env and seed it prints the per-agent mean episode return with its 95% interval (normal approximation) of
the trained policy as it is trained (sampled actions; "beats random" compares this one) and of its greedy
(argmax / mean) actions, next to random play's; for the turn-based game, the trained policy (self-play, both
seats shared) plays random opponents on each seat and the figure is its score (win 1, draw 0.5, loss 0) next to random
against random. ``--out`` also writes the rows as JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from marl_sf.cfg.arguments import parse_full_cfg, parse_sf_args
from marl_sf.envs.registry import register_env
from marl_sf.report import return_stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # examples/ from a checkout


@dataclass(frozen=True)
class PanelEnv:
    """One panel entry: how a user registers it, its agent-step budget and its evaluation episodes."""

    kind: str
    make: object  # make_env_func(full_env_name, cfg=None, env_config=None, render_mode=None)
    agent_steps: int
    episodes: int
    turn_based: bool = False


def _mpe(module: str):
    def make(full_env_name, cfg=None, env_config=None, render_mode=None):
        import importlib

        from marl_sf.envs.pettingzoo import PettingZooParallelEnv

        return PettingZooParallelEnv(importlib.import_module(f"mpe2.{module}").parallel_env(render_mode=render_mode))

    return make


def _gym(env_id: str):
    def make(full_env_name, cfg=None, env_config=None, render_mode=None):
        import gymnasium as gym

        return gym.make(env_id, render_mode=render_mode)

    return make


def _tictactoe(full_env_name, cfg=None, env_config=None, render_mode=None):
    from pettingzoo.classic import tictactoe_v3

    from marl_sf.envs.pettingzoo_aec import PettingZooAECEnv

    return PettingZooAECEnv(tictactoe_v3.env(render_mode=render_mode))


def _cue_match(full_env_name, cfg=None, env_config=None, render_mode=None):
    from examples.custom_env import CueMatchEnv

    return CueMatchEnv(num_agents=2, render_mode=render_mode)


PANEL = {
    "simple_reference": PanelEnv(
        "MPE, public adapter, 2 agents, Discrete(50)", _mpe("simple_reference_v3"), 800_000, 100
    ),
    "simple_speaker_listener": PanelEnv(
        "MPE, public adapter, 2 agents with different spaces", _mpe("simple_speaker_listener_v4"), 200_000, 100
    ),
    "simple_spread": PanelEnv("MPE, public adapter, 3 agents", _mpe("simple_spread_v3"), 400_000, 100),
    "cartpole": PanelEnv("gymnasium CartPole-v1, 1 agent", _gym("CartPole-v1"), 150_000, 20),
    "lunarlander": PanelEnv("gymnasium LunarLander-v3, 1 agent", _gym("LunarLander-v3"), 200_000, 50),
    "tictactoe": PanelEnv("PettingZoo AEC tictactoe, turn-based, vs random", _tictactoe, 100_000, 200, True),
    "cue_match": PanelEnv("contract env of examples/, 2 agents", _cue_match, 50_000, 100),
}  # fmt: skip


def _cfg(env: str, argv: list[str], evaluation: bool = False):
    argv = [f"--env=panel_{env}", *argv]
    parser, _ = parse_sf_args(argv, evaluation=evaluation)
    return parse_full_cfg(parser, argv)


def _ci(values: np.ndarray) -> dict:
    s = return_stats(values)
    return {"mean": s["return_mean"], "ci95": s["return_ci95"], "episodes": s["episodes"]}


def _random_returns(cfg, episodes: int, seed: int) -> np.ndarray:
    """Per-agent mean returns ``[episodes]`` of uniformly random play."""
    from benchmarks.random_play import random_returns

    return random_returns(cfg, episodes, seed)[1].mean(axis=1)


def _trained_returns(cfg, episodes: int, deterministic: bool) -> np.ndarray:
    """Per-agent mean returns ``[episodes]`` of the latest checkpoint's policy (sampled or greedy actions)."""
    from marl_sf.algo.runners import make_local_envs
    from marl_sf.enjoy import evaluate, load_policies

    envs = make_local_envs(cfg, min(cfg.num_envs, episodes))
    specs, models, _ = load_policies(cfg, envs.spec)
    returns, _ = evaluate(cfg, specs, models, envs, episodes, deterministic, cfg.eval_seed)
    return returns.mean(axis=1)


def _scores_against_random(cfg, games_per_seat: int, trained: bool) -> np.ndarray:
    """Scores ``[2 * games_per_seat]`` of the trained policy (or of random play) against random, both seats."""
    from marl_sf.algo.runners import make_envs
    from marl_sf.enjoy import load_policies
    from marl_sf.selfplay.match import play_match
    from marl_sf.selfplay.players import make_player

    specs, models, _ = load_policies(cfg)
    space = specs[0].action_space
    a = make_player("trained", space, models[0]) if trained else make_player("random", space)
    result = play_match(
        cfg, specs, models, lambda n: make_envs(cfg, n), a, make_player("random", space), games_per_seat, 777
    )
    scores = []
    for record in result.seats.values():
        scores += [1.0] * record.wins + [0.5] * record.draws + [0.0] * record.losses
    return np.array(scores)


def run_panel_env(
    name: str,
    seed: int,
    train_dir: str,
    agent_steps: int = 0,
    episodes: int = 0,
    reuse: bool = False,
    learner_threads: int = 0,
) -> dict:
    """Train panel env ``name`` with the generic defaults and evaluate it next to random play (``agent_steps``,
    ``episodes``: overrides of the entry's budget, for a quick look; ``reuse``: evaluate a finished run of the
    same budget in ``train_dir`` instead of training again; ``learner_threads``: ``--learner_torch_threads``, a
    resource option, 0 for its default)."""
    from marl_sf.train import run_rl

    entry = PANEL[name]
    entry = PanelEnv(
        entry.kind, entry.make, agent_steps or entry.agent_steps, episodes or entry.episodes, entry.turn_based
    )
    register_env(f"panel_{name}", entry.make)
    base = [f"--experiment={name}_s{seed}", f"--train_dir={train_dir}", "--progress_bar=False"]
    start = time.time()
    train = [*base, f"--seed={seed}", f"--train_for_env_steps={entry.agent_steps}", "--restart_behavior=overwrite"]
    train += [f"--learner_torch_threads={learner_threads}"] if learner_threads else []
    done = Path(train_dir) / f"{name}_s{seed}" / "checkpoint_p0"
    finished = [int(c.stem.rsplit("_", 1)[1]) >= entry.agent_steps for c in done.glob("checkpoint_*.pth")]
    if not (reuse and any(finished)) and run_rl(_cfg(name, train)) != 0:
        raise SystemExit(f"{name} seed {seed}: training stopped early (interrupted or failed); the panel stops")
    minutes = (time.time() - start) / 60
    row = {"env": name, "kind": entry.kind, "seed": seed, "agent_steps": entry.agent_steps, "minutes": minutes}
    for mode, deterministic in (("sampled", False), ("greedy", True)):
        eval_argv = [*base, f"--max_num_episodes={entry.episodes}", f"--eval_deterministic={deterministic}"]
        cfg = _cfg(name, eval_argv, evaluation=True)
        if entry.turn_based:
            row[mode] = _ci(_scores_against_random(cfg, entry.episodes // 2, trained=True))
        else:
            row[mode] = _ci(_trained_returns(cfg, entry.episodes, deterministic))
    if entry.turn_based:
        row.update(metric="score vs random", random=_ci(_scores_against_random(cfg, entry.episodes // 2, False)))
    else:
        row.update(
            metric="per-agent mean episode return", random=_ci(_random_returns(cfg, entry.episodes, 1000 + seed))
        )
    row["beats_random"] = row["sampled"]["ci95"][0] > row["random"]["ci95"][1]
    return row


def _fmt(stats: dict) -> str:
    return f"{stats['mean']:.2f} [{stats['ci95'][0]:.2f}, {stats['ci95'][1]:.2f}]"


def format_row(row: dict) -> str:
    """One markdown table row."""
    return (
        f"| {row['env']} | {row['seed']} | {row['agent_steps']:,} | {row['minutes']:.1f} | {row['metric']} | "
        f"{_fmt(row['sampled'])} | {_fmt(row['greedy'])} | {_fmt(row['random'])} | "
        f"{'yes' if row['beats_random'] else 'NO'} |"
    )


def main() -> int:
    """Run the panel and print its table."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--envs", nargs="*", default=list(PANEL), choices=list(PANEL))
    p.add_argument("--seeds", nargs="*", type=int, default=[0, 1])
    p.add_argument("--train_dir", default="", help="where the runs live (default: a temporary folder)")
    p.add_argument("--out", default="", help="also write the rows as JSON here")
    p.add_argument("--agent_steps", type=int, default=0, help="one budget for every env (0: each env's own)")
    p.add_argument("--episodes", type=int, default=0, help="evaluation episodes for every env (0: each env's own)")
    p.add_argument("--reuse", action="store_true", help="evaluate runs of the same budget already in --train_dir")
    p.add_argument(
        "--learner_torch_threads", type=int, default=0, help="passed to training (1 when the cores are shared)"
    )
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, format="[%(asctime)s] %(message)s", datefmt="%H:%M:%S")
    train_dir = args.train_dir or tempfile.mkdtemp(prefix="defaults_panel_")
    print("| env | seed | agent-steps | minutes | metric | sampled [95% CI] | greedy | random | beats random |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = []
    for name in args.envs:
        for seed in args.seeds:
            rows.append(
                run_panel_env(
                    name, seed, train_dir, args.agent_steps, args.episodes, args.reuse, args.learner_torch_threads
                )
            )
            print(format_row(rows[-1]), flush=True)
            if args.out:
                Path(args.out).write_text(json.dumps(rows, indent=1))
    return 0 if all(r["beats_random"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
