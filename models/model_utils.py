"""Layer helpers shared by the built-in encoders and decoders."""

from __future__ import annotations

import torch
from torch import nn

RESERVED_OBS_KEYS = ("action_mask", "state")
"""Obs-dict keys that are not actor inputs: the action mask, and the global state for the critic."""


def nonlinearity(cfg) -> nn.Module:
    """The activation named by ``cfg.nonlinearity`` (tanh, relu or elu).

    Raises:
        ValueError: another name.
    """
    name = cfg.nonlinearity
    layers = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU}
    if name not in layers:
        raise ValueError(f"unknown nonlinearity {name!r}; choose one of {sorted(layers)}")
    return layers[name]()


def mlp(input_size: int, layer_sizes: list[int], cfg) -> nn.Sequential:
    """``Linear -> activation`` for each size in ``layer_sizes``; empty sizes give an identity."""
    layers: list[nn.Module] = []
    for size in layer_sizes:
        layers += [nn.Linear(input_size, size), nonlinearity(cfg)]
        input_size = size
    return nn.Sequential(*layers)


def init_orthogonal(module: nn.Module, gain: float) -> None:
    """Orthogonal weights with ``gain`` and zero biases for every Linear in ``module`` (PPO practice)."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.orthogonal_(m.weight, gain=gain)
            nn.init.zeros_(m.bias)


def flat_obs(obs_dict: dict[str, torch.Tensor], keys: list[str]) -> torch.Tensor:
    """Concatenate ``obs_dict[k]`` for ``keys``, each flattened to ``[B, -1]`` float: ``[B, sum(dims)]``."""
    return torch.cat([obs_dict[k].reshape(obs_dict[k].shape[0], -1).float() for k in keys], dim=-1)
