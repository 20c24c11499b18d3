"""PPO loss known answers on hand-computed values (Schulman et al. 2017 eq. 7; MAPPO's clipped value loss)."""

from __future__ import annotations

import math

import pytest
import torch

from marl_sf.algo.losses import entropy_bonus, normalize_advantages, policy_loss, value_loss
from marl_sf.algo.value_norm import ValueNorm


def test_policy_loss_clips_the_ratio():
    # ratios 1.5 (clipped to 1.2 for A > 0), 0.5 (clipped to 0.8 for A < 0: min picks 0.8 * -1), 1.0
    old = torch.zeros(3)
    new = torch.log(torch.tensor([1.5, 0.5, 1.0]))
    adv = torch.tensor([2.0, -1.0, 3.0])
    mask = torch.ones(3, dtype=torch.bool)
    loss, clip_frac, kl = policy_loss(new, old, adv, 0.2, mask)
    expected = -(1.2 * 2.0 + 0.8 * -1.0 + 1.0 * 3.0) / 3
    assert loss.item() == pytest.approx(expected)
    assert clip_frac.item() == pytest.approx(2 / 3)
    expected_kl = ((0.5 - math.log(1.5)) + (-0.5 - math.log(0.5)) + 0.0) / 3
    assert kl.item() == pytest.approx(expected_kl, rel=1e-5)


def test_policy_loss_ignores_masked_steps():
    new = torch.tensor([0.0, 5.0])
    old = torch.zeros(2)
    adv = torch.tensor([1.0, 100.0])
    loss, _, _ = policy_loss(new, old, adv, 0.2, torch.tensor([True, False]))
    assert loss.item() == pytest.approx(-1.0)


def test_value_loss_takes_the_larger_of_clipped_and_unclipped():
    values = torch.tensor([1.0, 0.0])
    old = torch.tensor([0.0, 0.0])
    targets = torch.tensor([1.0, 1.0])
    # row 0: unclipped 0, clipped (0.2 - 1)^2 = 0.64 -> 0.64; row 1: both 1 -> 1
    loss = value_loss(values, old, targets, 0.2, torch.ones(2, dtype=torch.bool))
    assert loss.item() == pytest.approx(0.5 * (0.64 + 1.0) / 2)
    assert value_loss(values, old, targets, 0.0, torch.ones(2, dtype=torch.bool)).item() == pytest.approx(0.25)


def test_entropy_and_advantage_normalization_respect_the_mask():
    mask = torch.tensor([True, True, False])
    assert entropy_bonus(torch.tensor([1.0, 2.0, 50.0]), mask).item() == pytest.approx(1.5)
    adv = normalize_advantages(torch.tensor([1.0, 3.0, 99.0]), mask)
    assert adv.tolist() == pytest.approx([-1.0, 1.0, 0.0], abs=1e-6)


def test_value_norm_standardizes_and_round_trips():
    norm = ValueNorm(beta=0.5)
    x = torch.tensor([2.0, 4.0, 6.0])
    norm.update(x)  # debiased: mean 4, E[x^2] = 56/3 -> var 8/3
    mean, var = norm.mean_var()
    assert mean.item() == pytest.approx(4.0)
    assert var.item() == pytest.approx(8 / 3)
    assert norm.normalize(torch.tensor([4.0])).item() == pytest.approx(0.0, abs=1e-6)
    assert norm.denormalize(norm.normalize(x)).tolist() == pytest.approx(x.tolist(), rel=1e-5)
