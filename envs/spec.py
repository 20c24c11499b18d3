"""``EnvSpec``: the shape of a contract env, read once from the first env of a run.

The env contract (``marl_sf.envs.contract``) leaves some attributes optional: ``agent_names`` (default
``agent_<i>``), ``agent_observation_spaces`` / ``agent_action_spaces`` (default: the transport spaces for every
agent), ``state_space`` and ``max_episode_steps`` (default: none). ``read_env_spec`` is the one place those
defaults are applied; everything after it (policies, buffers, logs, reports) reads the frozen spec.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym

from marl_sf.envs.episode_progress import declared_time_limit
from marl_sf.envs.vector import is_vector_env


@dataclass(frozen=True)
class EnvSpec:
    """What every env of a run has in common.

    Attributes:
        num_agents: A.
        agent_names: ``[A]`` names, in the env's agent order.
        observation_space: the transport Dict space every agent's observation arrives in (agent groups: padded,
            see ``marl_sf.envs.agent_spaces``); buffers ``{key: [E, A, ...]}`` are shaped by it.
        action_space: the transport action space (agent groups: the largest).
        agent_observation_spaces: ``[A]`` each agent's own Dict space (policies are built on these).
        agent_action_spaces: ``[A]`` each agent's own action space.
        state_space: the global state's space (one array per env), or None when the env has no ``state()``.
        max_episode_steps: the declared time limit in env steps, or None.
        vectorized: the env is one object stepping many envs (``marl_sf.envs.vector``).
    """

    num_agents: int
    agent_names: tuple[str, ...]
    observation_space: gym.spaces.Dict
    action_space: gym.Space
    agent_observation_spaces: tuple[gym.spaces.Dict, ...]
    agent_action_spaces: tuple[gym.Space, ...]
    state_space: gym.Space | None
    max_episode_steps: int | None
    vectorized: bool = False


def env_agent_names(env: Any) -> tuple[str, ...]:
    """A contract env's agent names: its ``agent_names``, else ``agent_<i>`` for each of its ``num_agents``."""
    names = getattr(env, "agent_names", None)
    return tuple(names) if names else tuple(f"agent_{i}" for i in range(env.num_agents))


def read_env_spec(env: Any) -> EnvSpec:
    """The ``EnvSpec`` of a contract env (its optional attributes defaulted as the module docstring says).

    Raises:
        ValueError: the env's per-agent lists or names do not have ``num_agents`` entries.
    """
    a = env.num_agents
    names = env_agent_names(env)
    obs_spaces = tuple(getattr(env, "agent_observation_spaces", None) or [env.observation_space] * a)
    act_spaces = tuple(getattr(env, "agent_action_spaces", None) or [env.action_space] * a)
    for what, values in (("agent_names", names), ("agent_observation_spaces", obs_spaces),
                         ("agent_action_spaces", act_spaces)):  # fmt: skip
        if len(values) != a:
            raise ValueError(
                f"{type(env).__name__}.{what} has {len(values)} entries but the env has num_agents={a}: give one "
                "per agent"
            )
    return EnvSpec(
        num_agents=a,
        agent_names=names,
        observation_space=env.observation_space,
        action_space=env.action_space,
        agent_observation_spaces=obs_spaces,
        agent_action_spaces=act_spaces,
        state_space=getattr(env, "state_space", None),
        max_episode_steps=declared_time_limit(env),
        vectorized=is_vector_env(env),
    )
