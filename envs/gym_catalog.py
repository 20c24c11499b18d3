"""``--env=gym:<id>`` and ``--env=gym:<module>:<id>``: any gymnasium-registered env, unregistered in marl_sf.

``<module>`` is imported first (the package that registers its ids with gymnasium, e.g. ``lbforaging`` or
``rware``); the maker then calls ``gymnasium.make(<id>, render_mode=...)``. ``create_env`` adapts what it returns: a
single-agent env, or a multi-agent env of the Tuple convention (``marl_sf.envs.tuple_agents``). Envs of a family
with a recipe of its own (``FAMILY_RECIPES``, keyed by the module of gymnasium's entry point) get its defaults.
"""

from __future__ import annotations

import functools
import importlib

import gymnasium as gym

from marl_sf.envs.registry import EnvRegistryEntry, recipe_defaults

GYM_PREFIX = "gym:"

LONG_HORIZON_RECIPE = dict(gamma=0.999, gae_lambda=0.98)
"""Box2D landing and walking (LunarLander, BipedalWalker: episodes of up to 1,000-2,000 steps whose large rewards, a
landing or a fall, come at the end): a discount horizon of about 1,000 steps instead of 100, as in rl-baselines3-zoo's
PPO hyperparameters for LunarLander and BipedalWalker (gamma 0.999; GAE lambda 0.98 for LunarLander). The runs that
chose it: docs/results.md, "Learning panel against published results"."""

FAMILY_RECIPES = {
    "gymnasium.envs.box2d.lunar_lander": LONG_HORIZON_RECIPE,
    "gymnasium.envs.box2d.bipedal_walker": LONG_HORIZON_RECIPE,
}
"""Default overrides by the module of a gymnasium env's entry point (``gymnasium.registry[id].entry_point``)."""


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
    recipe = family_recipe(env_id)
    overrides = recipe_defaults(recipe) if recipe else None
    return EnvRegistryEntry(functools.partial(make_gym_env, module, env_id), override_default_params_func=overrides)


def family_recipe(env_id: str) -> dict:
    """The defaults ``FAMILY_RECIPES`` gives the gymnasium env ``env_id`` (empty for an env of no listed family)."""
    entry_point = gym.registry[env_id].entry_point
    module = entry_point.partition(":")[0] if isinstance(entry_point, str) else getattr(entry_point, "__module__", "")
    return FAMILY_RECIPES.get(module, {})


def make_gym_env(module: str, env_id: str, full_env_name, cfg=None, env_config=None, render_mode=None):
    """``gymnasium.make(env_id, render_mode=render_mode)`` after importing ``module`` (when not empty): a maker that
    pickles by reference (spawned env workers and Ray actors rebuild it)."""
    if module:
        importlib.import_module(module)
    return gym.make(env_id, render_mode=render_mode)
