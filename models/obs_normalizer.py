"""Input normalization with running statistics (``--normalize_input``), saved with the model's weights."""

from __future__ import annotations

import gymnasium as gym
import torch
from torch import nn

NOT_NORMALIZED = ("action_mask", "agent_id")


class RunningMeanStd(nn.Module):
    """Running mean and variance of ``[N, *shape]`` batches (Chan et al. 1979, parallel variance update).

    Args:
        shape: the per-row shape.
        clip: normalized values are clipped to ``[-clip, clip]``.
    """

    def __init__(self, shape: tuple[int, ...], clip: float = 5.0, eps: float = 1e-5):
        super().__init__()
        self.clip, self.eps = clip, eps
        self.register_buffer("mean", torch.zeros(shape))
        self.register_buffer("var", torch.ones(shape))
        self.register_buffer("count", torch.tensor(0.0))

    @torch.no_grad()
    def update(self, x: torch.Tensor, all_sum=None) -> None:
        """Fold a batch ``[N, *shape]`` into the statistics; with data-parallel learners ``all_sum``
        (``marl_sf.algo.distributed.Reducer.sum``) makes the batch every learner's rows."""
        over_learners = all_sum or (lambda t: t)
        x = x.float()
        n = over_learners(x.new_tensor(x.shape[0]))
        if n == 0:
            return
        batch_mean = over_learners(x.sum(dim=0)) / n
        batch_var = over_learners(((x - batch_mean) ** 2).sum(dim=0)) / n
        total = self.count + n
        delta = batch_mean - self.mean
        self.mean += delta * n / total
        self.var.copy_((self.var * self.count + batch_var * n + delta**2 * self.count * n / total) / total)
        self.count.copy_(total)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``clip((x - mean) / sqrt(var + eps))``, same shape as ``x``."""
        centered = x.float() - self.mean  # a new tensor: the in-place steps below never touch x
        return centered.div_(torch.sqrt(self.var + self.eps)).clamp_(-self.clip, self.clip)


class ObservationNormalizer(nn.Module):
    """One ``RunningMeanStd`` per float Box key of the obs dict (not ``action_mask`` or ``agent_id``), or per key of
    ``keys`` (``--normalize_input_keys``) among those.

    Args:
        obs_space: the model's Dict observation space.
        keys: the keys to normalize; None: every float Box key but ``action_mask`` and ``agent_id``.

    Raises:
        ValueError: a key of ``keys`` that is not among the keys normalized by default (the message names it and
            those keys).
    """

    def __init__(self, obs_space: gym.spaces.Dict, keys: list[str] | None = None):
        super().__init__()
        normalizable = normalizable_keys(obs_space)
        if keys is not None:
            unknown = [k for k in keys if k not in normalizable]
            if unknown:
                raise ValueError(
                    f"--normalize_input_keys names {unknown}, which --normalize_input cannot normalize here; the "
                    f"keys it normalizes are {normalizable} (float Box keys of the observation space "
                    f"{sorted(obs_space.spaces)}, not {list(NOT_NORMALIZED)})"
                )
        chosen = normalizable if keys is None else [k for k in normalizable if k in keys]
        self.stats = nn.ModuleDict({k: RunningMeanStd(obs_space[k].shape) for k in chosen})

    def update(self, obs: dict[str, torch.Tensor], all_sum=None) -> None:
        """Fold ``obs`` (``{key: [B, ...]}``, the rows to count) into the statistics; keys without statistics
        and keys the statistics have but ``obs`` lacks are skipped. ``all_sum``: see ``RunningMeanStd.update``."""
        for k, stat in self.stats.items():
            if k in obs:
                stat.update(obs[k], all_sum)

    def forward(self, obs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The normalized obs dict (other keys unchanged)."""
        return {k: self.stats[k](v) if k in self.stats else v for k, v in obs.items()}


def normalizable_keys(obs_space: gym.spaces.Dict) -> list[str]:
    """The keys ``--normalize_input`` normalizes by default, in the space's order: every float Box key but
    ``action_mask`` and ``agent_id``."""
    return [
        k
        for k, s in obs_space.spaces.items()
        if k not in NOT_NORMALIZED and isinstance(s, gym.spaces.Box) and s.dtype.kind == "f"
    ]
