"""Encoders: observations -> a vector ``[B, out_size]`` (Sample Factory's ``Encoder`` contract)."""

from __future__ import annotations

import gymnasium as gym
import torch
from torch import nn

from marl_sf.models.model_utils import RESERVED_OBS_KEYS, flat_obs, mlp


class Encoder(nn.Module):
    """Base class of encoders: ``__init__(cfg, obs_space)`` calls ``super().__init__(cfg)``.

    Subclasses implement ``forward(obs_dict) -> [B, out_size]`` and ``get_out_size() -> int``.
    """

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg

    def get_out_size(self) -> int:
        """Size of the vector ``forward`` returns per row."""
        raise NotImplementedError(f"{type(self).__name__} must implement get_out_size()")


class MlpEncoder(Encoder):
    """MLP over the actor's vector observations (``--encoder_mlp_layers``, default 64 64).

    Input: every obs-dict key except ``action_mask`` and ``state``, each ``[B, ...]``, flattened and joined.
    Output: ``[B, encoder_mlp_layers[-1]]``.

    Raises:
        ValueError: the obs space has no actor input keys, or a key whose space is not a Box.
    """

    def __init__(self, cfg, obs_space: gym.spaces.Dict):
        super().__init__(cfg)
        self.keys = [k for k in obs_space.spaces if k not in RESERVED_OBS_KEYS]
        if not self.keys:
            raise ValueError(f"MlpEncoder: observation space {obs_space} has no input key besides {RESERVED_OBS_KEYS}")
        for k in self.keys:
            if not isinstance(obs_space[k], gym.spaces.Box):
                raise ValueError(f"MlpEncoder encodes Box observations; key {k!r} is {obs_space[k]}")
        input_size = sum(gym.spaces.flatdim(obs_space[k]) for k in self.keys)
        layers = list(cfg.get("encoder_mlp_layers", [64, 64]))
        self.mlp = mlp(input_size, layers, cfg)
        self.out_size = layers[-1] if layers else input_size

    def forward(self, obs_dict: dict[str, torch.Tensor]) -> torch.Tensor:
        """``[B, ...]`` per key -> ``[B, out_size]``."""
        return self.mlp(flat_obs(obs_dict, self.keys))

    def get_out_size(self) -> int:
        """``encoder_mlp_layers[-1]``."""
        return self.out_size


def make_default_encoder(cfg, obs_space: gym.spaces.Dict) -> Encoder:
    """The built-in encoder for ``obs_space``: an MLP over vector observations."""
    return MlpEncoder(cfg, obs_space)
