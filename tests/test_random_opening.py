"""Random openings for board-game training (envs.random_opening): PettingZoo's API test on the wrapper, the opening
lengths it draws, and the option that training reads and evaluation never inherits."""

from __future__ import annotations

import collections

import numpy as np
import pytest
from pettingzoo.classic import connect_four_v3, tictactoe_v3
from pettingzoo.test import api_test

from marl_sf.envs.random_opening import RandomOpening
from marl_sf.envs.registry import registry_entry
from marl_sf.evaluation import TrainingEvaluation
from marl_sf.tournament import parse_tournament_args
from marl_sf.train import parse_args


@pytest.mark.parametrize("module", [tictactoe_v3, connect_four_v3], ids=["tictactoe", "connect_four"])
def test_the_wrapped_game_passes_pettingzoo_s_api_test(module):
    api_test(RandomOpening(module.env(), 3), num_cycles=40)


def test_openings_have_every_length_up_to_the_maximum_and_legal_moves_only():
    env = RandomOpening(tictactoe_v3.env(), 4)
    lengths = collections.Counter()
    for seed in range(400):
        env.reset(seed=seed)
        board = env.observe(env.agent_selection)["observation"]  # [3, 3, 2]: the mover's pieces, the other's
        assert board.sum(axis=2).max() <= 1  # no cell taken twice
        mover, other = board[..., 0].sum(), board[..., 1].sum()
        assert other - mover in (0, 1)  # players alternate: the mover has as many pieces or one fewer
        assert env.agent_selection == env.possible_agents[int(mover + other) % 2]
        lengths[int(mover + other)] += 1
    assert sorted(lengths) == [0, 1, 2, 3, 4] and min(lengths.values()) > 50
    env.reset(seed=7)
    first = env.observe(env.agent_selection)["observation"].copy()
    env.reset(seed=7)
    np.testing.assert_array_equal(env.observe(env.agent_selection)["observation"], first)  # seeded
    with pytest.raises(ValueError, match="--random_opening_plies is a number of moves"):
        RandomOpening(tictactoe_v3.env(), -1)


def test_training_reads_the_option_and_evaluation_starts_from_the_empty_board(make_cfg, tmp_path):
    from marl_sf.train import Trainer

    argv = ["--env=classic_tictactoe", "--num_envs=4", "--rollout=16", "--batch_size=128", "--num_epochs=1"]
    trainer = Trainer(make_cfg(*argv, "--experiment=opening", "--random_opening_plies=2",
                               "--train_for_env_steps=200"))  # fmt: skip
    assert trainer.train() == 0
    saved = [f"--train_dir={tmp_path}", "--env=classic_tictactoe", "--experiment=opening"]
    make = registry_entry("classic_tictactoe").make_env_func
    resumed = parse_args(saved)
    assert resumed.random_opening_plies == 2  # a resumed run keeps its openings
    assert isinstance(make("classic_tictactoe", resumed), RandomOpening)
    for evaluation in (parse_args(saved, evaluation=True), parse_tournament_args([*saved, "--players", "latest"])):
        assert evaluation.random_opening_plies == 0
        assert not isinstance(make("classic_tictactoe", evaluation), RandomOpening)
    in_training = TrainingEvaluation(resumed, trainer.specs, trainer.models, ["player_1", "player_2"], [0, 0])
    assert not isinstance(make("classic_tictactoe", in_training.env_cfg), RandomOpening)


def test_tictactoe_self_play_defaults_to_games_against_itself_from_random_openings(make_cfg, tmp_path):
    from marl_sf.train import Trainer

    new = [f"--train_dir={tmp_path}", "--experiment=fresh", "--policy_mapping=self_play"]
    tictactoe = parse_args(["--env=classic_tictactoe", *new])
    assert (tictactoe.random_opening_plies, tictactoe.opponent_prob) == (3, 0.0)
    connect_four = parse_args(["--env=classic_connect_four", *new])
    assert (connect_four.random_opening_plies, connect_four.opponent_prob) == (0, 1.0)
    with pytest.raises(ValueError, match="these opponents never play with --opponent_prob=0"):
        Trainer(make_cfg("--env=classic_tictactoe", "--experiment=unplayed", "--pool_scripted", "random"))
