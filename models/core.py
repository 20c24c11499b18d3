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
    """GRU or LSTM core (``--use_rnn``, ``--rnn_type``, ``--rnn_size``, ``--rnn_num_layers``); one step per call.

    The state is stored flat, ``[B, rnn_state_size(cfg)]``: ``L * H`` for a GRU, ``2 * L * H`` (h then c) for
    an LSTM, so rollouts keep one tensor per row.
    """

    def __init__(self, cfg, input_size: int):
        super().__init__(cfg)
        self.rnn_size = cfg.get("rnn_size", 64)
        self.num_layers = cfg.get("rnn_num_layers", 1)
        self.is_lstm = cfg.get("rnn_type", "gru") == "lstm"
        rnn_cls = nn.LSTM if self.is_lstm else nn.GRU
        self.core = rnn_cls(input_size, self.rnn_size, self.num_layers)
        self.core_output_size = self.rnn_size

    def forward(self, head_output: torch.Tensor, rnn_states: torch.Tensor):
        """``[B, D]``, ``[B, S]`` -> ``[B, H]``, ``[B, S]`` with S the flat state size."""
        batch = head_output.shape[0]
        parts = rnn_states.chunk(2, dim=-1) if self.is_lstm else (rnn_states,)
        # each part [B, L * H] -> [L, B, H]
        h = tuple(p.reshape(batch, self.num_layers, self.rnn_size).transpose(0, 1).contiguous() for p in parts)
        out, new = self.core(head_output.unsqueeze(0), h if self.is_lstm else h[0])  # out [1, B, H]
        new = new if self.is_lstm else (new,)
        flat = torch.cat([p.transpose(0, 1).reshape(batch, -1) for p in new], dim=-1)  # [B, S]
        return out.squeeze(0), flat


def make_default_core(cfg, input_size: int) -> ModelCore:
    """GRU/LSTM core when ``cfg.use_rnn`` else the identity core."""
    return ModelCoreRNN(cfg, input_size) if cfg.get("use_rnn", False) else ModelCoreIdentity(cfg, input_size)


def rnn_state_size(cfg) -> int:
    """Flat size of one core's recurrent state (0 for feed-forward)."""
    if not cfg.get("use_rnn", False):
        return 0
    per_layer = cfg.get("rnn_size", 64) * (2 if cfg.get("rnn_type", "gru") == "lstm" else 1)
    return per_layer * cfg.get("rnn_num_layers", 1)
