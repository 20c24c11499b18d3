"""Decoders: layers between the core and the policy/value heads."""

from __future__ import annotations

import torch
from torch import nn

from marl_sf.models.model_utils import mlp


class Decoder(nn.Module):
    """Base class of decoders: ``__init__(cfg, decoder_input_size)`` calls ``super().__init__(cfg)``.

    ``forward(core_output [B, D]) -> [B, get_out_size()]``.
    """

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg

    def get_out_size(self) -> int:
        """Size of the decoder output per row."""
        raise NotImplementedError(f"{type(self).__name__} must implement get_out_size()")


class MlpDecoder(Decoder):
    """MLP decoder (``--decoder_mlp_layers``, default none: the identity)."""

    def __init__(self, cfg, decoder_input_size: int):
        super().__init__(cfg)
        layers = list(cfg.decoder_mlp_layers)
        self.mlp = mlp(decoder_input_size, layers, cfg)
        self.out_size = layers[-1] if layers else decoder_input_size

    def forward(self, core_output: torch.Tensor) -> torch.Tensor:
        """``[B, D] -> [B, out_size]``."""
        return self.mlp(core_output)

    def get_out_size(self) -> int:
        """``decoder_mlp_layers[-1]`` or the input size."""
        return self.out_size


def make_default_decoder(cfg, decoder_input_size: int) -> Decoder:
    """The built-in decoder: an MLP (identity by default)."""
    return MlpDecoder(cfg, decoder_input_size)
