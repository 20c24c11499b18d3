"""PPO losses with masks for inactive agent-steps.

Schulman et al. 2017, "Proximal Policy Optimization Algorithms": clipped surrogate (eq. 7) and entropy
bonus (eq. 9). The clipped value loss is the one of Yu et al. 2022, "The Surprising Effectiveness of PPO in
Cooperative Multi-Agent Games" (MAPPO), section 4 / appendix: ``max((V - R)^2, (V_clip - R)^2)``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Sum = Callable[[torch.Tensor], torch.Tensor]
"""Sums a statistic over data-parallel learners (``marl_sf.algo.distributed.Reducer.sum``); one learner: identity."""


def _local(x: torch.Tensor) -> torch.Tensor:
    return x


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` over entries where ``mask`` is true (0 when none is); same shapes ``[B]``."""
    mask = mask.to(x.dtype)
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


def policy_loss(
    log_prob: torch.Tensor,
    old_log_prob: torch.Tensor,
    advantages: torch.Tensor,
    clip_ratio: float,
    mask: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Clipped surrogate loss ``-E[min(r A, clip(r, 1-eps, 1+eps) A)]`` with ``r = exp(logp - old_logp)``.

    Args: all ``[B]``; ``mask`` bool selects the active agent-steps.

    Returns:
        ``(loss, clip_fraction, approx_kl)``; ``approx_kl`` is the ``(r - 1) - log r`` estimator.
    """
    log_ratio = log_prob - old_log_prob
    ratio = log_ratio.exp()
    surrogate = torch.min(ratio * advantages, ratio.clamp(1.0 - clip_ratio, 1.0 + clip_ratio) * advantages)
    loss = -masked_mean(surrogate, mask)
    with torch.no_grad():
        clip_fraction = masked_mean(((ratio - 1.0).abs() > clip_ratio).float(), mask)
        approx_kl = masked_mean((ratio - 1.0) - log_ratio, mask)
    return loss, clip_fraction, approx_kl


def value_loss(
    values: torch.Tensor,
    old_values: torch.Tensor,
    targets: torch.Tensor,
    clip_value: float,
    mask: torch.Tensor,
) -> torch.Tensor:
    """Clipped value loss ``0.5 * E[max((V - R)^2, (V_old + clip(V - V_old, -c, c) - R)^2)]``.

    Args: all ``[B]``, in the same (normalized) units; ``clip_value <= 0`` turns clipping off.
    """
    unclipped = (values - targets) ** 2
    if clip_value <= 0:
        return 0.5 * masked_mean(unclipped, mask)
    clipped_values = old_values + (values - old_values).clamp(-clip_value, clip_value)
    clipped = (clipped_values - targets) ** 2
    return 0.5 * masked_mean(torch.max(unclipped, clipped), mask)


def entropy_bonus(entropy: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean policy entropy over active steps; the total loss subtracts ``coeff * entropy_bonus``."""
    return masked_mean(entropy, mask)


SYMMETRIC_KL_MAX = 30.0
"""Sample Factory 2's cap on the mean symmetric KL to the uniform prior (``_symmetric_kl_exploration_loss``)."""


def symmetric_kl_exploration(symmetric_kl: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``--exploration_loss=symmetric_kl``: the mean over active agent-steps of the symmetric KL (nats) between each
    action distribution and the uniform one over its legal actions, clamped above at ``SYMMETRIC_KL_MAX`` (no
    gradient beyond it), as Sample Factory 2's ``_symmetric_kl_exploration_loss``; the total loss adds
    ``coeff * symmetric_kl_exploration`` (pulling the policy toward uniform, as the entropy bonus does).

    Args: ``symmetric_kl`` ``[B]`` (``marl_sf.models.action_distribution.symmetric_kl_with_uniform_prior``), ``mask``
    ``[B]`` bool, the active agent-steps. Unlike Sample Factory, a non-finite mean is not replaced by 0: it reaches
    the learner's non-finite check (``NonFiniteError``).
    """
    return masked_mean(symmetric_kl, mask).clamp(max=SYMMETRIC_KL_MAX)


def kl_penalty(log_prob: torch.Tensor, old_log_prob: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Differentiable estimate of the mean ``KL(behaviour || current)`` (nats) over active agent-steps, the
    ``--kl_loss_coeff`` penalty (Sample Factory 2's ``_kl_loss``; the KL-penalty variant of PPO, Schulman et al.
    2017, section 4).

    Sample Factory computes the KL exactly from the stored behaviour distribution parameters. The rollout here keeps
    only the log-probabilities of the sampled actions, so this is the sampled-action estimator ``(r - 1) - log r``,
    ``r = exp(log_prob - old_log_prob)``, with the actions drawn from the behaviour policy: ``E[r] = 1``, so its
    expectation is ``E[-log r] = KL(behaviour || current)`` (>= 0 per sample; Schulman 2020, "Approximating KL
    Divergence", k3), and its gradient ``(r - 1) grad log pi`` is an unbiased estimate of the KL's gradient. It is
    the same estimator as ``policy_loss``'s ``approx_kl``, with the gradient kept. (Sample Factory's exact KL is
    ``KL(current || behaviour)``; the two agree to second order around ``current = behaviour``.)

    Args: all ``[B]``; ``mask`` bool selects the active agent-steps.
    """
    log_ratio = log_prob - old_log_prob
    return masked_mean(log_ratio.exp() - 1.0 - log_ratio, mask)


def normalize_advantages(
    advantages: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8, all_sum: Sum = _local
) -> torch.Tensor:
    """``(A - mean) / (std + eps)`` over active entries (of every learner's shard, through ``all_sum``); inactive
    entries become 0."""
    mask_f = mask.to(advantages.dtype)
    count = all_sum(mask_f.sum()).clamp(min=1.0)
    mean = all_sum((advantages * mask_f).sum()) / count
    var = all_sum((((advantages - mean) ** 2) * mask_f).sum()) / count
    return torch.where(mask, (advantages - mean) / (var.sqrt() + eps), torch.zeros_like(advantages))
