"""``--env=gym:<id>`` and ``--env=gym:<module>:<id>``: any gymnasium-registered env, unregistered in marl_sf.

``<module>`` is imported first (the package that registers its ids with gymnasium, e.g. ``lbforaging`` or
``rware``); the maker then calls ``gymnasium.make(<id>, render_mode=...)``. ``create_env`` adapts what it returns: a
single-agent env, or a multi-agent env of the Tuple convention (``marl_sf.envs.tuple_agents``).
"""

from __future__ import annotations

import functools
import importlib

import gymnasium as gym

from marl_sf.envs.registry import EnvRegistryEntry

GYM_PREFIX = "gym:"


def gym_entry(env_name: str) -> EnvRegistryEntry | None:
    """A registry entry for ``gym:[<module>:]<id>`` names (None for other names).

    Raises:
        ValueError: the module does not import, or gymnasium has no env ``<id>`` (the message names both and how
            to install or register it).
    """
    if not env_name.startswith(GYM_PREFIX):
        return None
    module, _, env_id = env_name[len(GYM_PREFIX) :].rpartition(":")
    if module:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ValueError(f"--env={env_name}: module {module!r} does not import ({exc}); install the package that "
                             f"registers {env_id!r} (e.g. pip install {module.split('.')[0]})") from None  # fmt: skip
    if env_id not in gym.registry:
        raise ValueError(f"--env={env_name}: gymnasium has no env {env_id!r}; name the module that registers it: "
                         f"--env=gym:<module>:{env_id}")  # fmt: skip
    return EnvRegistryEntry(functools.partial(make_gym_env, module, env_id))


def make_gym_env(module: str, env_id: str, full_env_name, cfg=None, env_config=None, render_mode=None):
    """``gymnasium.make(env_id, render_mode=render_mode)`` after importing ``module`` (when not empty): a maker that
    pickles by reference (spawned env workers and Ray actors rebuild it)."""
    if module:
        importlib.import_module(module)
    return gym.make(env_id, render_mode=render_mode)
