"""Self-play on connect_four_v3, then a tournament of the result against baselines and its own pool.

One learning policy plays both seats; every episode one seat (at random) goes to a member of its pool, drawn by
prioritized fictitious self-play: frozen snapshots of the policy (one joins every ``--pool_snapshot_every``
agent-steps) and two scripted baselines, ``random`` and ``connect_four_lookahead`` (PFSP keeps drawing the
members the learner still loses to). ``--pool_scripted`` with no names gives pure self-play. Afterwards the
latest checkpoint, a few pool snapshots, ``random`` and the one-step-lookahead heuristic play a round-robin from
both seats, actions sampled (``<experiment>/tournament/report.md``), and the latest checkpoint plays the two
baselines with greedy actions, 200 games per seat (``<experiment>/vs_baselines/report.md``). README.md
"Results" has the figures.

python examples/selfplay_connect_four.py --experiment=c4_selfplay --train_for_seconds=1140

Any marl_sf option on the command line overrides the recipe below.
"""

from __future__ import annotations

import logging
import sys

from marl_sf.cfg.arguments import experiment_dir
from marl_sf.selfplay.pool import spread_snapshots
from marl_sf.tournament import parse_tournament_args, tournament
from marl_sf.train import parse_args, run_rl

RECIPE = [
    "--env=classic_connect_four",
    "--policy_mapping=self_play",
    "--pool_sampling=pfsp",
    "--pool_scripted",
    "random",
    "connect_four_lookahead",
    "--pool_snapshot_every=50000",
    "--num_envs=64",
    "--critic_input=local",
    "--encoder_mlp_layers",
    "256",
    "256",
    "--batch_size=1024",
    "--lr_schedule=linear_decay",
    "--learning_rate=6e-4",
    "--train_for_seconds=1140",
]


def main(argv: list[str] | None = None) -> int:
    """Train by self-play, then run the tournament; returns the training status (0 on success)."""
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(message)s", datefmt="%H:%M:%S")
    argv = list(sys.argv[1:] if argv is None else argv)
    cfg = parse_args([*RECIPE, *argv])
    status = run_rl(cfg)
    if status != 0:
        return status
    players = ["latest", "random", "connect_four_lookahead", *spread_snapshots(experiment_dir(cfg) / "pool" / "p0")]
    tournament(parse_tournament_args([*RECIPE, *argv, "--players", *players, "--games_per_pair=200"]))
    # the evaluation against the baselines, greedy actions: <experiment>/vs_baselines/report.md
    baselines = ["--players", "latest", "random", "connect_four_lookahead", "--eval_deterministic=True"]
    tournament(
        parse_tournament_args([*RECIPE, *argv, *baselines, "--games_per_pair=400", "--tournament_name=vs_baselines"])
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
