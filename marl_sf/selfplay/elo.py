"""Elo ratings for learners, pool snapshots and scripted baselines.

Elo, "The Rating of Chessplayers, Past and Present" (1978): the expected score of A against B is
``E_A = 1 / (1 + 10 ** ((R_B - R_A) / 400))`` and after a game with score ``S_A`` (1 win, 0.5 draw, 0 loss)
``R_A <- R_A + K * (S_A - E_A)`` and ``R_B <- R_B - K * (S_A - E_A)`` (the update is zero-sum).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from marl_sf.utils.io import write_json


class EloRatings:
    """Ratings by player name; unknown players start at ``initial``.

    Args:
        k: the K-factor (rating points moved by a fully unexpected result).
        initial: the rating of a new player.
    """

    def __init__(self, k: float = 32.0, initial: float = 1200.0):
        self.k, self.initial = k, initial
        self.ratings: dict[str, float] = {}
        self.games: dict[str, int] = {}

    def rating(self, player: str) -> float:
        """``player``'s rating (``initial`` before its first game)."""
        return self.ratings.get(player, self.initial)

    def expected(self, a: str, b: str) -> float:
        """Expected score of ``a`` against ``b``, in [0, 1]."""
        return 1.0 / (1.0 + 10.0 ** ((self.rating(b) - self.rating(a)) / 400.0))

    def update(self, a: str, b: str, score_a: float) -> tuple[float, float]:
        """Record one game of ``a`` against ``b``; returns both new ratings.

        Raises:
            ValueError: ``score_a`` is not in [0, 1], or a player meets itself.
        """
        if not 0.0 <= score_a <= 1.0:
            raise ValueError(f"score_a={score_a}: use 1 for a win of {a!r}, 0.5 for a draw, 0 for a loss")
        if a == b:
            raise ValueError(f"{a!r} cannot be rated against itself")
        delta = self.k * (score_a - self.expected(a, b))
        self.ratings[a], self.ratings[b] = self.rating(a) + delta, self.rating(b) - delta
        for player in (a, b):
            self.games[player] = self.games.get(player, 0) + 1
        return self.ratings[a], self.ratings[b]

    def save(self, path: Path) -> None:
        """Write the ratings as JSON, atomically."""
        write_json(Path(path), {"k": self.k, "initial": self.initial, "ratings": self.ratings, "games": self.games})

    @classmethod
    def load(cls, path: Path) -> EloRatings:
        """Ratings saved by ``save``.

        Raises:
            ValueError: the file is missing or not a ratings file.
        """
        try:
            data = json.loads(Path(path).read_text())
            ratings = cls(data["k"], data["initial"])
            ratings.ratings, ratings.games = dict(data["ratings"]), dict(data["games"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(f"cannot read Elo ratings from {path}: {e}") from e
        return ratings


def bradley_terry_elo(scores: np.ndarray, games: np.ndarray, iterations: int = 500, mean: float = 1200.0):
    """Order-independent Elo ratings from a round-robin: the maximum-likelihood Bradley-Terry strengths.

    Hunter 2004, "MM algorithms for generalized Bradley-Terry models", eq. 3: ``g_i <- W_i / sum_j n_ij /
    (g_i + g_j)``; ratings are ``400 * log10(g_i)`` shifted to the given mean (Elo's logistic scale). Draws
    count half a win for each side, and every pair that met gets one virtual draw (a prior that keeps an
    unbeaten player's rating finite).

    Args:
        scores: ``[P, P]`` player i's summed score against j (win 1, draw 0.5).
        games: ``[P, P]`` games between i and j (symmetric).

    Returns:
        ``[P]`` ratings.
    """
    met = (games > 0).astype(np.float64)
    wins = scores + 0.5 * met  # [P, P] with the virtual draw
    n = games + met
    strength = np.ones(len(scores))
    for _ in range(iterations):
        denom = (n / (strength[:, None] + strength[None, :])).sum(axis=1)
        strength = np.where(denom > 0, wins.sum(axis=1) / np.maximum(denom, 1e-12), strength)
        strength /= np.exp(np.log(strength).mean())
    ratings = 400.0 * np.log10(strength)
    return ratings - ratings.mean() + mean


ELO_PER_NAT = 400.0 / np.log(10.0)
"""Rating points per unit of natural-log strength (Elo's logistic scale)."""


def bradley_terry_covariance(ratings: np.ndarray, games: np.ndarray) -> np.ndarray:
    """Asymptotic covariance of ``bradley_terry_elo``'s ratings, in Elo points squared.

    The inverse Fisher information of the Bradley-Terry log-likelihood at the fitted ratings (Hunter 2004,
    section 5; David 1988, "The Method of Paired Comparisons", ch. 4): with ``p_ij`` the fitted expected score of
    i against j and ``n_ij`` the games (plus the fit's virtual draw), ``I_ii = sum_j n_ij p_ij (1 - p_ij)`` and
    ``I_ij = -n_ij p_ij (1 - p_ij)``. Ratings are only defined up to a common shift, so the Moore-Penrose
    pseudo-inverse gives the covariance under the fit's fixed-mean constraint; differences between players
    who are linked by games are unaffected by that choice.

    Args:
        ratings: ``[P]`` ratings from ``bradley_terry_elo``.
        games: ``[P, P]`` games between i and j (symmetric).

    Returns:
        ``[P, P]`` covariance; ``sqrt(c[i, i] + c[j, j] - 2 c[i, j])`` is the standard error of ``r_i - r_j``.
    """
    n = games + (games > 0)  # [P, P] with the virtual draw, as in the fit
    p = 1.0 / (1.0 + 10.0 ** ((ratings[None, :] - ratings[:, None]) / 400.0))  # [P, P] i's expected score vs j
    w = n * p * (1.0 - p)
    info = np.diag(w.sum(axis=1)) - w  # [P, P] Fisher information in nats^-2 (a weighted graph Laplacian)
    return ELO_PER_NAT**2 * np.linalg.pinv(info)


def rating_difference_ci(
    ratings: np.ndarray, covariance: np.ndarray, i: int, j: int, z: float = 1.96
) -> tuple[float, float, float]:
    """``(r_i - r_j, low, high)``: a rating difference and its normal-approximation interval (95% for z=1.96)."""
    diff = float(ratings[i] - ratings[j])
    se = float(np.sqrt(max(covariance[i, i] + covariance[j, j] - 2.0 * covariance[i, j], 0.0)))
    return diff, diff - z * se, diff + z * se
