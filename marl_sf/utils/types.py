"""Command-line value types shared by the engine's and the envs' options, and the type names of Sample Factory's
``utils.typing`` (``Config``, ``ObsSpace``, ``ActionSpace``, ``PolicyID``, ...)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, Union

import gymnasium as gym

if TYPE_CHECKING:
    from marl_sf.utils.attr_dict import AttrDict


def str2bool(v: str | bool) -> bool:
    """``True``/``true``/``1``/``yes`` -> True, ``False``/``false``/``0``/``no`` -> False.

    Raises:
        argparse.ArgumentTypeError: anything else.
    """
    if isinstance(v, bool):
        return v
    if v.lower() in ("true", "1", "yes", "y", "t"):
        return True
    if v.lower() in ("false", "0", "no", "n", "f"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean (True/False), got {v!r}")


Config = Union[argparse.Namespace, "AttrDict"]
"""A parsed configuration (``parse_full_cfg`` returns an ``AttrDict``; options are read as ``cfg.x``)."""
ObsSpace = gym.Space
"""An observation space (a ``gymnasium.spaces.Dict`` for encoders: ``obs_space["obs"]``)."""
ActionSpace = gym.Space
"""An action space."""
PolicyID = int
"""A policy index in ``[0, num_policies)``."""
Device = str
"""A torch device name (``"cpu"``, ``"cuda:0"``)."""
StatusCode = int
"""An exit code (``marl_sf.status.ExperimentStatus``)."""
Env = Any
"""An env as a maker returns it: a contract env, a PettingZoo env or a gymnasium env."""
