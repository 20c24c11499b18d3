"""Encoders: observations -> a vector ``[B, out_size]`` (Sample Factory's ``Encoder`` contract)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from marl_sf.models.conv import image_layout, make_conv_trunk
from marl_sf.models.model_utils import RESERVED_OBS_KEYS, calc_num_elements, flat_obs, mlp


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
        self.keys = actor_input_keys(obs_space)
        if not self.keys:
            raise ValueError(f"MlpEncoder: observation space {obs_space} has no input key besides {RESERVED_OBS_KEYS}")
        for k in self.keys:
            if not isinstance(obs_space[k], gym.spaces.Box):
                raise ValueError(f"MlpEncoder encodes Box observations; key {k!r} is {obs_space[k]}")
        input_size = sum(gym.spaces.flatdim(obs_space[k]) for k in self.keys)
        layers = list(cfg.encoder_mlp_layers)
        self.mlp = mlp(input_size, layers, cfg)
        self.out_size = layers[-1] if layers else input_size

    def forward(self, obs_dict: dict[str, torch.Tensor]) -> torch.Tensor:
        """``[B, ...]`` per key -> ``[B, out_size]``."""
        return self.mlp(flat_obs(obs_dict, self.keys))

    def get_out_size(self) -> int:
        """``encoder_mlp_layers[-1]``."""
        return self.out_size


def actor_input_keys(obs_space: gym.spaces.Dict) -> list[str]:
    """The keys an encoder reads: every key of ``obs_space`` except ``action_mask`` and ``state``."""
    return [k for k in obs_space.spaces if k not in RESERVED_OBS_KEYS]


def is_image(space: gym.Space) -> bool:
    """A 3-dim uint8 Box: ``[H, W, C]`` or ``[C, H, W]`` pixels (see ``marl_sf.models.conv.image_layout``).

    Other 3-dim Boxes (board planes such as connect_four's int8 ``[6, 7, 2]``) are flattened into the MLP.
    """
    return isinstance(space, gym.spaces.Box) and len(space.shape) == 3 and space.dtype == np.uint8


class ConvEncoder(Encoder):
    """Conv trunk (``--encoder_conv_architecture``) then MLP (``--encoder_conv_mlp_layers``) over one image key.

    Input: ``obs_dict[key]`` ``[B, H, W, C]`` or ``[B, C, H, W]`` (already divided by ``--obs_scale``).
    Output: ``[B, encoder_conv_mlp_layers[-1]]`` (the flattened feature maps when the list is empty).

    Raises:
        ValueError: ``key`` is not a 3-dim Box, or the image is too small for the architecture.
    """

    def __init__(self, cfg, obs_space: gym.spaces.Dict, key: str = "obs"):
        super().__init__(cfg)
        space = obs_space[key]
        if not (isinstance(space, gym.spaces.Box) and len(space.shape) == 3):
            raise ValueError(f"ConvEncoder encodes 3-dim Boxes ([H, W, C] or [C, H, W]); key {key!r} is {space}")
        self.key, self.channels_last = key, image_layout(space.shape) == "HWC"
        c, h, w = (space.shape[2], *space.shape[:2]) if self.channels_last else space.shape
        architecture = cfg.encoder_conv_architecture
        self.trunk = make_conv_trunk(architecture, c, cfg)
        try:
            conv_size = calc_num_elements(self.trunk, (c, h, w))
        except RuntimeError as e:
            raise ValueError(
                f"image key {key!r} of shape {space.shape} is too small for {architecture}: use convnet_impala or "
                f"resize the images (e.g. SuperSuit resize_v1) ({e})"
            ) from e
        layers = list(cfg.encoder_conv_mlp_layers)
        self.mlp = mlp(conv_size, layers, cfg)
        self.out_size = layers[-1] if layers else conv_size

    def forward(self, obs_dict: dict[str, torch.Tensor]) -> torch.Tensor:
        """``[B, H, W, C]`` or ``[B, C, H, W]`` -> ``[B, out_size]``."""
        x = obs_dict[self.key].float()
        if self.channels_last:
            x = x.permute(0, 3, 1, 2)  # [B, H, W, C] -> [B, C, H, W]
        return self.mlp(self.trunk(x).flatten(1))  # [B, C', H', W'] -> [B, C' * H' * W'] -> [B, out]

    def get_out_size(self) -> int:
        """``encoder_conv_mlp_layers[-1]``."""
        return self.out_size


class MultiInputEncoder(Encoder):
    """One sub-encoder per input key of a dict observation, outputs concatenated (Sample Factory's layout).

    Image keys (3-dim uint8 Boxes) get a ``ConvEncoder``, every other Box key an ``MlpEncoder`` of its own.
    Input: ``{key: [B, ...]}``. Output: ``[B, sum of the sub-encoders' out sizes]``.

    Raises:
        ValueError: no input key, or a key that is not a Box.
    """

    def __init__(self, cfg, obs_space: gym.spaces.Dict):
        super().__init__(cfg)
        keys = actor_input_keys(obs_space)
        if not keys:
            raise ValueError(f"{type(self).__name__}: observation space {obs_space} has no input key")
        self.encoders = nn.ModuleDict(
            {
                k: ConvEncoder(cfg, obs_space, k)
                if is_image(obs_space[k])
                else MlpEncoder(cfg, gym.spaces.Dict({k: obs_space[k]}))
                for k in keys
            }
        )
        self.out_size = sum(e.get_out_size() for e in self.encoders.values())

    def forward(self, obs_dict: dict[str, torch.Tensor]) -> torch.Tensor:
        """``{key: [B, ...]}`` -> ``[B, out_size]``."""
        return torch.cat([encoder(obs_dict) for encoder in self.encoders.values()], dim=-1)

    def get_out_size(self) -> int:
        """The sum of the sub-encoders' out sizes."""
        return self.out_size


def make_default_encoder(cfg, obs_space: gym.spaces.Dict) -> Encoder:
    """The built-in encoder for ``obs_space``'s input keys.

    No image key: one ``MlpEncoder`` over every key joined (one vector key is the common case); a single image
    key: a ``ConvEncoder``; images among several keys: a ``MultiInputEncoder``.
    """
    keys = actor_input_keys(obs_space)
    if not any(is_image(obs_space[k]) for k in keys):
        return MlpEncoder(cfg, obs_space)
    if len(keys) == 1:
        return ConvEncoder(cfg, obs_space, keys[0])
    return MultiInputEncoder(cfg, obs_space)
