"""Predators vs prey on MPE simple_tag: two learning teams, each also facing the other's snapshot pool.

Policy 0 plays the three predators (adversary_*), policy 1 the prey (agent_0) (``--policy_mapping=per_group``).
Both learn at once; in a fraction ``--opponent_prob`` of the episodes one team (at random) is replaced by a
frozen snapshot from its pool, drawn by PFSP, so each team also trains against the other's past selves.
Afterwards a tournament plays the first, middle and newest snapshot of each team against the other team's
(a predator team wins an episode when it touches the prey at least once): ``<experiment>/tournament/``.

python examples/selfplay_simple_tag.py --experiment=tag_selfplay --train_for_seconds=600
"""

from __future__ import annotations

import logging
import sys

from marl_sf.cfg.arguments import experiment_dir
from marl_sf.selfplay.pool import spread_snapshots
from marl_sf.tournament import parse_tournament_args, tournament
from marl_sf.train import parse_args, run_rl

RECIPE = [
    "--env=mpe_simple_tag",
    "--policy_mapping=per_group",
    "--self_play=True",
    "--opponent_prob=0.5",
    "--pool_sampling=pfsp",
    "--pool_snapshot_every=150000",
    "--train_for_seconds=600",
]


def main(argv: list[str] | None = None) -> int:
    """Train both teams, then run the tournament of their snapshots; returns the training status."""
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(message)s", datefmt="%H:%M:%S")
    argv = list(sys.argv[1:] if argv is None else argv)
    cfg = parse_args([*RECIPE, *argv])
    status = run_rl(cfg)
    if status != 0:
        return status
    pool = experiment_dir(cfg) / "pool"
    players = [*spread_snapshots(pool / "p0"), *spread_snapshots(pool / "p1")]
    tournament(parse_tournament_args([*RECIPE, *argv, "--players", *players, "--games_per_pair=100"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
