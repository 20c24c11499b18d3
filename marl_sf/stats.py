"""Statistics across runs for few seeds, after Agarwal et al. 2021, "Deep Reinforcement Learning at the Edge of the
Statistical Precipice" (NeurIPS): the interquartile mean, stratified-bootstrap confidence intervals and performance
profiles, written with numpy (the ``rliable`` package computes the same; it is not a dependency).

Scores are ``[runs, tasks]`` arrays: one final score per run (seed) and task (env), for one configuration.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Statistic = Callable[[np.ndarray], float]


def iqm(scores: np.ndarray) -> float:
    """The interquartile mean of all ``scores``: the mean of the middle 50% once the lowest and highest
    ``floor(n / 4)`` are dropped (``scipy.stats.trim_mean(scores, 0.25)``; Agarwal et al. 2021, section 4.3)."""
    flat = np.sort(np.asarray(scores, dtype=np.float64).ravel())
    cut = int(0.25 * flat.size)
    return float(flat[cut : flat.size - cut].mean())


def mean(scores: np.ndarray) -> float:
    """The mean of all ``scores``."""
    return float(np.mean(scores))


def stratified_bootstrap_ci(
    scores: np.ndarray, statistic: Statistic, reps: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """The percentile bootstrap interval of ``statistic(scores)``, resampling the runs of each task (column of
    ``scores [runs, tasks]``) with replacement, independently per task (Agarwal et al. 2021, section 4.1).

    Raises:
        ValueError: ``scores`` is not 2-D or has no run.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[0] == 0:
        raise ValueError(f"scores must be [runs, tasks] with at least one run, got shape {scores.shape}")
    rng = np.random.default_rng(seed)
    runs, tasks = scores.shape
    picks = rng.integers(0, runs, size=(reps, runs, tasks))  # [reps, runs, tasks] run indices per task
    resampled = np.take_along_axis(scores[None], picks, axis=1)  # [reps, runs, tasks]
    values = np.array([statistic(r) for r in resampled])  # [reps]
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def performance_profile(
    scores: np.ndarray, thresholds: np.ndarray, reps: int = 2000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The run-score distribution: for each threshold tau, the fraction of scores above tau, with a 95%
    stratified-bootstrap band (Agarwal et al. 2021, section 4.2).

    Returns:
        ``(fraction [K], low [K], high [K])`` for the K ``thresholds``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    thresholds = np.asarray(thresholds, dtype=np.float64)

    def above(s: np.ndarray) -> np.ndarray:
        return (s.ravel()[:, None] > thresholds[None]).mean(axis=0)  # [K]

    rng = np.random.default_rng(seed)
    runs, tasks = scores.shape
    picks = rng.integers(0, runs, size=(reps, runs, tasks))
    resampled = np.take_along_axis(scores[None], picks, axis=1)  # [reps, runs, tasks]
    bands = np.stack([above(r) for r in resampled])  # [reps, K]
    low, high = np.percentile(bands, [2.5, 97.5], axis=0)
    return above(scores), low, high
