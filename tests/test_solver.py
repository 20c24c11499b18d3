"""The endgame solver (marl_sf.selfplay.solver) against plain minimax and known positions, and inside PUCT."""

from __future__ import annotations

import math

import numpy as np
import pytest

from marl_sf.selfplay.puct import PUCTSearch
from marl_sf.selfplay.search_players import CONNECT_FOUR, TICTACTOE, _exact, negamax
from marl_sf.selfplay.solver import solve, solve_moves

bit = CONNECT_FOUR.bit  # (row from the bottom, column)


def random_position(game, empty: int, rng: np.random.Generator) -> tuple[int, int]:
    """A position reached by random legal moves with ``empty`` cells left and nobody won; ``(mover, other)``."""
    while True:
        mine, theirs = 0, 0
        for _ in range(game.rows * game.cols - empty):
            moves = game.moves(mine | theirs)
            after = mine | moves[rng.integers(len(moves))][1]
            if game.won(after):
                break
            mine, theirs = theirs, after
        else:
            return mine, theirs


def test_solver_agrees_with_minimax_to_the_end_of_the_game():
    rng = np.random.default_rng(0)
    assert solve(TICTACTOE, 0, 0, 10**6) == 0.0  # tictactoe is a draw
    for empty in (3, 5, 7):
        for _ in range(10):
            mine, theirs = random_position(TICTACTOE, empty, rng)
            assert solve(TICTACTOE, mine, theirs, 10**6) == np.sign(_exact(TICTACTOE, mine, theirs, empty))
    scores = set()
    for _ in range(12):
        mine, theirs = random_position(CONNECT_FOUR, 10, rng)
        exact = np.sign(negamax(CONNECT_FOUR, mine, theirs, 10, -np.inf, np.inf))
        assert solve(CONNECT_FOUR, mine, theirs, 10**6) == exact
        scores.add(exact)
    assert len(scores) > 1  # the positions are not all of one kind


def test_winning_cells_on_known_positions():
    assert CONNECT_FOUR.winning_cells(bit(0, 1) | bit(0, 2) | bit(0, 3)) == bit(0, 0) | bit(0, 4)
    assert CONNECT_FOUR.winning_cells(bit(0, 3) | bit(1, 3) | bit(2, 3)) == bit(3, 3)
    diagonal = bit(0, 0) | bit(1, 1) | bit(2, 2)
    assert CONNECT_FOUR.winning_cells(diagonal) == bit(3, 3)
    assert CONNECT_FOUR.winning_cells(bit(5, 0) | bit(5, 1) | bit(5, 2)) == bit(5, 3)  # the top row: no wrap
    assert CONNECT_FOUR.winning_cells(bit(3, 6) | bit(4, 6) | bit(5, 6)) == bit(2, 6)  # nothing above the top
    assert TICTACTOE.winning_cells(TICTACTOE.bit(0, 0) | TICTACTOE.bit(1, 1)) == TICTACTOE.bit(2, 2)


def test_solver_on_known_connect_four_positions():
    # the mover has three in the bottom row, open at both ends: it wins now
    assert solve(CONNECT_FOUR, bit(0, 1) | bit(0, 2) | bit(0, 3), bit(1, 1) | bit(1, 2) | bit(1, 3), 100) == 1.0
    # the opponent has three in the bottom row open at both ends (a double threat) and the mover no threat: lost
    mine, theirs = bit(0, 0) | bit(1, 0) | bit(0, 6), bit(0, 2) | bit(0, 3) | bit(0, 4)
    assert solve(CONNECT_FOUR, mine, theirs, 100) == -1.0
    # each move's score: the moves other than the two blocks (columns 1 and 5) lose, and both blocks lose too
    scores = solve_moves(CONNECT_FOUR, mine, theirs, list(range(7)), 10**5)
    assert scores.tolist() == [-1.0] * 7
    # a win found: the moves after it are not solved
    scores = solve_moves(CONNECT_FOUR, bit(0, 1) | bit(0, 2) | bit(0, 3), bit(1, 1) | bit(1, 2) | bit(1, 3),
                         [4, 0, 6], 100)  # fmt: skip
    assert scores[0] == 1.0 and np.isnan(scores[1:]).all()


def test_solver_budget_and_bad_input():
    assert solve(CONNECT_FOUR, 0, 0, 1000) is None  # the empty board is far beyond 1,000 positions
    assert np.isnan(solve_moves(CONNECT_FOUR, 0, 0, [3, 2], 1000)).all()
    with pytest.raises(ValueError, match="node budget"):
        solve(TICTACTOE, 0, 0, 0)
    won = bit(0, 0) | bit(0, 1) | bit(0, 2) | bit(0, 3)
    with pytest.raises(ValueError, match="finished game"):
        solve(CONNECT_FOUR, bit(1, 0), won, 100)
    with pytest.raises(ValueError, match="out of range"):
        solve_moves(CONNECT_FOUR, 0, 0, [7], 100)


def test_puct_with_the_solver_plays_the_proven_move():
    """With uniform priors, no value and one simulation the search alone picks a move at random; from 10 empty
    cells the solver proves each move and the search plays a proven win (or, lacking one, never a proven loss)."""

    def uniform_net(game, nodes):
        return [np.full(len(n.actions), 1.0 / len(n.actions)) for n in nodes], np.zeros(len(nodes))

    rng = np.random.default_rng(1)
    search = PUCTSearch(uniform_net, simulations=1, rng=np.random.default_rng(0), solve_empties=10)
    for _ in range(8):
        mine, theirs = random_position(CONNECT_FOUR, 10, rng)
        actions = [a for a, _ in CONNECT_FOUR.moves(mine | theirs)]
        scores = solve_moves(CONNECT_FOUR, mine, theirs, actions, 10**6)
        scores = [s if not math.isnan(s) else -2.0 for s in scores]  # moves after a win were not solved
        best = max(scores)
        move = int(search.moves(CONNECT_FOUR, [(mine, theirs)])[0])
        assert scores[actions.index(move)] == best
    with pytest.raises(ValueError, match="solve_empties"):
        PUCTSearch(uniform_net, simulations=1, solve_empties=-1)
