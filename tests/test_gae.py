"""GAE known answers: plain, termination, truncation bootstrap, inactive steps (Schulman et al. 2016, eq. 16)."""

from __future__ import annotations

import pytest
import torch

from marl_sf.algo.gae import compute_gae


def _gae(rewards, values, term=None, trunc=None, boot=None, active=None, gamma=0.9, lam=0.5):
    t = len(rewards)
    as_bool = lambda x: torch.tensor(x if x is not None else [False] * t)  # noqa: E731
    return compute_gae(
        torch.tensor(rewards),
        torch.tensor(values),
        as_bool(term),
        as_bool(trunc),
        torch.tensor(boot if boot is not None else [0.0] * t),
        torch.tensor(active if active is not None else [True] * t),
        gamma,
        lam,
    )


def test_gae_no_episode_end_matches_hand_computation():
    adv, ret = _gae([1.0, 2.0], [0.5, 1.0, 2.0])
    d1 = 2.0 + 0.9 * 2.0 - 1.0  # 2.8
    d0 = 1.0 + 0.9 * 1.0 - 0.5  # 1.4
    assert adv.tolist() == pytest.approx([d0 + 0.45 * d1, d1])  # 2.66, 2.8
    assert ret.tolist() == pytest.approx([2.66 + 0.5, 2.8 + 1.0])


def test_gae_lambda_one_gives_discounted_return_minus_value():
    adv, ret = _gae([1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 10.0], gamma=0.5, lam=1.0)
    assert ret.tolist() == pytest.approx([1 + 0.5 + 0.25 + 0.125 * 10, 1 + 0.5 + 0.25 * 10, 1 + 0.5 * 10])


def test_termination_cuts_the_bootstrap():
    adv, _ = _gae([1.0, 1.0], [0.5, 0.25, 100.0], term=[True, False])
    assert adv[0].item() == pytest.approx(1.0 - 0.5)  # nothing after the termination
    assert adv[1].item() == pytest.approx(1.0 + 0.9 * 100.0 - 0.25)


def test_truncation_bootstraps_from_final_observation_value():
    # step 0 is truncated: its successor is V(final obs) = 3, not the reset obs' value 7
    adv, _ = _gae([1.0, 0.0], [2.0, 7.0, 0.0], trunc=[True, False], boot=[3.0, 0.0])
    assert adv[0].item() == pytest.approx(1.0 + 0.9 * 3.0 - 2.0)
    assert adv[1].item() == pytest.approx(0.0 + 0.9 * 0.0 - 7.0)


def test_inactive_steps_are_skipped_and_get_zero_advantage():
    # the agent acts at 0 and 2; step 1 is a waiting step: step 0's successor is step 2
    adv, ret = _gae([1.0, 0.0, 2.0], [1.0, 99.0, 0.5, 4.0], active=[True, False, True], gamma=0.9, lam=0.5)
    d2 = 2.0 + 0.9 * 4.0 - 0.5
    d0 = 1.0 + 0.9 * 0.5 - 1.0
    assert adv.tolist() == pytest.approx([d0 + 0.45 * d2, 0.0, d2])
    assert ret[0].item() == pytest.approx(d0 + 0.45 * d2 + 1.0)


def test_reward_on_a_waiting_step_is_credited_to_the_last_active_step():
    # turn-based: the agent moves at 0, the opponent wins at 1 (-1 to our agent, inactive, terminated)
    adv, _ = _gae([0.0, -1.0, 5.0], [0.2, 9.0, 7.0, 3.0], term=[False, True, False], active=[True, False, True])
    assert adv[0].item() == pytest.approx(-1.0 - 0.2)  # the loss, no bootstrap past the episode end
    assert adv[1].item() == 0.0
    # waiting rewards before the next own move are summed undiscounted into the move that preceded them
    adv, _ = _gae([1.0, 0.5, 0.25, 0.0], [0.0, 8.0, 8.0, 2.0, 0.0], active=[True, False, False, True], lam=0.0)
    assert adv[0].item() == pytest.approx(1.0 + 0.5 + 0.25 + 0.9 * 2.0)
    # a waiting reward after the episode ended belongs to the next episode, not to the earlier move
    adv, _ = _gae([1.0, 0.0, 4.0], [0.0, 0.0, 0.0, 0.0], term=[True, False, False], active=[True, False, False])
    assert adv[0].item() == pytest.approx(1.0)


def test_dead_agent_steps_after_termination_do_not_leak():
    # terminated at step 0 (died), inactive afterwards with garbage values
    adv, _ = _gae([1.0, 0.0, 0.0], [0.5, 50.0, 60.0, 70.0], term=[True, False, False], active=[True, False, False])
    assert adv.tolist() == pytest.approx([0.5, 0.0, 0.0])


def test_gae_is_elementwise_over_env_and_agent_axes():
    rewards = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])  # [T=2, E=1, A=2]
    values = torch.zeros(3, 1, 2)
    flags = torch.zeros(2, 1, 2, dtype=torch.bool)
    adv, _ = compute_gae(rewards, values, flags, flags, torch.zeros(2, 1, 2), ~flags, 0.5, 1.0)
    assert adv[:, 0, 0].tolist() == pytest.approx([1.0, 0.0])
    assert adv[:, 0, 1].tolist() == pytest.approx([0.5, 1.0])
