"""Random playouts on batched bitboards (marl_sf.selfplay.rollout) against the known outcome rates of random
play."""

from __future__ import annotations

import numpy as np

from marl_sf.selfplay.rollout import _legal_cells, random_playouts
from marl_sf.selfplay.search_players import CONNECT_FOUR, TICTACTOE


def test_random_tictactoe_from_the_empty_board_has_its_known_outcome_rates():
    """Uniformly random tictactoe: the first player wins 737/1260 = 0.585 of the games, the second 0.288, draws
    0.127 (exact enumeration over the game tree weighted by random play)."""
    n = 40_000
    z = random_playouts(TICTACTOE, np.zeros(n, np.uint64), np.zeros(n, np.uint64), np.random.default_rng(0))
    np.testing.assert_allclose([(z == 1).mean(), (z == -1).mean(), (z == 0).mean()], [0.585, 0.288, 0.127],
                               atol=0.01)  # fmt: skip


def test_connect_four_playouts_obey_gravity_and_end_every_game():
    """A column filled to one below the top takes one more piece only; the first player wins about 55% of random
    games (and draws are rare), and a mover with three stacked in a column and the fourth cell open wins often."""
    rng = np.random.default_rng(1)
    n = 20_000
    z = random_playouts(CONNECT_FOUR, np.zeros(n, np.uint64), np.zeros(n, np.uint64), rng)
    assert set(np.unique(z)) <= {-1.0, 0.0, 1.0}
    assert 0.52 < (z == 1).mean() < 0.59 and (z == 0).mean() < 0.01
    bit = CONNECT_FOUR.bit
    mine = np.full(2000, bit(0, 3) | bit(1, 3) | bit(2, 3), np.uint64)
    theirs = np.full(2000, bit(0, 0) | bit(0, 1) | bit(0, 6), np.uint64)
    z = random_playouts(CONNECT_FOUR, mine, theirs, rng)
    assert (z == 1).mean() > 0.6  # one in seven first moves wins at once, and the threat stays open
    five_high = np.array([sum(bit(r, 2) for r in range(5))], np.uint64)  # column 2 holds 5 of its 6 cells
    legal = _legal_cells(CONNECT_FOUR, five_high)[0].reshape(7, 6)  # [cols, rows], bottom row first
    assert legal[2].tolist() == [False] * 5 + [True]  # only the top cell of column 2
    assert legal[:, 0].sum() == 6 and legal.sum() == 7  # every other column: its bottom cell
