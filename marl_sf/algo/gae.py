"""Generalized Advantage Estimation over time-major per-agent rollouts.

Schulman et al. 2016, "High-Dimensional Continuous Control Using Generalized Advantage Estimation",
eq. 16: ``A_t = sum_l (gamma * lambda)^l * delta_{t+l}`` with ``delta_t = r_t + gamma * V(s_{t+1}) - V(s_t)``.
"""

from __future__ import annotations

import torch


def compute_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor,
    bootstrap_values: torch.Tensor,
    active: torch.Tensor,
    gamma: float,
    gae_lambda: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Advantages and value targets (returns) for each agent's own trajectory.

    Args:
        rewards: ``[T, ...]`` reward received after acting at step t.
        values: ``[T + 1, ...]`` V(obs_t); ``values[T]`` bootstraps the step after the rollout.
        terminated: ``[T, ...]`` bool, the agent's episode terminated with step t (V after it is 0).
        truncated: ``[T, ...]`` bool, the episode was cut by a time limit with step t: the target
            bootstraps from ``bootstrap_values[t]`` = V(final observation), not from the reset observation.
        bootstrap_values: ``[T, ...]`` V of the final observation where ``truncated`` (ignored elsewhere).
        active: ``[T, ...]`` bool, the agent acted at step t. Inactive steps get zero advantage and are
            skipped: an active step's successor is the agent's next active step. A termination or
            truncation flag on an inactive step still ends the trajectory there, and a reward that arrives
            on an inactive step (a turn-based game's loser gets -1 on the winner's move) is credited,
            undiscounted, to the agent's last active step before it in the same trajectory, as PettingZoo's
            AEC ``last()`` reports rewards accumulated since the agent last acted.
        gamma: discount factor.
        gae_lambda: GAE lambda.

    Returns:
        ``(advantages, returns)``, each ``[T, ...]``; ``returns = advantages + values[:T]`` on active steps.
    """
    num_steps = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    next_value = values[num_steps]
    next_advantage = torch.zeros_like(next_value)
    zeros = torch.zeros_like(next_value)
    waiting_reward = zeros  # rewards of the inactive steps after t, until the next active step
    for t in reversed(range(num_steps)):
        term, trunc, act = terminated[t], truncated[t], active[t]
        # value of the step after t on the agent's own trajectory, and whether GAE continues past it
        following_value = torch.where(term, zeros, torch.where(trunc, bootstrap_values[t], next_value))
        continues = ~(term | trunc)
        reward = rewards[t] + continues * waiting_reward
        delta = reward + gamma * following_value - values[t]
        adv = delta + gamma * gae_lambda * continues * next_advantage
        advantages[t] = torch.where(act, adv, zeros)
        # inactive steps pass the successor and their rewards through unless they end the trajectory
        waiting_reward = torch.where(act, zeros, reward)
        next_value = torch.where(act, values[t], following_value)
        next_advantage = torch.where(act, adv, continues * next_advantage)
    returns = advantages + values[:num_steps]
    return advantages, returns
