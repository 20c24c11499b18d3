"""The env registry (Sample Factory's ``register_env``) and ``create_env``, which returns contract envs.

The registry is the one documented piece of global mutable state in marl_sf.envs: a mapping
from env name to how to build it (and, optionally, how to add and default its command-line options).
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pettingzoo import AECEnv, ParallelEnv

from marl_sf.envs.contract import DictObsWrapper, SingleAgentEnvWrapper
from marl_sf.envs.pettingzoo import PettingZooParallelEnv
from marl_sf.envs.pettingzoo_aec import PettingZooAECEnv
from marl_sf.envs.tuple_agents import TupleAgentsEnv, is_tuple_agents_env

MakeEnvFunc = Callable[..., Any]


@dataclass
class EnvRegistryEntry:
    """How to build one registered env.

    Attributes:
        make_env_func: ``(full_env_name, cfg=None, env_config=None, render_mode=None) -> env``.
        add_extra_params_func: optional ``(env_name, parser, evaluation)`` adding env-specific options.
        override_default_params_func: optional ``(env_name, parser)`` setting defaults for this env.
    """

    make_env_func: MakeEnvFunc
    add_extra_params_func: Callable[[str, argparse.ArgumentParser, bool], None] | None = None
    override_default_params_func: Callable[[str, argparse.ArgumentParser], None] | None = None


_ENV_REGISTRY: dict[str, EnvRegistryEntry] = {}


def register_env(
    env_name: str,
    make_env_func: MakeEnvFunc,
    add_extra_params_func: Callable | None = None,
    override_default_params_func: Callable | None = None,
) -> None:
    """Register ``env_name`` so that ``--env=env_name`` builds it with ``make_env_func``.

    ``make_env_func(full_env_name, cfg=None, env_config=None, render_mode=None)`` (called with positional arguments,
    as Sample Factory does) may return a contract env,
    a PettingZoo ``ParallelEnv`` or ``AECEnv`` (turn-based) or a single-agent gymnasium env; ``create_env``
    adapts the last three.
    Registering a name again replaces the earlier entry.
    """
    if not callable(make_env_func):
        raise TypeError(f"register_env({env_name!r}, ...): make_env_func must be callable")
    _ENV_REGISTRY[env_name] = EnvRegistryEntry(make_env_func, add_extra_params_func, override_default_params_func)


def env_registry() -> dict[str, EnvRegistryEntry]:
    """The registered envs by name (the live mapping)."""
    return _ENV_REGISTRY


def registry_entry(env_name: str) -> EnvRegistryEntry:
    """The entry for ``env_name``.

    ``pz:<module path>`` names (``pz:pettingzoo.classic.go_v5``) wrap any PettingZoo env module unregistered;
    ``gym:[<module>:]<id>`` names any gymnasium-registered env (``gym:lbforaging:Foraging-8x8-2p-2f-coop-v3``);
    ``mamujoco:<scenario>:<agent_conf>`` a Multi-Agent MuJoCo task (``mamujoco:HalfCheetah:2x3``).

    Raises:
        ValueError: the name is not registered (the message lists the registered names), or a ``pz:`` module
            path that does not import.
    """
    entry = find_entry(env_name)
    if entry is None:
        known = ", ".join(sorted(_ENV_REGISTRY)) or "(none)"
        raise ValueError(
            f"unknown env {env_name!r}. Registered envs: {known}. "
            "Register your own with marl_sf.register_env(name, make_env_func) before parsing the config, or "
            "wrap any PettingZoo env by module path: --env=pz:pettingzoo.classic.tictactoe_v3, or name a gymnasium "
            "env: --env=gym:CartPole-v1, --env=gym:lbforaging:Foraging-8x8-2p-2f-coop-v3"
        )
    return entry


def recipe_defaults(recipe: dict) -> Callable[[str, argparse.ArgumentParser], None]:
    """An ``override_default_params_func`` that makes ``recipe`` (option name -> value) the defaults; the command line
    still overrides each value. Pickles by reference (spawned workers and Ray actors rebuild it)."""
    return functools.partial(_set_recipe_defaults, recipe)


def _set_recipe_defaults(recipe: dict, _env_name: str, parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(**recipe)


def find_entry(env_name: str) -> EnvRegistryEntry | None:
    """The entry for ``env_name`` as ``registry_entry`` finds it, or None where the name is not registered.

    Raises:
        ValueError: a ``pz:``, ``gym:`` or ``mamujoco:`` name whose module or env does not exist.
    """
    from marl_sf.envs.gym_catalog import gym_entry  # the catalogs register through this module
    from marl_sf.envs.mamujoco_catalog import mamujoco_entry
    from marl_sf.envs.pettingzoo_catalog import generic_entry

    return generic_entry(env_name) or gym_entry(env_name) or mamujoco_entry(env_name) or _ENV_REGISTRY.get(env_name)


def create_env(full_env_name: str, cfg: Any = None, env_config: Any = None, render_mode: str | None = None):
    """Build a registered env and adapt it to the marl_sf contract (lists over ``num_agents``, dict obs).

    Raises:
        ValueError: unknown env name.
    """
    env = registry_entry(full_env_name).make_env_func(full_env_name, cfg, env_config, render_mode)  # positional
    return to_contract_env(env, full_env_name)


def to_contract_env(env: Any, env_name: str = "env"):
    """Adapt ``env`` to the contract: PettingZoo AEC or Parallel env, a multi-agent gymnasium env of the Tuple
    convention (``marl_sf.envs.tuple_agents``), single-agent gymnasium env or list-API env."""
    if isinstance(env, AECEnv):
        return PettingZooAECEnv(env)
    if isinstance(env, ParallelEnv):
        return PettingZooParallelEnv(env)
    if is_tuple_agents_env(env):
        return TupleAgentsEnv(env, env_name)
    if not hasattr(env, "num_agents"):
        return SingleAgentEnvWrapper(env)
    if not hasattr(env.observation_space, "spaces"):
        return DictObsWrapper(env)
    return env
