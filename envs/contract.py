"""The env contract every marl_sf env satisfies, and the wrapper that lifts a gymnasium env into it.

Contract (docs/custom_envs.md): an env is a ``num_agents`` multi-agent, auto-resetting env with the gymnasium
5-tuple API over lists of length ``num_agents``::

    reset(seed=None, options=None) -> (obs[A], infos[A])
    step(actions[A]) -> (obs[A], rewards[A], terminated[A], truncated[A], infos[A])

* ``observation_space`` / ``action_space`` are one agent's spaces (all agents of an env share them);
  observations are dicts (``"obs"``, optional ``"action_mask"``). Agent groups: an env whose agents have
  their own spaces also reports ``agent_observation_spaces`` / ``agent_action_spaces`` (one per agent), and
  ``observation_space`` / ``action_space`` are then the padded transport spaces of
  ``marl_sf.envs.agent_spaces`` (vector observations zero-padded to the longest, the largest Discrete).
* When every agent is terminated or truncated the episode is over: the env resets itself and returns
  the first observation of the next episode; the last observation is in ``infos[i]["final_obs"]``
  (and the last global state in ``infos[i]["final_state"]``) for bootstrapping truncated episodes.
* ``infos[i]["is_active"] = False`` marks an agent that does not act on the observation returned with
  it (dead, or waiting for its turn); its next action is ignored and that step is masked from the losses.
* Optional ``state_space`` and ``state()``: the global state, one array per env (not per agent).
* Optional ``max_episode_steps``: the time limit in env steps after which episodes are truncated (a time-aware
  critic sees the episode's progress against it, ``marl_sf.envs.episode_progress``).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym


def is_multiagent_env(env: Any) -> bool:
    """True when ``env`` has ``num_agents > 1`` or says so through ``is_multiagent`` (Sample Factory's test)."""
    is_multiagent = hasattr(env, "num_agents") and env.num_agents > 1
    if hasattr(env, "is_multiagent"):
        is_multiagent = env.is_multiagent
    return is_multiagent


def as_dict_space(space: gym.Space) -> gym.spaces.Dict:
    """One agent's observation space as a Dict space: a non-dict space becomes ``Dict(obs=space)``."""
    return space if isinstance(space, gym.spaces.Dict) else gym.spaces.Dict({"obs": space})


def as_obs_dict(obs: Any) -> dict[str, Any]:
    """One agent's observation as a dict: a non-dict observation becomes ``{"obs": obs}``."""
    return obs if isinstance(obs, dict) else {"obs": obs}


class SingleAgentEnvWrapper:
    """Lifts a single-agent gymnasium env into the contract: ``num_agents == 1``, lists, auto-reset.

    Args:
        env: a ``gymnasium.Env`` with the 5-tuple API.
    """

    num_agents = 1
    is_multiagent = False

    def __init__(self, env: gym.Env):
        self.env = env
        self.observation_space = as_dict_space(env.observation_space)
        self.action_space = env.action_space
        self.agent_names = ["agent_0"]
        self.render_mode = getattr(env, "render_mode", None)
        spec = getattr(env, "spec", None)
        self.max_episode_steps = spec.max_episode_steps if spec is not None else None  # gymnasium TimeLimit

    def reset(self, seed: int | None = None, options: dict | None = None):
        """Reset the env; returns ``([obs], [info])``."""
        obs, info = self.env.reset(seed=seed, options=options)
        return [as_obs_dict(obs)], [{**info, "is_active": True}]

    def step(self, actions):
        """Step with ``actions[0]``; auto-resets at the episode end."""
        obs, reward, terminated, truncated, info = self.env.step(actions[0])
        info = {**info, "is_active": True}
        if terminated or truncated:
            info["final_obs"] = as_obs_dict(obs)
            obs, reset_info = self.env.reset()
            info.update({k: v for k, v in reset_info.items() if k not in info})
        return [as_obs_dict(obs)], [float(reward)], [bool(terminated)], [bool(truncated)], [info]

    def render(self):
        """Render the wrapped env."""
        return self.env.render()

    def close(self) -> None:
        """Close the wrapped env."""
        self.env.close()


class DictObsWrapper:
    """Makes a list-API multi-agent env whose observations are arrays return ``{"obs": array}`` dicts."""

    def __init__(self, env: Any):
        self.env = env
        self.observation_space = as_dict_space(env.observation_space)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.env, name)

    def reset(self, seed: int | None = None, options: dict | None = None):
        """Reset, wrapping each agent's observation in a dict."""
        obs, infos = self.env.reset(seed=seed, options=options)
        return [as_obs_dict(o) for o in obs], infos

    def step(self, actions):
        """Step, wrapping each agent's observation (and ``final_obs``) in a dict."""
        obs, rewards, terminated, truncated, infos = self.env.step(actions)
        for info in infos:
            if "final_obs" in info:
                info["final_obs"] = as_obs_dict(info["final_obs"])
        return [as_obs_dict(o) for o in obs], rewards, terminated, truncated, infos
