"""Multi-agent gymnasium envs of the EPyMARL / ma-gym convention in the marl_sf contract.

The convention (Level-Based Foraging, RWARE, ma-gym, EPyMARL's matrix games): ``observation_space`` and
``action_space`` are ``gymnasium.spaces.Tuple`` s with one space per agent, ``step(actions)`` takes one action per
agent and returns ``(obs tuple, reward list, done, truncated, info)`` where ``done`` / ``truncated`` are one bool for
the team (or one per agent), the env does not reset itself, and ``env.unwrapped.n_agents`` counts the agents.
``TupleAgentsEnv`` adds the rest of the contract: lists, dict observations, auto-reset with ``final_obs``, the time
limit as ``max_episode_steps`` (the spec's, else the env's own ``max_episode_steps`` / ``_max_episode_steps``, as
LBF keeps it), and agent groups (padded transport spaces) where the agents'
spaces differ.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from marl_sf.envs.actions import BoxBounds
from marl_sf.envs.agent_spaces import pad_obs, transport_action_space, transport_obs_space
from marl_sf.envs.contract import as_dict_space, as_obs_dict


def is_tuple_agents_env(env: Any) -> bool:
    """Whether ``env`` follows the convention: Tuple observation and action spaces of one length n >= 1 and
    ``env.unwrapped.n_agents == n`` (a single-agent env with composite Tuple spaces has no ``n_agents``)."""
    obs, act = getattr(env, "observation_space", None), getattr(env, "action_space", None)
    if not (isinstance(obs, gym.spaces.Tuple) and isinstance(act, gym.spaces.Tuple)):
        return False
    n_agents = getattr(getattr(env, "unwrapped", env), "n_agents", None)
    return n_agents is not None and n_agents == len(obs.spaces) == len(act.spaces)


class TupleAgentsEnv:
    """A Tuple-convention gymnasium env (see the module) as a contract env of ``n_agents`` agents.

    Args:
        env: the gymnasium env (``gym.make`` result or the env itself).
        env_name: its name, for error messages.

    Raises:
        ValueError: the spaces are not Tuples of one length matching ``n_agents`` (at construction), or ``step`` /
            ``reset`` returned a reward list, an observation tuple or per-agent flags of another length than the
            agents (the message names the env, the field and the lengths).
    """

    is_multiagent = True

    def __init__(self, env: gym.Env, env_name: str = "env"):
        self.env, self.env_name = env, env_name
        obs, act = env.observation_space, env.action_space
        n_agents = getattr(getattr(env, "unwrapped", env), "n_agents", None)
        if not (isinstance(obs, gym.spaces.Tuple) and isinstance(act, gym.spaces.Tuple)):
            raise ValueError(f"env {env_name!r}: observation_space and action_space must be gymnasium Tuples with one "
                             f"space per agent, got {type(obs).__name__} and {type(act).__name__}")  # fmt: skip
        if not (n_agents is None or n_agents == len(obs.spaces) == len(act.spaces)) or len(obs) != len(act):
            raise ValueError(f"env {env_name!r}: n_agents={n_agents}, but observation_space has {len(obs.spaces)} "
                             f"spaces and action_space {len(act.spaces)}: give one of each per agent")  # fmt: skip
        self.num_agents = len(obs.spaces)
        self.agent_names = [f"agent_{i}" for i in range(self.num_agents)]
        self.agent_observation_spaces = [as_dict_space(s) for s in obs.spaces]
        self.agent_action_spaces = list(act.spaces)
        self.observation_space = transport_obs_space(self.agent_observation_spaces, self.agent_names)
        self.action_space = transport_action_space(self.agent_action_spaces, self.agent_names)
        self._pad = any(s != self.observation_space for s in self.agent_observation_spaces)
        self._box_bounds = [BoxBounds(s) if isinstance(s, gym.spaces.Box) else None for s in self.agent_action_spaces]
        self._cut = any(s != self.action_space for s in self.agent_action_spaces)
        self.render_mode = getattr(env, "render_mode", None)
        spec, unwrapped = getattr(env, "spec", None), getattr(env, "unwrapped", env)
        limit = spec.max_episode_steps if spec is not None else None  # gymnasium's TimeLimit, else the env's own
        self.max_episode_steps = limit or getattr(unwrapped, "max_episode_steps", None) or getattr(
            unwrapped, "_max_episode_steps", None)  # fmt: skip

    def _per_agent(self, values: Any, field: str) -> list:
        """``values`` as a list of one entry per agent (a scalar flag is the team's: repeated)."""
        if np.isscalar(values) or isinstance(values, bool | np.bool_):
            return [values] * self.num_agents if field in ("done", "truncated") else self._wrong(field, 1)
        values = list(values)
        return values if len(values) == self.num_agents else self._wrong(field, len(values))

    def _wrong(self, field: str, got: int):
        raise ValueError(f"env {self.env_name!r} returned a {field} of {got} entries for its {self.num_agents} agents: "
                         f"the Tuple convention returns one {field} per agent")  # fmt: skip

    def _obs(self, obs: Any) -> list[dict]:
        out = [as_obs_dict(o) for o in self._per_agent(obs, "observation")]
        return [pad_obs(o, self.observation_space) for o in out] if self._pad else out

    def _infos(self, info: Any) -> list[dict]:
        infos = info if isinstance(info, list | tuple) else [info] * self.num_agents
        return [{**dict(i or {}), "is_active": True} for i in self._per_agent(infos, "info")]

    def reset(self, seed: int | None = None, options: dict | None = None):
        """Reset the env; ``(obs[A], infos[A])``."""
        obs, info = self.env.reset(seed=seed, options=options)
        return self._obs(obs), self._infos(info)

    def step(self, actions):
        """Step with one action per agent (cut to each agent's own space); auto-resets when every agent is done."""
        actions = [self._action(i, a) for i, a in enumerate(actions)]
        obs, rewards, done, truncated, info = self.env.step(tuple(actions))
        rewards = [float(r) for r in self._per_agent(rewards, "reward")]
        terminated = [bool(d) for d in self._per_agent(done, "done")]
        truncated = [bool(t) and not d for t, d in zip(self._per_agent(truncated, "truncated"), terminated,
                                                        strict=True)]  # fmt: skip
        obs, infos = self._obs(obs), self._infos(info)
        if all(d or t for d, t in zip(terminated, truncated, strict=True)):
            for agent_info, final in zip(infos, obs, strict=True):
                agent_info["final_obs"] = final
            obs, _ = self.reset()
        return obs, rewards, terminated, truncated, infos

    def _action(self, index: int, action: Any) -> Any:
        space = self.agent_action_spaces[index]
        if isinstance(space, gym.spaces.Discrete):
            return int(action)
        if self._cut and isinstance(space, gym.spaces.Box):
            return self._box_bounds[index](np.asarray(action)[: space.shape[0]])
        return action

    def render(self):
        """Render the wrapped env."""
        return self.env.render()

    def close(self) -> None:
        """Close the wrapped env."""
        self.env.close()
