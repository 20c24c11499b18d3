"""Search players (marl_sf.selfplay.search_players): alpha-beta on known positions, perfect tictactoe, and
OpenSpiel's MCTS on the OpenSpiel state rebuilt from the PettingZoo board, checked move by move."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from pettingzoo.classic import connect_four_v3, tictactoe_v3

from marl_sf.selfplay.scripted import scripted_batch_policy
from marl_sf.selfplay.search_players import CONNECT_FOUR, TICTACTOE, openspiel_state, search_move


def _connect_four(mine: list[tuple[int, int]], theirs: list[tuple[int, int]]) -> dict[str, np.ndarray]:
    """One PettingZoo connect_four observation: (row from the bottom, column) of each piece."""
    planes = np.zeros((6, 7, 2), np.int8)
    for plane, cells in ((0, mine), (1, theirs)):
        for row, col in cells:
            planes[5 - row, col, plane] = 1  # PettingZoo's row 0 is the top
    mask = (planes.sum(axis=(0, 2)) < 6).astype(np.int8)
    return {"obs": planes[None], "action_mask": mask[None]}


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_alphabeta_takes_a_win_and_blocks_a_loss(depth):
    player = scripted_batch_policy(f"alphabeta:{depth}")
    win = _connect_four([(0, 1), (0, 2), (0, 3)], [(1, 1), (1, 2), (1, 3)])  # column 0 or 4 wins now
    assert int(player(win)[0]) in (0, 4)
    block = _connect_four([(0, 0), (1, 0), (0, 6)], [(0, 3), (1, 3), (2, 3)])  # they win in column 3 next
    if depth >= 2:
        assert int(player(block)[0]) == 3


def test_alphabeta_sets_up_a_double_threat_three_plies_ahead():
    # the mover: columns 2 and 3 of the bottom row; column 4 makes an open three (1 and 5 both win next move)
    obs = _connect_four([(0, 2), (0, 3)], [(0, 0), (1, 0)])
    planes = obs["obs"][0]
    picks = {
        search_move(CONNECT_FOUR, *CONNECT_FOUR.from_planes(planes), 3, np.random.default_rng(s)) for s in range(5)
    }
    assert picks == {4}


def _play_tictactoe(first: str, second: str, seed: int) -> dict[str, float]:
    """A whole PettingZoo tictactoe game between two scripted players, each move checked legal; the returns by
    seat."""
    env = tictactoe_v3.env()
    env.reset(seed=seed)
    players = {"player_1": scripted_batch_policy(first), "player_2": scripted_batch_policy(second)}
    returns = dict.fromkeys(players, 0.0)
    for agent in env.agent_iter():
        obs, reward, terminated, truncated, _ = env.last()
        returns[agent] += reward
        action = None
        if not (terminated or truncated):
            batch = {"obs": obs["observation"][None], "action_mask": obs["action_mask"][None]}
            action = int(players[agent](batch)[0])
            assert obs["action_mask"][action] == 1
        env.step(action)
    return returns


def test_perfect_tictactoe_never_loses_and_draws_itself():
    for seed in range(40):
        assert _play_tictactoe("perfect", "random", seed)["player_1"] >= 0
        assert _play_tictactoe("random", "perfect", seed)["player_2"] >= 0
    assert _play_tictactoe("perfect", "perfect", 0) == {"player_1": 0.0, "player_2": 0.0}


def test_unknown_or_bad_search_player_names_are_clear_errors():
    with pytest.raises(ValueError, match="positive number of plies"):
        scripted_batch_policy("alphabeta:zero")
    with pytest.raises(ValueError, match="connect_four .* tictactoe"):
        scripted_batch_policy("alphabeta:2")({"obs": np.zeros((1, 4, 4, 2)), "action_mask": np.ones((1, 4))})
    with pytest.raises(ValueError, match="'perfect' plays tictactoe"):
        scripted_batch_policy("perfect")(_connect_four([], []))


@pytest.mark.parametrize(("module", "game"), [(connect_four_v3, CONNECT_FOUR), (tictactoe_v3, TICTACTOE)])
def test_the_openspiel_board_follows_the_pettingzoo_board_move_by_move(module, game):
    pytest.importorskip("pyspiel")
    rng = np.random.default_rng(0)
    checked = 0
    for seed in range(6):
        env = module.env()
        env.reset(seed=seed)
        for _agent in env.agent_iter():
            obs, _, terminated, truncated, _ = env.last()
            if terminated or truncated:
                env.step(None)
                continue
            state = openspiel_state(game, *game.from_planes(obs["observation"]))
            assert sorted(state.legal_actions()) == list(np.flatnonzero(obs["action_mask"]))
            rows = str(state).strip().split("\n")  # OpenSpiel draws the board top row first, x for player 0
            cells = np.array([list(row) for row in rows])  # [rows, cols] of ".", "x", "o"
            mover, other = ("x", "o") if state.current_player() == 0 else ("o", "x")
            np.testing.assert_array_equal(cells == mover, obs["observation"][..., 0] == 1)
            np.testing.assert_array_equal(cells == other, obs["observation"][..., 1] == 1)
            checked += 1
            env.step(int(rng.choice(np.flatnonzero(obs["action_mask"]))))
    assert checked > 30


def test_openspiel_mcts_plays_legal_moves_and_takes_a_win():
    pytest.importorskip("pyspiel")
    player = scripted_batch_policy("openspiel_mcts:200")
    win = _connect_four([(0, 1), (0, 2), (0, 3)], [(1, 1), (1, 2), (1, 3)])
    assert int(player(win)[0]) in (0, 4)
    for seed in range(2):  # whole games, every move legal (checked in _play_tictactoe)
        returns = _play_tictactoe("openspiel_mcts:200", "random", seed)
        assert set(returns) == {"player_1", "player_2"}


def test_an_openspiel_mcts_player_that_has_played_still_pickles_and_plays():
    """The scripted registry travels to Ray sampler actors by pickling; a used MCTS player holds pyspiel bots."""
    pytest.importorskip("pyspiel")
    player = scripted_batch_policy("openspiel_mcts:50")
    win = _connect_four([(0, 1), (0, 2), (0, 3)], [(1, 1), (1, 2), (1, 3)])
    player(win)
    copy = pickle.loads(pickle.dumps(player))
    assert int(copy(win)[0]) in (0, 4)
