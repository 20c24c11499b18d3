"""Convolutional trunks for image observations, as Sample Factory names them (``--encoder_conv_architecture``).

* ``convnet_simple``: conv 32x8x8/4, 64x4x4/2, 128x3x3/2 (Sample Factory's default for small images);
* ``convnet_atari``: conv 32x8x8/4, 64x4x4/2, 64x3x3/1 (Mnih et al. 2015, "Human-level control through deep
  reinforcement learning", Nature 518, the DQN torso);
* ``convnet_impala``: three stages of (conv 3x3, max-pool 3x3/2, two residual blocks) with 16, 32, 32 channels
  (Espeholt et al. 2018, "IMPALA", Figure 3, the "deep" network).

Every trunk maps ``[B, C, H, W]`` float images to ``[B, C', H', W']`` feature maps.
"""

from __future__ import annotations

import torch
from torch import nn

from marl_sf.models.model_utils import nonlinearity

CONV_ARCHITECTURES = ("convnet_simple", "convnet_atari", "convnet_impala")

_PLAIN_FILTERS = {  # (out_channels, kernel, stride) per layer
    "convnet_simple": [(32, 8, 4), (64, 4, 2), (128, 3, 2)],
    "convnet_atari": [(32, 8, 4), (64, 4, 2), (64, 3, 1)],
}
_IMPALA_STAGES = [(16, 2), (32, 2), (32, 2)]  # (channels, residual blocks) per stage


class ResBlock(nn.Module):
    """``x + conv(act(conv(act(x))))`` with 3x3 convolutions that keep ``[B, C, H, W]``."""

    def __init__(self, channels: int, cfg):
        super().__init__()
        self.body = nn.Sequential(
            nonlinearity(cfg),
            nn.Conv2d(channels, channels, 3, padding=1),
            nonlinearity(cfg),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W] -> [B, C, H, W]``."""
        return x + self.body(x)


def make_conv_trunk(architecture: str, in_channels: int, cfg) -> nn.Sequential:
    """The named conv trunk for ``in_channels`` input channels.

    Raises:
        ValueError: an architecture not in ``CONV_ARCHITECTURES``.
    """
    layers: list[nn.Module] = []
    if architecture in _PLAIN_FILTERS:
        for out_channels, kernel, stride in _PLAIN_FILTERS[architecture]:
            layers += [nn.Conv2d(in_channels, out_channels, kernel, stride), nonlinearity(cfg, overwrite_input=True)]
            in_channels = out_channels
    elif architecture == "convnet_impala":
        for channels, num_blocks in _IMPALA_STAGES:
            layers += [nn.Conv2d(in_channels, channels, 3, padding=1), nn.MaxPool2d(3, stride=2, padding=1)]
            layers += [ResBlock(channels, cfg) for _ in range(num_blocks)]
            in_channels = channels
        layers.append(nonlinearity(cfg))
    else:
        raise ValueError(f"unknown --encoder_conv_architecture={architecture!r}; choose one of {CONV_ARCHITECTURES}")
    return nn.Sequential(*layers)


def image_layout(shape: tuple[int, ...]) -> str:
    """``"HWC"`` or ``"CHW"`` for a 3-dim image shape.

    PettingZoo and gymnasium images are ``[H, W, C]``; Sample Factory's are ``[C, H, W]``. A shape whose last
    dimension is smaller than its first is read as channels-last (``(64, 64, 3)``, ``(84, 84, 12)``), any
    other as channels-first (``(3, 64, 64)``).
    """
    return "HWC" if shape[2] < shape[0] else "CHW"
