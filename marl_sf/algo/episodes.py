"""Per-agent episode return and length bookkeeping: the sampler counts them from every env's rewards and
``is_active`` flags (envs report no returns of their own)."""

from __future__ import annotations

import torch


class EpisodeAccumulator:
    """Accumulates per-agent episode returns and lengths for E auto-resetting envs of A agents, as tensors on the
    device the envs' step results are on (no copy off it).

    Args:
        num_envs: E.
        num_agents: A.
        device: where the envs' rewards and flags are (the CPU for env workers, the env's device for a
            vectorized env).

    Only active steps count toward the length; rewards are added as given (adapters report zero
    reward for inactive agents).
    """

    def __init__(self, num_envs: int, num_agents: int, device: torch.device | str = "cpu"):
        self.returns = torch.zeros((num_envs, num_agents), dtype=torch.float64, device=device)
        self.lengths = torch.zeros((num_envs, num_agents), dtype=torch.int64, device=device)

    def step(
        self, rewards: torch.Tensor, active: torch.Tensor, episode_done: torch.Tensor, rows: slice = slice(None)
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Add one step of the envs ``rows`` (all by default) and close the episodes that ended.

        Args:
            rewards: ``[E_g, A]`` rewards of this step.
            active: ``[E_g, A]`` bool, the agent acted this step.
            episode_done: ``[E_g]`` bool, the env's episode ended with this step.
            rows: which of the E envs these are.

        Returns:
            ``(returns, lengths)`` of the finished episodes, each ``[num_done, A]`` (empty when none ended).
        """
        returns, lengths = self.returns[rows], self.lengths[rows]  # views
        returns += rewards
        lengths += active
        if not bool(episode_done.any()):  # most steps: no indexing (each boolean index is a search and a copy)
            return returns[:0], lengths[:0]
        finished = returns[episode_done], lengths[episode_done]  # boolean indexing copies
        returns[episode_done] = 0.0
        lengths[episode_done] = 0
        return finished
