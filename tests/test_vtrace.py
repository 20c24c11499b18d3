"""V-trace (IMPALA eq. 1): a hand-computed answer, the on-policy case against GAE with lambda = 1, and clipping."""

from __future__ import annotations

import math

import torch

from marl_sf.algo.gae import compute_gae
from marl_sf.algo.vtrace import compute_vtrace


def _one_agent(x):
    return torch.tensor(x, dtype=torch.float32).view(-1, 1)


def test_vtrace_matches_a_hand_computation():
    # T = 3, gamma 0.9, ratios pi/mu = (2, 0.5, 1): rho = c = (1, 0.5, 1) with both clips at 1
    rewards, values = _one_agent([1.0, 0.0, 2.0]), _one_agent([0.5, 1.0, 0.2, 0.4])
    no = torch.zeros((3, 1), dtype=torch.bool)
    log_rhos = _one_agent([math.log(2.0), math.log(0.5), 0.0])
    adv, vs = compute_vtrace(rewards, values, no, no, torch.zeros(3, 1), ~no, log_rhos, 0.9, 1.0, 1.0)
    # v_s = V_s + sum_t gamma^(t-s) (prod_{i<t} c_i) rho_t delta_t, with delta = (1.4, -0.82, 2.16)
    expected_vs = [0.5 + 1.4 + 0.9 * 0.5 * -0.82 + 0.81 * 0.5 * 2.16, 1.0 + 0.5 * -0.82 + 0.9 * 0.5 * 2.16, 0.2 + 2.16]
    torch.testing.assert_close(vs.flatten(), torch.tensor(expected_vs))
    # A_s = rho_s (r_s + gamma v_{s+1} - V_s), v_3 = V_3
    expected_adv = [1.0 + 0.9 * expected_vs[1] - 0.5, 0.5 * (0.0 + 0.9 * expected_vs[2] - 1.0), 2.0 + 0.9 * 0.4 - 0.2]
    torch.testing.assert_close(adv.flatten(), torch.tensor(expected_adv))


def test_termination_cuts_the_trace_and_truncation_bootstraps():
    rewards, values = _one_agent([1.0, 1.0, 1.0]), _one_agent([5.0, 5.0, 5.0, 5.0])
    terminated = torch.tensor([[False], [True], [False]])
    truncated = torch.tensor([[False], [False], [True]])
    log_rhos = torch.zeros(3, 1)
    adv, vs = compute_vtrace(rewards, values, terminated, truncated, _one_agent([0.0, 0.0, 3.0]),
                             torch.ones(3, 1, dtype=torch.bool), log_rhos, 0.5)  # fmt: skip
    # step 2 truncated: v_2 = 1 + 0.5 * 3; step 1 terminated: v_1 = 1; step 0: 1 + 0.5 * v_1
    torch.testing.assert_close(vs.flatten(), torch.tensor([1.5, 1.0, 2.5]))
    torch.testing.assert_close(adv.flatten(), torch.tensor([1.5 - 5.0, 1.0 - 5.0, 2.5 - 5.0]))


def test_on_policy_vtrace_is_the_lambda_one_return_with_inactive_steps():
    gen = torch.Generator().manual_seed(0)
    t, e, a = 12, 4, 3
    rewards = torch.randn(t, e, a, generator=gen)
    values = torch.randn(t + 1, e, a, generator=gen)
    terminated = torch.rand(t, e, a, generator=gen) < 0.1
    truncated = (torch.rand(t, e, a, generator=gen) < 0.1) & ~terminated
    boot = torch.randn(t, e, a, generator=gen)
    active = torch.rand(t, e, a, generator=gen) < 0.7
    log_rhos = torch.where(active, torch.zeros(t, e, a), torch.full((t, e, a), 5.0))  # inactive ratios are ignored
    adv, vs = compute_vtrace(rewards, values, terminated, truncated, boot, active, log_rhos, 0.97)
    gae_adv, gae_returns = compute_gae(rewards, values, terminated, truncated, boot, active, 0.97, 1.0)
    torch.testing.assert_close(adv, gae_adv)
    torch.testing.assert_close(vs[active], gae_returns[active])


def test_clipped_importance_weights_bound_the_correction():
    rewards, values = _one_agent([1.0, 1.0]), _one_agent([0.0, 0.0, 0.0])
    no = torch.zeros((2, 1), dtype=torch.bool)
    big = _one_agent([math.log(10.0), math.log(10.0)])
    adv, vs = compute_vtrace(rewards, values, no, no, torch.zeros(2, 1), ~no, big, 1.0, rho_bar=2.0, c_bar=1.0)
    # rho = 2 (clipped from 10), c = 1: v_1 = 0 + 2 * 1 = 2, v_0 = 0 + 2 * 1 + 1 * 1 * 2 = 4
    torch.testing.assert_close(vs.flatten(), torch.tensor([4.0, 2.0]))
    torch.testing.assert_close(adv.flatten(), torch.tensor([2.0 * (1.0 + 2.0), 2.0 * 1.0]))
