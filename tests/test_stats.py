"""Known answers for the statistics across runs (marl_sf.stats): IQM, stratified bootstrap, performance profiles."""

from __future__ import annotations

import numpy as np
import pytest

from marl_sf.stats import iqm, mean, performance_profile, stratified_bootstrap_ci


def test_iqm_is_the_mean_of_the_middle_half():
    assert iqm(np.arange(1, 9)) == pytest.approx(4.5)  # 1..8: drop 1, 2 and 7, 8
    assert iqm(np.array([[0.0, 100.0], [1.0, 2.0], [3.0, -50.0]])) == pytest.approx(1.5)  # all 6: drop -50, 100
    assert iqm(np.array([5.0, 1.0, 3.0])) == pytest.approx(3.0)  # n = 3: nothing to cut
    scipy_stats = pytest.importorskip("scipy.stats")
    x = np.random.default_rng(0).normal(size=37)
    assert iqm(x) == pytest.approx(scipy_stats.trim_mean(x, 0.25))


def test_the_bootstrap_interval_holds_the_statistic_and_resamples_within_each_task():
    rng = np.random.default_rng(1)
    scores = np.stack([rng.normal(0, 1, 10), rng.normal(100, 1, 10)], axis=1)  # [10 runs, 2 tasks]
    low, high = stratified_bootstrap_ci(scores, mean)
    assert low < mean(scores) < high
    assert low > 48 and high < 52  # each resample keeps 10 runs of each task, so the mean stays near 50
    assert stratified_bootstrap_ci(np.full((5, 1), 3.0), iqm) == (3.0, 3.0)
    assert stratified_bootstrap_ci(scores, mean, seed=7) == stratified_bootstrap_ci(scores, mean, seed=7)
    with pytest.raises(ValueError, match=r"\[runs, tasks\]"):
        stratified_bootstrap_ci(np.zeros(4), mean)


def test_the_performance_profile_is_the_fraction_of_runs_above_each_threshold():
    fraction, low, high = performance_profile(np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([-1, 0.5, 2.5, 5.0]))
    np.testing.assert_allclose(fraction, [1.0, 0.75, 0.25, 0.0])
    assert np.all(low <= fraction) and np.all(fraction <= high)
    assert low[0] == high[0] == 1.0 and low[-1] == high[-1] == 0.0


def test_tasks_with_different_numbers_of_runs_are_resampled_each_within_itself():
    scores = [np.array([0.0, 0.0, 0.0]), np.array([10.0])]  # 3 runs on one env, 1 on the other
    assert mean(scores) == pytest.approx(2.5) and iqm(scores) == pytest.approx(0.0)
    assert stratified_bootstrap_ci(scores, mean) == (2.5, 2.5)  # each task keeps its own runs: no mixing
    fraction, _, _ = performance_profile(scores, np.array([5.0]))
    np.testing.assert_allclose(fraction, [0.25])
