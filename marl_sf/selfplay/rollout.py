"""Random playouts of many k-in-a-row positions at once, on numpy arrays of bitboards.

The value estimate of classic Monte Carlo tree search (Kocsis and Szepesvari 2006; Coulom 2006): from a position,
both players play uniformly random legal moves to the end of the game, and the outcome scores the position. PUCT
search mixes it with the critic's value as AlphaGo did (Silver et al. 2016, "Mastering the game of Go with deep
neural networks and tree search", Methods: ``V(s_L) = (1 - lambda) v(s_L) + lambda z_L``).
"""

from __future__ import annotations

import numpy as np

from marl_sf.selfplay.search_players import Game


def _won(game: Game, pieces: np.ndarray) -> np.ndarray:
    """``[n]`` bool: which of the ``[n]`` uint64 bitboards hold ``connect`` in a row (``Game.won``, batched)."""
    out = np.zeros(pieces.shape, dtype=bool)
    for shift in (1, game.rows + 1, game.rows, game.rows + 2):
        line = pieces.copy()
        for i in range(1, game.connect):
            line &= pieces >> np.uint64(i * shift)
        out |= line != 0
    return out


def _legal_cells(game: Game, occupied: np.ndarray) -> np.ndarray:
    """``[n, rows * cols]`` bool: the cells a move may fill (a gravity game: each column's lowest empty cell)."""
    cells = game.cell_bits
    empty = (occupied[:, None] & cells[None, :]) == 0  # [n, rows * cols]
    if not game.gravity:
        return empty
    by_column = empty.reshape(len(occupied), game.cols, game.rows)  # [n, cols, rows], bottom row first
    lowest = np.cumsum(by_column, axis=2) == 1  # the first empty cell of each column, from the bottom
    return (by_column & lowest).reshape(len(occupied), -1)  # [n, cols, rows] -> [n, rows * cols]


def random_playouts(game: Game, mine: np.ndarray, theirs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Play each position to its end with uniformly random legal moves.

    Args:
        game: the board game.
        mine, theirs: ``[n]`` uint64 bitboards of the player to move and of the other; no position is finished.
        rng: draws the moves.

    Returns:
        ``[n]`` float outcomes for the player to move at the start: +1 won, 0 drawn, -1 lost.

    Raises:
        ValueError: a position that is already finished.
    """
    n = len(mine)
    if _won(game, theirs.astype(np.uint64)).any() or ((mine | theirs) == np.uint64(game.full)).any():
        raise ValueError("random playouts start from positions with a move to play, not finished games")
    mover, other = mine.astype(np.uint64), theirs.astype(np.uint64)
    outcome = np.zeros(n)
    sign = np.ones(n)  # +1 while the starting player is to move
    playing = np.ones(n, dtype=bool)
    cells = game.cell_bits
    full = np.uint64(game.full)
    while playing.any():
        rows = np.flatnonzero(playing)
        legal = _legal_cells(game, mover[rows] | other[rows])  # [m, rows * cols]
        keys = np.where(legal, rng.random(legal.shape), -1.0)
        placed = mover[rows] | cells[np.argmax(keys, axis=1)]
        won = _won(game, placed)
        outcome[rows[won]] = sign[rows[won]]
        done = won | ((placed | other[rows]) == full)
        mover[rows], other[rows] = other[rows], placed  # the next player moves
        sign[rows] = -sign[rows]
        playing[rows[done]] = False
    return outcome
