"""Game scores: who won an episode, from each side's mean episode return.

The default (``higher_return_wins``) fits zero-sum games such as the classic board games: the side with the
highest mean return scores 1, the others 0, and a tie is a draw (0.5 each). Envs whose returns are not
zero-sum register their own rule with ``register_game_score(env_name, fn)`` (documented global registry, like
the env registry); ``mpe_simple_tag`` registers "the predators win when they catch the prey at least once".
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

GameScore = Callable[[np.ndarray], np.ndarray]

_SCORES: dict[str, GameScore] = {}


def higher_return_wins(side_returns: np.ndarray) -> np.ndarray:
    """``[S]`` scores from ``[S]`` mean side returns: 1 for the single best side, 0.5 for sides tied at the top
    of a two-way tie (draw), 0 for the rest."""
    best = side_returns == side_returns.max()
    if best.all() or best.sum() > 1:
        return np.where(best, 0.5, 0.0)
    return best.astype(np.float64)


def registered_game_scores() -> dict[str, GameScore]:
    """The game scores registered with ``register_game_score``, by env name (the live mapping)."""
    return _SCORES


def register_game_score(env_name: str, fn: GameScore) -> None:
    """Score ``env_name``'s episodes with ``fn(side_returns [S]) -> scores [S]`` (each in [0, 1]).

    Raises:
        TypeError: ``fn`` is not callable.
    """
    if not callable(fn):
        raise TypeError(f"register_game_score({env_name!r}, fn): fn must be callable as fn(side_returns)")
    _SCORES[env_name] = fn


def game_score(env_name: str) -> GameScore:
    """The registered score rule of ``env_name``, ``higher_return_wins`` by default."""
    return _SCORES.get(env_name, higher_return_wins)
