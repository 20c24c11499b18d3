"""Training games of turn-based board games that start from random openings.

Self-play with one policy for both seats plays the same few openings over and over (the policy's first moves
soon become nearly deterministic), so its actor and critic never learn the replies to the openings it does not
play, and a search guided by them is misled there. ``RandomOpening`` starts each training game after ``k`` uniformly
random legal moves, ``k`` drawn from ``0 .. max_plies``: every opening of that length is visited, and the learner
plays on from it with both seats. Evaluation and tournaments always start from the empty board (the classic games'
``--random_opening_plies`` is an evaluation option there, 0 unless given).
"""

from __future__ import annotations

import numpy as np
from pettingzoo.utils.wrappers import BaseWrapper

MAX_REDRAWS = 100
"""Openings drawn in a row before ``RandomOpening.reset`` gives up."""


class RandomOpening(BaseWrapper):
    """A PettingZoo AEC board game whose ``reset`` plays ``k ~ U{0, ..., max_plies}`` random legal moves.

    The opening's moves come from the observations' ``action_mask``; an opening that ends the game is drawn again
    (at most ``MAX_REDRAWS`` times in a row).

    Args:
        env: an AEC env with ``{"observation", "action_mask"}`` observations (PettingZoo's classic games).
        max_plies: the longest opening, in moves of either player.

    Raises:
        ValueError: a negative ``max_plies``; at ``reset``, openings that kept ending the game (``max_plies`` too
            long for the board).
    """

    def __init__(self, env, max_plies: int):
        if max_plies < 0:
            raise ValueError(f"--random_opening_plies is a number of moves, 0 or more, not {max_plies}")
        super().__init__(env)
        self.max_plies = max_plies
        self.rng = np.random.default_rng()

    def reset(self, seed: int | None = None, options: dict | None = None) -> None:
        """Reset the game (``seed`` also seeds the openings) and play a random opening; the env is then at the
        position after it, its ``agent_selection`` the player to move there."""
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        for _ in range(MAX_REDRAWS):
            super().reset(seed=seed, options=options)
            seed = None  # a redrawn opening continues the env's own random stream
            if self._play_opening(int(self.rng.integers(0, self.max_plies + 1))):
                return
        raise ValueError(f"random openings of up to {self.max_plies} moves ended {MAX_REDRAWS} games in a row: "
                         "give a smaller --random_opening_plies")  # fmt: skip

    def _play_opening(self, plies: int) -> bool:
        """Play ``plies`` random legal moves; False when the game ended meanwhile."""
        for _ in range(plies):
            mask = self.observe(self.agent_selection)["action_mask"]
            self.step(int(self.rng.choice(np.flatnonzero(mask))))
            if any(self.terminations.values()) or any(self.truncations.values()):
                return False
        return True
