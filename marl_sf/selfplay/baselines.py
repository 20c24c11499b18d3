"""Scripted baselines for the built-in games, registered by name on import.

``connect_four_lookahead``: the one-step-lookahead heuristic (win if possible, else block the opponent's
immediate win, else a uniformly random legal move) on PettingZoo connect_four_v3 observations: ``obs``
``[6, 7, 2]`` with plane 0 the mover's pieces and plane 1 the opponent's, row 0 at the top.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from marl_sf.selfplay.scripted import register_scripted_policy, uniform_random_legal

ROWS, COLS = 6, 7


def four_in_a_row(board: np.ndarray) -> bool:
    """Whether the bool ``[6, 7]`` board holds four in a row (horizontal, vertical or diagonal)."""
    b = board.astype(bool)
    if (b[:, :-3] & b[:, 1:-2] & b[:, 2:-1] & b[:, 3:]).any():
        return True
    if (b[:-3] & b[1:-2] & b[2:-1] & b[3:]).any():
        return True
    if (b[:-3, :-3] & b[1:-2, 1:-2] & b[2:-1, 2:-1] & b[3:, 3:]).any():
        return True
    return bool((b[3:, :-3] & b[2:-1, 1:-2] & b[1:-2, 2:-1] & b[:-3, 3:]).any())


def drop(board: np.ndarray, occupied: np.ndarray, column: int) -> np.ndarray:
    """``board [6, 7]`` with a piece dropped into ``column`` (lowest row not ``occupied``)."""
    row = ROWS - 1 - int(occupied[::-1, column].argmin())  # lowest empty row (row 0 is the top)
    out = board.copy()
    out[row, column] = 1
    return out


def connect_four_lookahead(obs: dict[str, Any], rng: np.random.Generator | None = None) -> int:
    """Win now if a legal move wins, else block a column where the opponent would win, else random legal.

    Raises:
        ValueError: the observation is not a connect_four ``[6, 7, 2]`` board with an ``action_mask``.
    """
    planes = np.asarray(obs.get("obs", obs.get("observation")))
    if planes.shape != (ROWS, COLS, 2) or "action_mask" not in obs:
        raise ValueError(f"connect_four_lookahead needs a [6, 7, 2] connect_four board and an action_mask, got "
                         f"shape {planes.shape}")  # fmt: skip
    mine, theirs = planes[..., 0] > 0, planes[..., 1] > 0
    occupied = mine | theirs
    legal = np.flatnonzero(np.asarray(obs["action_mask"]))
    for pieces in (mine, theirs):  # first a winning move, then a block
        for column in legal:
            if four_in_a_row(drop(pieces, occupied, int(column))):
                return int(column)
    return uniform_random_legal(obs, rng)


register_scripted_policy("connect_four_lookahead", connect_four_lookahead)
