"""Layer helpers shared by the built-in encoders and decoders."""

from __future__ import annotations

import torch
from torch import nn

RESERVED_OBS_KEYS = ("action_mask", "state")
"""Obs-dict keys that are not actor inputs: the action mask, and the global state for the critic."""


_SIGMOID_TANH_MIN_NUMEL = 8192
"""From this many elements on the CPU, ``tanh_`` by the sigmoid identity: fewer kernels win below it."""


def _tanh_(x: torch.Tensor) -> torch.Tensor:
    """``x = tanh(x)`` in place. On the CPU, for tensors of at least ``_SIGMOID_TANH_MIN_NUMEL`` elements, by the
    identity ``tanh(x) = 2 sigmoid(2x) - 1``: torch's vectorized CPU ``sigmoid`` runs more than twice as fast as its
    ``tanh`` (benchmarks/README.md, "VMAS"), and the result differs from ``torch.tanh`` by at most 2e-7 (absolute).
    Elsewhere (CUDA, small tensors) ``torch.tanh_``."""
    if x.device.type != "cpu" or x.numel() < _SIGMOID_TANH_MIN_NUMEL:
        return x.tanh_()
    return x.mul_(2.0).sigmoid_().mul_(2.0).sub_(1.0)


_ACTIVATIONS = {  # name -> (function, in-place function)
    "tanh": (torch.tanh, _tanh_),
    "relu": (torch.relu, torch.relu_),
    "elu": (nn.functional.elu, nn.functional.elu_),
}


class Activation(nn.Module):
    """An elementwise activation, ``[...] -> [...]``: ``tanh``, ``relu`` or ``elu``.

    With ``overwrite_input`` and gradients off (sampling, evaluation), the result is written into the input instead
    of a new tensor, as ``nn.ReLU(inplace=True)`` does: for an input nothing else reads, such as the output of the
    layer before it. With gradients on, it never writes into its input.

    Args:
        name: the activation.
        overwrite_input: see above.
    """

    def __init__(self, name: str, overwrite_input: bool = False):
        super().__init__()
        self.name, self.overwrite_input = name, overwrite_input
        self.function, self.function_ = _ACTIVATIONS[name]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[...]`` -> ``[...]``."""
        if self.overwrite_input and not torch.is_grad_enabled():
            return self.function_(x)
        return self.function(x)

    def extra_repr(self) -> str:
        return f"{self.name}, overwrite_input={self.overwrite_input}"


_TORCH_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU}


def nonlinearity(cfg, overwrite_input: bool = False) -> nn.Module:
    """The activation named by ``cfg.nonlinearity`` (tanh, relu or elu): torch's own module (``nn.Tanh``,
    ``nn.ReLU``, ``nn.ELU``, which ``torch.jit.script`` compiles, as Sample Factory's ``nonlinearity`` returns), or
    with ``overwrite_input`` an ``Activation`` that writes into its input when gradients are off.

    Raises:
        ValueError: another name.
    """
    name = cfg.nonlinearity
    if name not in _ACTIVATIONS:
        raise ValueError(f"unknown nonlinearity {name!r}; choose one of {sorted(_ACTIVATIONS)}")
    return Activation(name, overwrite_input) if overwrite_input else _TORCH_ACTIVATIONS[name]()


def create_mlp(layer_sizes: list[int], input_size: int, activation: nn.Module) -> nn.Module:
    """Sample Factory's MLP: ``Linear -> activation`` for each size in ``layer_sizes``, ``[B, input_size] ->
    [B, layer_sizes[-1]]``; no sizes give ``nn.Identity``. The one ``activation`` module follows every layer."""
    layers: list[nn.Module] = []
    for size in layer_sizes:
        layers += [nn.Linear(input_size, size), activation]
        input_size = size
    return nn.Sequential(*layers) if layers else nn.Identity()


def mlp(input_size: int, layer_sizes: list[int], cfg) -> nn.Module:
    """``create_mlp`` with ``cfg.nonlinearity``, written into each fresh ``Linear`` output when gradients are off."""
    return create_mlp(layer_sizes, input_size, nonlinearity(cfg, overwrite_input=True))


def calc_num_elements(module: nn.Module, module_input_shape: tuple[int, ...]) -> int:
    """Elements of ``module``'s output for one input of shape ``module_input_shape`` (no batch axis): the flat size
    after a conv trunk, as Sample Factory's ``calc_num_elements``. Runs ``module`` once on zeros ``[1, *shape]``."""
    with torch.no_grad():
        return module(torch.zeros((1, *module_input_shape))).numel()


def init_orthogonal(module: nn.Module, gain: float) -> None:
    """Orthogonal weights with ``gain`` and zero biases for every Linear in ``module`` (PPO practice)."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.orthogonal_(m.weight, gain=gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


POLICY_INITIALIZATIONS = ("orthogonal", "xavier_uniform", "torch_default")
"""``--policy_initialization`` choices, as Sample Factory names them."""

TRUNK_ORTHOGONAL_GAIN = 2**0.5
"""The built-in trunk's orthogonal gain at ``--policy_init_gain=1`` (ReLU/tanh-family layers, PPO practice)."""


def init_trunk(module: nn.Module, cfg) -> None:
    """Initialize every Linear in ``module`` (the built-in actor-critic's encoders, cores and decoders, before its
    heads exist) by ``--policy_initialization`` and ``--policy_init_gain`` (Sample Factory's ``initialize_weights``):

    * ``orthogonal``: orthogonal weights with gain ``TRUNK_ORTHOGONAL_GAIN * policy_init_gain``, zero biases (the
      default options give exactly ``init_orthogonal(module, 2 ** 0.5)``);
    * ``xavier_uniform``: ``nn.init.xavier_uniform_`` with gain ``policy_init_gain``, zero biases;
    * ``torch_default``: nothing, PyTorch's own init stays.

    Conv and recurrent layers keep PyTorch's init in every mode (as before these options; Sample Factory's
    ``orthogonal`` and ``xavier_uniform`` also reach ``nn.Conv2d``).

    Raises:
        ValueError: another ``policy_initialization``.
    """
    kind, gain = cfg.policy_initialization, cfg.policy_init_gain
    if kind not in POLICY_INITIALIZATIONS:
        raise ValueError(f"unknown --policy_initialization={kind!r}; choose one of {list(POLICY_INITIALIZATIONS)}")
    if kind == "orthogonal":
        init_orthogonal(module, gain=TRUNK_ORTHOGONAL_GAIN * gain)
    elif kind == "xavier_uniform":
        for m in module.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight, gain=gain)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)


def flat_obs(obs_dict: dict[str, torch.Tensor], keys: list[str]) -> torch.Tensor:
    """Concatenate ``obs_dict[k]`` for ``keys``, each flattened to ``[B, -1]`` float: ``[B, sum(dims)]``."""
    return torch.cat([obs_dict[k].reshape(obs_dict[k].shape[0], -1).float() for k in keys], dim=-1)
