"""Predators vs prey on MPE simple_tag: two learning teams, each also facing the other's snapshot pool.

Policy 0 plays the three predators (adversary_*), policy 1 the prey (agent_0) (``--policy_mapping=per_group``).
Both learn at once; in a fraction ``--opponent_prob`` of the episodes one team (at random) is replaced by a
frozen snapshot from its pool, drawn uniformly (fictitious self-play), so each team also trains against all of
the other's past selves. (With PFSP draws the prey faced mostly the newest predators and got worse against the
early ones: docs/results.md "Self-play: simple_tag".)
Afterwards a tournament plays the first, middle and newest snapshot of each team against the other team's
(a predator team wins an episode when it touches the prey at least once): ``<experiment>/tournament/``, and
prints each team's newest-minus-first rating difference with its 95% interval.

python examples/selfplay_simple_tag.py --experiment=tag_selfplay  # 1200 s of training, then the tournament
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

from marl_sf.cfg.arguments import experiment_dir
from marl_sf.selfplay.elo import rating_difference_ci
from marl_sf.selfplay.pool import spread_snapshots
from marl_sf.tournament import parse_tournament_args, tournament
from marl_sf.train import parse_args, run_rl

RECIPE = [
    "--env=mpe_simple_tag",
    "--policy_mapping=per_group",
    "--self_play=True",
    "--opponent_prob=0.5",
    "--pool_sampling=uniform",
    "--pool_snapshot_every=150000",
    "--train_for_seconds=1200",
]


def main(argv: list[str] | None = None) -> int:
    """Train both teams, then run the tournament of their snapshots; returns the training status."""
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(message)s", datefmt="%H:%M:%S")
    own = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    own.add_argument("--games_per_pair", type=int, default=300, help="tournament games per pair of snapshots")
    own_args, argv = own.parse_known_args(sys.argv[1:] if argv is None else argv)
    cfg = parse_args([*RECIPE, *argv])
    status = run_rl(cfg)
    if status != 0:
        return status
    pool = experiment_dir(cfg) / "pool"
    teams = [spread_snapshots(pool / "p0"), spread_snapshots(pool / "p1")]
    args = [*RECIPE, *argv, "--players", *teams[0], *teams[1], f"--games_per_pair={own_args.games_per_pair}"]
    results = tournament(parse_tournament_args(args))
    ratings = np.array([results["ratings"][n] for n in results["players"]])  # [P]
    for team, snapshots in zip(("predators", "prey"), teams, strict=True):
        first, newest = (results["players"].index(Path(snapshots[k]).stem) for k in (0, -1))
        diff, low, high = rating_difference_ci(ratings, results["covariance"], newest, first)
        print(f"{team}: newest - first snapshot = {diff:+.0f} Elo (95% CI [{low:+.0f}, {high:+.0f}])")
    return 0


if __name__ == "__main__":
    sys.exit(main())
