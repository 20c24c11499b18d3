"""Statistics across runs for few seeds, after Agarwal et al. 2021, "Deep Reinforcement Learning at the Edge of the
Statistical Precipice" (NeurIPS): the interquartile mean, stratified-bootstrap confidence intervals and performance
profiles, written with numpy (the ``rliable`` package computes the same; it is not a dependency).

Scores are ``[runs, tasks]`` arrays, one final score per run (seed) and task (env) of one configuration, or a list
of per-task ``[runs_t]`` arrays when the tasks have different numbers of runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

Statistic = Callable[[np.ndarray], float]
Scores = np.ndarray | Sequence[np.ndarray]


def _tasks(scores: Scores) -> list[np.ndarray]:
    """The runs' scores of each task: the columns of a ``[runs, tasks]`` array, or the given per-task arrays.

    Raises:
        ValueError: not ``[runs, tasks]`` nor a list of 1-D arrays, or a task without runs.
    """
    if isinstance(scores, np.ndarray):
        if scores.ndim != 2:
            raise ValueError(f"scores must be [runs, tasks] (or a list of per-task runs), got shape {scores.shape}")
        tasks = [scores[:, t] for t in range(scores.shape[1])]
    else:
        tasks = [np.asarray(t, dtype=np.float64).ravel() for t in scores]
    if not tasks or any(t.size == 0 for t in tasks):
        raise ValueError("every task needs at least one run's score")
    return [np.asarray(t, dtype=np.float64) for t in tasks]


def _bootstrap(scores: Scores, reps: int, seed: int) -> np.ndarray:
    """``[reps, runs]`` resamples: each task's runs drawn with replacement within the task, tasks side by side."""
    rng = np.random.default_rng(seed)
    return np.concatenate([t[rng.integers(0, t.size, size=(reps, t.size))] for t in _tasks(scores)], axis=1)


def iqm(scores: Scores) -> float:
    """The interquartile mean of all ``scores``: the mean of the middle 50% once the lowest and highest
    ``floor(n / 4)`` are dropped (``scipy.stats.trim_mean(scores, 0.25)``; Agarwal et al. 2021, section 4.3)."""
    flat = np.sort(_flat(scores))
    cut = int(0.25 * flat.size)
    return float(flat[cut : flat.size - cut].mean())


def mean(scores: Scores) -> float:
    """The mean of all ``scores``."""
    return float(np.mean(_flat(scores)))


def _flat(scores: Scores) -> np.ndarray:
    """Every score in one ``[n]`` array."""
    if isinstance(scores, np.ndarray):
        return scores.astype(np.float64).ravel()
    return np.concatenate([np.asarray(t, dtype=np.float64).ravel() for t in scores])


def stratified_bootstrap_ci(
    scores: Scores, statistic: Statistic, reps: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """The percentile bootstrap interval of ``statistic`` over all scores, resampling the runs of each task with
    replacement, independently per task (Agarwal et al. 2021, section 4.1).

    Raises:
        ValueError: ``scores`` is not ``[runs, tasks]`` (or per-task arrays) or a task has no run.
    """
    values = np.array([statistic(r) for r in _bootstrap(scores, reps, seed)])  # [reps]
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def performance_profile(
    scores: Scores, thresholds: np.ndarray, reps: int = 2000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The run-score distribution: for each threshold tau, the fraction of scores above tau, with a 95%
    stratified-bootstrap band (Agarwal et al. 2021, section 4.2).

    Returns:
        ``(fraction [K], low [K], high [K])`` for the K ``thresholds``.
    """
    thresholds = np.asarray(thresholds, dtype=np.float64)
    flat = np.concatenate(_tasks(scores))  # [runs]
    resampled = _bootstrap(scores, reps, seed)  # [reps, runs]
    bands = (resampled[:, :, None] > thresholds).mean(axis=1)  # [reps, K]
    low, high = np.percentile(bands, [2.5, 97.5], axis=0)
    return (flat[:, None] > thresholds).mean(axis=0), low, high
