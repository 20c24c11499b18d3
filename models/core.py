"""Model cores: integrate the encoder output over time (identity for feed-forward, GRU for memory)."""

from __future__ import annotations

import torch
from torch import nn


class ModelCore(nn.Module):
    """Base class of cores: ``__init__(cfg, input_size)`` calls ``super().__init__(cfg)``.

    ``forward(head_output [B, input_size], rnn_states [B, rnn_state_size]) -> (core_output [B, out], new_states)``.
    """

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.core_output_size = -1

    def get_out_size(self) -> int:
        """Size of ``core_output`` per row."""
        return self.core_output_size


class ModelCoreIdentity(ModelCore):
    """Feed-forward core: returns its input; the rnn states pass through unchanged."""

    def __init__(self, cfg, input_size: int):
        super().__init__(cfg)
        self.core_output_size = input_size

    def forward(self, head_output: torch.Tensor, rnn_states: torch.Tensor):
        """``[B, D] -> [B, D]``."""
        return head_output, rnn_states


class ModelCoreRNN(ModelCore):
    """GRU core (``--use_rnn``, ``--rnn_size``, ``--rnn_num_layers``); one step per call.

    The state is stored flat, ``[B, rnn_num_layers * rnn_size]``, so rollouts keep one tensor per row.
    """

    def __init__(self, cfg, input_size: int):
        super().__init__(cfg)
        self.rnn_size = cfg.get("rnn_size", 64)
        self.num_layers = cfg.get("rnn_num_layers", 1)
        self.core = nn.GRU(input_size, self.rnn_size, self.num_layers)
        self.core_output_size = self.rnn_size

    def forward(self, head_output: torch.Tensor, rnn_states: torch.Tensor):
        """``[B, D]``, ``[B, L*H]`` -> ``[B, H]``, ``[B, L*H]``."""
        batch = head_output.shape[0]
        h = rnn_states.reshape(batch, self.num_layers, self.rnn_size).transpose(0, 1).contiguous()  # [L, B, H]
        out, h = self.core(head_output.unsqueeze(0), h)  # out [1, B, H]
        return out.squeeze(0), h.transpose(0, 1).reshape(batch, -1)  # [B, H], [B, L*H]


def make_default_core(cfg, input_size: int) -> ModelCore:
    """GRU core when ``cfg.use_rnn`` else the identity core."""
    return ModelCoreRNN(cfg, input_size) if cfg.get("use_rnn", False) else ModelCoreIdentity(cfg, input_size)


def rnn_state_size(cfg) -> int:
    """Flat size of one core's recurrent state (0 for feed-forward)."""
    return cfg.get("rnn_size", 64) * cfg.get("rnn_num_layers", 1) if cfg.get("use_rnn", False) else 0
