"""The interface the sampler plays opponents through: players outside the learning policies.

The sampler knows nothing of pools, snapshots or scripted players. It is given an ``Opponents`` controller and calls
it at episode boundaries and after each policy's ``act``; the controller overwrites the actions of the agents its
players control. Those agents are inactive in the learning policies' storages, so they count as no agent-steps and
never reach the losses. Where the learning policies play every agent, the controller is ``NoOpponents``; self-play,
evaluation matches and tournaments use ``marl_sf.selfplay.match_opponents.MatchOpponents``.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch

from marl_sf.models.batch import PolicyBatch


class Opponents(Protocol):
    """What the sampler needs from whoever plays the agents the learning policies do not."""

    def learner_controlled(self, rows: slice) -> torch.Tensor:
        """``[E_g, A]`` bool: the agents the learning policies act for in envs ``rows`` (changes only in
        ``start_episodes``; the sampler moves it to the envs' device)."""

    def start_episodes(self, env_ids: np.ndarray) -> None:
        """Envs ``env_ids`` (``[n]`` ints) start new episodes: choose who plays them (and reset its memory)."""

    def finish_episodes(self, env_ids: np.ndarray, returns: np.ndarray) -> list:
        """Envs ``env_ids`` finished episodes with per-agent returns ``[n, A]``; returns one result per episode
        (what ``RolloutStats.match_results`` collects)."""

    def act(
        self,
        policy: int,
        rows: slice,
        active: torch.Tensor,
        batch: PolicyBatch,
        raw_obs: dict[str, torch.Tensor],
        actions: torch.Tensor,
        deterministic: bool,
    ) -> None:
        """Overwrite, in place, the actions of policy ``policy``'s agents that opponents play in envs ``rows``.

        Args:
            policy: the policy's index (in the sampler's ``specs`` order).
            rows: the env rows of this group (``E_g`` envs).
            active: ``[E_g, A_p]`` bool, the policy's agents that act now (opponents act only for these).
            batch: the policy's ``PolicyBatch`` of the ``E_g`` envs (scaled, not normalized; ``batch.rows()`` gives
                the per-row inputs, ``PolicyBatch.of_rows`` a batch of some of them).
            raw_obs: the stored observations ``{key: [E_g, A_p, ...]}``.
            actions: ``[E_g, A_p, ...]`` the policy's sampled actions (stored layout), overwritten in place.
            deterministic: take each distribution's mode instead of sampling.
        """


class NoOpponents:
    """The ``Opponents`` of a run where the learning policies play every agent: nothing to play, no results.

    Args:
        num_envs: E.
        num_agents: A.
        device: the envs' device (where ``learner_controlled`` masks live).
    """

    def __init__(self, num_envs: int, num_agents: int, device: torch.device):
        self.everyone = torch.ones((num_envs, num_agents), dtype=torch.bool, device=device)  # [E, A]

    def learner_controlled(self, rows: slice) -> torch.Tensor:
        """Every agent: ``[E_g, A]`` True (a view)."""
        return self.everyone[rows]

    def start_episodes(self, env_ids: np.ndarray) -> None:
        """Nothing to choose."""

    def finish_episodes(self, env_ids: np.ndarray, returns: np.ndarray) -> list:
        """No match results."""
        return []

    def act(self, policy, rows, active, batch, raw_obs, actions, deterministic) -> None:
        """Nothing to overwrite."""
