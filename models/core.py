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

    def rnn_state_size(self) -> int:
        """Flat size R of the recurrent state this core reads and returns per row (0: feed-forward).

        The default follows Sample Factory's convention, ``rnn_state_size(cfg)`` (the ``--rnn_*`` options with
        ``--use_rnn``, else 0); a core that knows its own state size returns it, and is then recurrent whatever
        ``--use_rnn`` says.
        """
        return rnn_state_size(self.cfg)


class ModelCoreIdentity(ModelCore):
    """Feed-forward core: returns its input; the rnn states pass through unchanged."""

    def __init__(self, cfg, input_size: int):
        super().__init__(cfg)
        self.core_output_size = input_size

    def forward(self, head_output: torch.Tensor, rnn_states: torch.Tensor):
        """``[B, D] -> [B, D]``."""
        return head_output, rnn_states

    def rnn_state_size(self) -> int:
        """0: no recurrent state."""
        return 0


class ModelCoreRNN(ModelCore):
    """GRU or LSTM core (``--use_rnn``, ``--rnn_type``, ``--rnn_size``, ``--rnn_num_layers``); one step per call.

    The state is stored flat, ``[B, rnn_state_size(cfg)]``: ``L * H`` for a GRU, ``2 * L * H`` (h then c) for
    an LSTM, so rollouts keep one tensor per row.
    """

    def __init__(self, cfg, input_size: int):
        super().__init__(cfg)
        self.rnn_size = cfg.rnn_size
        self.num_layers = cfg.rnn_num_layers
        self.is_lstm = cfg.rnn_type == "lstm"
        rnn_cls = nn.LSTM if self.is_lstm else nn.GRU
        self.core = rnn_cls(input_size, self.rnn_size, self.num_layers)
        self.core_output_size = self.rnn_size

    def rnn_state_size(self) -> int:
        """``L * H`` for a GRU, ``2 * L * H`` for an LSTM."""
        return self.num_layers * self.rnn_size * (2 if self.is_lstm else 1)

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
    return ModelCoreRNN(cfg, input_size) if cfg.use_rnn else ModelCoreIdentity(cfg, input_size)


def rnn_state_size(cfg) -> int:
    """Flat size of one core's recurrent state under the ``--rnn_*`` options (0 without ``--use_rnn``)."""
    if not cfg.use_rnn:
        return 0
    return cfg.rnn_num_layers * cfg.rnn_size * (2 if cfg.rnn_type == "lstm" else 1)
