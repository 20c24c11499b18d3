"""Scripted baselines for the built-in games, registered by name on import.

``connect_four_lookahead``: the one-step-lookahead heuristic (win if possible, else block the opponent's
immediate win, else a uniformly random legal move) on PettingZoo connect_four_v3 observations: ``obs``
``[6, 7, 2]`` with plane 0 the mover's pieces and plane 1 the opponent's, row 0 at the top. It is batched:
one call decides for every board of a batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from marl_sf.selfplay.scripted import random_legal_actions, register_scripted_policy

ROWS, COLS = 6, 7


def four_in_a_row(boards: np.ndarray) -> np.ndarray:
    """Whether each bool board ``[..., 6, 7]`` holds four in a row (horizontal, vertical or diagonal): ``[...]``."""
    b = boards.astype(bool)
    horizontal = b[..., :, :-3] & b[..., :, 1:-2] & b[..., :, 2:-1] & b[..., :, 3:]  # [..., 6, 4]
    vertical = b[..., :-3, :] & b[..., 1:-2, :] & b[..., 2:-1, :] & b[..., 3:, :]  # [..., 3, 7]
    down = b[..., :-3, :-3] & b[..., 1:-2, 1:-2] & b[..., 2:-1, 2:-1] & b[..., 3:, 3:]  # [..., 3, 4]
    up = b[..., 3:, :-3] & b[..., 2:-1, 1:-2] & b[..., 1:-2, 2:-1] & b[..., :-3, 3:]  # [..., 3, 4]
    return np.stack([x.any(axis=(-2, -1)) for x in (horizontal, vertical, down, up)]).any(axis=0)


def winning_columns(pieces: np.ndarray, occupied: np.ndarray) -> np.ndarray:
    """``[n, 7]`` bool: dropping a piece into the column completes four in a row for ``pieces`` ``[n, 6, 7]``
    (``occupied`` ``[n, 6, 7]``: both players' pieces). Full columns are never winning."""
    landing = ROWS - 1 - occupied.sum(axis=1)  # [n, 7] lowest empty row (row 0 is the top); -1: column full
    after = np.repeat(pieces[:, None], COLS, axis=1)  # [n, 6, 7] -> [n, 7 moves, 6, 7]
    boards, columns = np.nonzero(landing >= 0)
    after[boards, columns, landing[boards, columns], columns] = True
    return four_in_a_row(after) & (landing >= 0)


def connect_four_lookahead(obs: dict[str, Any], rng: np.random.Generator | None = None) -> np.ndarray:
    """Per board: the first legal column that wins now, else the first that blocks an opponent's immediate win,
    else a uniformly random legal column.

    Args:
        obs: ``{"obs": [n, 6, 7, 2], "action_mask": [n, 7]}``.

    Returns:
        ``[n]`` columns.

    Raises:
        ValueError: the observations are not connect_four ``[6, 7, 2]`` boards with an ``action_mask``.
    """
    planes = np.asarray(obs.get("obs", obs.get("observation")))
    if planes.shape[1:] != (ROWS, COLS, 2) or "action_mask" not in obs:
        raise ValueError(f"connect_four_lookahead needs [6, 7, 2] connect_four boards and an action_mask, got "
                         f"shape {planes.shape[1:]}")  # fmt: skip
    mine, theirs = planes[..., 0] > 0, planes[..., 1] > 0  # [n, 6, 7]
    occupied = mine | theirs
    legal = np.asarray(obs["action_mask"]) > 0  # [n, 7]
    actions = random_legal_actions(obs, rng)
    for pieces in (theirs, mine):  # a win (checked last) overrides a block
        hits = winning_columns(pieces, occupied) & legal  # [n, 7]
        rows = hits.any(axis=1)
        actions[rows] = hits[rows].argmax(axis=1)  # the first such column
    return actions


register_scripted_policy("connect_four_lookahead", connect_four_lookahead, batched=True)
