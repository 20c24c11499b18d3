"""The interface the sampler plays opponents through: players outside the learning policies.

The sampler knows nothing of pools, snapshots or scripted players. Where some agents are played by others
(self-play, evaluation matches, tournaments) it is given an ``Opponents`` controller
(``marl_sf.selfplay.opponents.MatchOpponents``) and calls it at episode boundaries and after each policy's
forward pass; the controller overwrites the actions of the agents its players control. Those agents are
inactive in the learning policies' storages, so they count as no agent-steps and never reach the losses.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch

from marl_sf.models.batch import PolicyBatch


class Opponents(Protocol):
    """What the sampler needs from whoever plays the agents the learning policies do not.

    Attributes:
        learner_controlled: ``[E, A]`` bool, the agents the learning policies act for in each env (changes
            only in ``start_episodes``).
    """

    learner_controlled: np.ndarray

    def start_episodes(self, env_ids: np.ndarray) -> None:
        """Envs ``env_ids`` (``[n]`` ints) start new episodes: choose who plays them (and reset its memory)."""

    def finish_episodes(self, env_ids: np.ndarray, returns: np.ndarray) -> list:
        """Envs ``env_ids`` finished episodes with per-agent returns ``[n, A]``; returns one result per episode
        (what ``RolloutStats.match_results`` collects)."""

    def act(
        self,
        policy: int,
        rows: slice,
        acting: np.ndarray,
        batch: PolicyBatch,
        raw_obs: dict[str, torch.Tensor],
        actions: torch.Tensor,
        deterministic: bool,
    ) -> None:
        """Overwrite, in place, the actions of policy ``policy``'s agents that opponents play in envs ``rows``.

        Args:
            policy: the policy's index (in the sampler's ``specs`` order).
            rows: the env rows of this group (``E_g`` envs).
            acting: ``[E_g, A_p]`` bool, the policy's agents that act now (opponents act only for these).
            batch: the policy's ``PolicyBatch`` of the ``E_g`` envs (scaled, not normalized; ``batch.rows()`` gives
                the per-row inputs a snapshot's model takes).
            raw_obs: the stored observations ``{key: [E_g, A_p, ...]}``.
            actions: ``[E_g, A_p, ...]`` the policy's sampled actions (stored layout), overwritten in place.
            deterministic: take each distribution's mode instead of sampling.
        """
