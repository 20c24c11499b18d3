"""Self-play on connect_four_v3, then a tournament of the result against baselines and its own pool.

One learning policy plays both seats against itself (``--opponent_prob=0``: no pool opponents in training
games, so the critic learns its values against the policy it trains), and every training game starts after 0 to
4 random legal moves (``--random_opening_plies=4``: the openings get explored; evaluation and tournaments start
from the empty board). A frozen snapshot joins the pool every ``--pool_snapshot_every`` agent-steps, for the
tournament. Afterwards the latest checkpoint, a few pool snapshots, ``random`` and the one-step-lookahead
heuristic play a round-robin from both seats, actions sampled (``<experiment>/tournament/report.md``), the latest
checkpoint plays the two baselines with greedy actions, 200 games per seat (``<experiment>/vs_baselines/report.md``),
and last the latest checkpoint with decision-time search (``latest+puct:<--search_simulations>``, 1,600 by default:
MCTS guided by its policy and value, ``marl_sf.selfplay.puct``, with half of each leaf value from a random playout
and the endgame solver tried from 32 empty cells, ``SEARCH`` below) plays depth-4 alpha-beta and OpenSpiel's MCTS
with 1,000 simulations, 100 games per seat, greedy (``<experiment>/gauntlet/report.md``). README.md "Results" has
the figures.

The policy encodes the board with ``FourInARowEncoder`` (one 4x4 convolution: every possible line of four lies
in one 4x4 window), registered through ``global_model_factory()`` as a Sample Factory user would. A checkpoint of
this recipe needs that registration to load, so replay the tournaments through this script::

    python examples/selfplay_connect_four.py --experiment=c4_selfplay --train_for_seconds=1140
    python examples/selfplay_connect_four.py --experiment=c4_selfplay --tournaments_only

Any marl_sf option on the command line overrides the recipe below.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys

import torch
from torch import nn

from marl_sf.cfg.arguments import experiment_dir
from marl_sf.models.encoder import Encoder, make_default_encoder
from marl_sf.models.factory import global_model_factory
from marl_sf.models.model_utils import mlp
from marl_sf.selfplay.pool import spread_snapshots
from marl_sf.tournament import parse_tournament_args, tournament
from marl_sf.train import parse_args, run_rl


class FourInARowEncoder(Encoder):
    """connect_four boards ``[B, 6, 7, 2]`` -> one 4x4 convolution -> MLP (``--encoder_mlp_layers``).

    Every possible four-in-a-row (row, column or diagonal) lies inside one 4x4 window of the board, so a single
    valid 4x4 convolution sees each line whole, wherever it is: ``[B, 2, 6, 7]`` -> ``[B, C, 3, 4]``.
    """

    def __init__(self, cfg, obs_space):
        super().__init__(cfg)
        channels = 32
        self.conv = nn.Conv2d(2, channels, kernel_size=4)
        layers = list(cfg.encoder_mlp_layers)
        self.mlp = mlp(channels * 3 * 4, layers, cfg)
        self.out_size = layers[-1]

    def forward(self, obs_dict: dict[str, torch.Tensor]) -> torch.Tensor:
        """``{"obs": [B, 6, 7, 2]}`` -> ``[B, out_size]``."""
        board = obs_dict["obs"].float().permute(0, 3, 1, 2)  # [B, 6, 7, 2] -> [B, 2, 6, 7]
        lines = torch.relu(self.conv(board)).flatten(1)  # [B, C, 3, 4] -> [B, C * 12]
        return self.mlp(lines)

    def get_out_size(self) -> int:
        return self.out_size


def make_encoder(cfg, obs_space):
    """The four-in-a-row encoder for connect_four boards; the default encoder for anything else."""
    if cfg.env == "classic_connect_four" and tuple(obs_space["obs"].shape) == (6, 7, 2):
        return FourInARowEncoder(cfg, obs_space)
    return make_default_encoder(cfg, obs_space)


RECIPE = [
    "--env=classic_connect_four",
    "--policy_mapping=self_play",
    "--opponent_prob=0",
    "--random_opening_plies=4",
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
SEARCH = ["--search_c_puct=2.5", "--search_prior_mix=0.25", "--search_rollout_mix=0.5", "--search_solve_empties=32"]
"""The gauntlet's search options (any of them on the command line overrides these)."""


def main(argv: list[str] | None = None) -> int:
    """Train by self-play, then run the tournament; returns the training status (0 on success)."""
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(message)s", datefmt="%H:%M:%S")
    own = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    own.add_argument("--tournaments_only", action="store_true", help="replay the tournaments of a trained run")
    own.add_argument("--games_per_pair", type=int, default=200, help="games per pair in the main tournament")
    own.add_argument("--gauntlet_only", action="store_true", help="replay only the gauntlet of a trained run")
    own.add_argument("--search_simulations", type=int, default=1600, help="PUCT simulations per move in the gauntlet")
    own.add_argument(
        "--gauntlet_games", type=int, default=200, help="games per opponent in the gauntlet (half per seat)"
    )
    own_args, argv = own.parse_known_args(sys.argv[1:] if argv is None else argv)
    global_model_factory().register_encoder_factory(make_encoder)  # before any model is built or loaded
    cfg = parse_args([*RECIPE, *argv])
    if own_args.gauntlet_only:
        gauntlet(argv, own_args.search_simulations, own_args.gauntlet_games)
        return 0
    if not own_args.tournaments_only:  # the encoder is registered above, so checkpoints load either way
        status = run_rl(cfg)
        if status != 0:
            return status
    players = ["latest", "random", "connect_four_lookahead", *spread_snapshots(experiment_dir(cfg) / "pool" / "p0")]
    tournament(
        parse_tournament_args([*RECIPE, *argv, "--players", *players, f"--games_per_pair={own_args.games_per_pair}"])
    )
    # the evaluation against the baselines, greedy actions: <experiment>/vs_baselines/report.md
    baselines = ["--players", "latest", "random", "connect_four_lookahead", "--eval_deterministic=True"]
    tournament(
        parse_tournament_args([*RECIPE, *argv, *baselines, "--games_per_pair=400", "--tournament_name=vs_baselines"])
    )
    gauntlet(argv, own_args.search_simulations, own_args.gauntlet_games)
    return 0


def gauntlet(argv: list[str], simulations: int, games: int) -> None:
    """The latest checkpoint with PUCT search against players nobody here trained, greedy moves, both seats:
    depth-4 alpha-beta and, with the ``openspiel`` extra, OpenSpiel's MCTS with 1,000 simulations
    (``<experiment>/gauntlet/report.md``: score per seat with 95% intervals, the search's seconds per move)."""
    opponents = ["alphabeta:4"]
    if importlib.util.find_spec("pyspiel") is not None:
        opponents.append("openspiel_mcts:1000")
    else:
        logging.getLogger("marl_sf").info("no OpenSpiel (pip install 'marl-sf[openspiel]'): the gauntlet skips MCTS")
    players = ["--players", f"latest+puct:{simulations}", *opponents, "--gauntlet=True", "--eval_deterministic=True"]
    tournament(parse_tournament_args([*RECIPE, *SEARCH, *argv, *players, f"--games_per_pair={games}",
                                      "--tournament_name=gauntlet", "--num_envs=50"]))  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
