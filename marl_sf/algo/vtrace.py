"""V-trace off-policy value targets and policy-gradient advantages over time-major per-agent rollouts.

Espeholt et al. 2018, "IMPALA: Scalable Distributed Deep-RL with Importance Weighted Actor-Learner Architectures",
eq. 1 in its recursive form (Remark 1): ``v_s = V(x_s) + rho_s delta_s + gamma c_s (v_{s+1} - V(x_{s+1}))`` with
``delta_s = r_s + gamma V(x_{s+1}) - V(x_s)``, ``rho_s = min(rho_bar, pi/mu)``, ``c_s = min(c_bar, pi/mu)``; the
policy-gradient advantage (section 4.2) is ``rho_s (r_s + gamma v_{s+1} - V(x_s))``. With ``pi = mu`` and both
clips at 1 it is the lambda = 1 return (``compute_gae`` with ``gae_lambda = 1``).
"""

from __future__ import annotations

import torch


def compute_vtrace(
    rewards: torch.Tensor,
    values: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor,
    bootstrap_values: torch.Tensor,
    active: torch.Tensor,
    log_rhos: torch.Tensor,
    gamma: float,
    rho_bar: float = 1.0,
    c_bar: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """V-trace advantages and value targets ``v_s`` for each agent's own trajectory.

    Episode ends, truncations and inactive steps are handled as in ``marl_sf.algo.gae.compute_gae``: a termination
    ends the trajectory (the value after it is 0), a truncation bootstraps from ``bootstrap_values[t]`` and ends the
    trace there, an inactive step is skipped (its reward is credited to the agent's last active step before it).

    Args:
        rewards: ``[T, ...]`` reward received after acting at step t.
        values: ``[T + 1, ...]`` V(x_t) of the current critic; ``values[T]`` bootstraps the step after the rollout.
        terminated, truncated: ``[T, ...]`` bool, see ``compute_gae``.
        bootstrap_values: ``[T, ...]`` V of the final observation where ``truncated``.
        active: ``[T, ...]`` bool, the agent acted at step t.
        log_rhos: ``[T, ...]`` ``log pi(a_t|x_t) - log mu(a_t|x_t)``: current over behaviour policy (ignored on
            inactive steps).
        gamma: discount factor.
        rho_bar: clip of the importance weights in the TD errors and the advantages (``--vtrace_rho``).
        c_bar: clip of the trace-cutting weights (``--vtrace_c``).

    Returns:
        ``(advantages, vs)``, each ``[T, ...]``; on inactive steps the advantage is 0 and ``vs = values[t]``.
    """
    num_steps = rewards.shape[0]
    ratios = torch.where(active, log_rhos, torch.zeros_like(log_rhos)).exp()
    rhos, cs = ratios.clamp(max=rho_bar), ratios.clamp(max=c_bar)
    advantages, vs = torch.zeros_like(rewards), values[:num_steps].clone()
    next_value = values[num_steps]
    zeros = torch.zeros_like(next_value)
    next_correction = zeros  # v_{s+1} - V(x_{s+1}) of the agent's next active step
    waiting_reward = zeros  # rewards of the inactive steps after t, until the next active step
    for t in reversed(range(num_steps)):
        term, trunc, act = terminated[t], truncated[t], active[t]
        following_value = torch.where(term, zeros, torch.where(trunc, bootstrap_values[t], next_value))
        continues = ~(term | trunc)
        reward = rewards[t] + continues * waiting_reward
        following_correction = continues * next_correction
        delta = reward + gamma * following_value - values[t]
        correction = rhos[t] * delta + gamma * cs[t] * following_correction
        adv = rhos[t] * (reward + gamma * (following_value + following_correction) - values[t])
        advantages[t] = torch.where(act, adv, zeros)
        vs[t] = values[t] + torch.where(act, correction, zeros)
        waiting_reward = torch.where(act, zeros, reward)
        next_value = torch.where(act, values[t], following_value)
        next_correction = torch.where(act, correction, following_correction)
    return advantages, vs
