"""Per-agent episode return and length bookkeeping, shared by the env adapters and the sampler."""

from __future__ import annotations

import numpy as np


class EpisodeAccumulator:
    """Accumulates per-agent episode returns and lengths for E auto-resetting envs of A agents.

    Args:
        num_envs: E (1 inside an adapter).
        num_agents: A.

    Only active steps count toward the length; rewards are added as given (adapters report zero
    reward for inactive agents).
    """

    def __init__(self, num_envs: int, num_agents: int):
        self.returns = np.zeros((num_envs, num_agents), dtype=np.float64)
        self.lengths = np.zeros((num_envs, num_agents), dtype=np.int64)

    def step(self, rewards: np.ndarray, active: np.ndarray, episode_done: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Add one step and close the episodes that ended.

        Args:
            rewards: ``[E, A]`` rewards of this step.
            active: ``[E, A]`` bool, the agent acted this step.
            episode_done: ``[E]`` bool, the env's episode ended with this step.

        Returns:
            ``(returns, lengths)`` of the finished episodes, each ``[num_done, A]`` (empty when none ended).
        """
        self.returns += rewards
        self.lengths += active
        finished = self.returns[episode_done], self.lengths[episode_done]  # boolean indexing copies
        self.returns[episode_done] = 0.0
        self.lengths[episode_done] = 0
        return finished

    def reset(self) -> None:
        """Forget the episodes in progress (after an explicit reset)."""
        self.returns[...] = 0.0
        self.lengths[...] = 0
