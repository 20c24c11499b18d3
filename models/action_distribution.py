"""Action heads and distributions: Discrete (with action masks) and Box (diagonal Gaussian)."""

from __future__ import annotations

import gymnasium as gym
import torch
from torch import nn
from torch.distributions import Categorical, Independent, Normal


def num_action_params(action_space: gym.Space) -> int:
    """Width of ``action_logits``: n logits for Discrete(n), mean and log-std (2 d) for Box(d).

    Raises:
        NotImplementedError: another action space (MultiDiscrete, Tuple come with the extension-API issue).
    """
    if isinstance(action_space, gym.spaces.Discrete):
        return int(action_space.n)
    if isinstance(action_space, gym.spaces.Box):
        return 2 * int(action_space.shape[0])
    raise NotImplementedError(f"action space {action_space} is not supported yet: use Discrete or 1-D Box")


class ActionParameterization(nn.Module):
    """Linear head from the decoder output ``[B, D]`` to ``action_logits`` ``[B, num_action_params]``.

    For a Box space the log-std is a learned, state-independent parameter ``[d]`` appended to the mean.
    The head is initialised orthogonally with gain 0.01 (near-uniform initial policy).
    """

    def __init__(self, cfg, decoder_output_size: int, action_space: gym.Space):
        super().__init__()
        self.action_space = action_space
        self.continuous = isinstance(action_space, gym.spaces.Box)
        out = num_action_params(action_space) // (2 if self.continuous else 1)
        self.distribution_linear = nn.Linear(decoder_output_size, out)
        nn.init.orthogonal_(self.distribution_linear.weight, gain=0.01)
        nn.init.zeros_(self.distribution_linear.bias)
        if self.continuous:
            self.log_std = nn.Parameter(torch.zeros(out))

    def forward(self, decoder_output: torch.Tensor):
        """``[B, D]`` -> ``(action_logits [B, num_action_params], distribution)`` as in Sample Factory.

        The distribution returned here is unmasked; the sampler and learner apply the action mask.
        """
        params = self.distribution_linear(decoder_output)
        if self.continuous:
            params = torch.cat([params, self.log_std.expand_as(params)], dim=-1)  # [B, 2d]
        return params, action_distribution(self.action_space, params)


def action_distribution(
    action_space: gym.Space, action_logits: torch.Tensor, action_mask: torch.Tensor | None = None
) -> torch.distributions.Distribution:
    """The action distribution for ``action_logits [B, P]``; masked-out actions (mask 0) get probability 0.

    ``action_mask`` is ``[B, n]`` (1 = legal). A row whose mask is all zero (an inactive agent) is left
    unmasked so the distribution stays valid; its step is masked out of the losses anyway.

    Raises:
        ValueError: the mask's width differs from the number of actions.
    """
    if isinstance(action_space, gym.spaces.Discrete):
        if action_mask is not None:
            if action_mask.shape[-1] != action_logits.shape[-1]:
                raise ValueError(
                    f"action_mask has {action_mask.shape[-1]} entries but the action space has "
                    f"{action_logits.shape[-1]} actions"
                )
            legal = action_mask.bool() | ~action_mask.bool().any(dim=-1, keepdim=True)
            action_logits = action_logits.masked_fill(~legal, torch.finfo(action_logits.dtype).min)
        return Categorical(logits=action_logits, validate_args=False)
    mean, log_std = action_logits.chunk(2, dim=-1)  # [B, d] each
    return Independent(Normal(mean, log_std.exp(), validate_args=False), 1, validate_args=False)


def deterministic_actions(action_space: gym.Space, dist: torch.distributions.Distribution) -> torch.Tensor:
    """The most likely action: argmax for Discrete, the mean for Box."""
    if isinstance(action_space, gym.spaces.Discrete):
        return dist.probs.argmax(dim=-1)
    return dist.mean
