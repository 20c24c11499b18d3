"""PettingZoo ParallelEnv adapter: a ParallelEnv lifted into the marl_sf env contract (see ``contract.py``)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from pettingzoo import AECEnv, ParallelEnv

from marl_sf.envs.actions import BoxBounds
from marl_sf.envs.agent_spaces import pad_obs, transport_action_space, transport_obs_space
from marl_sf.envs.contract import as_dict_space


def pz_obs_to_dict(obs: Any) -> dict[str, Any]:
    """PettingZoo obs -> marl_sf obs dict; classic games' ``{"observation", "action_mask"}`` keep the mask."""
    if isinstance(obs, dict):
        out = dict(obs)
        if "observation" in out and "obs" not in out:
            out["obs"] = out.pop("observation")
        return out
    return {"obs": obs}


def obs_space_to_dict(space: gym.Space) -> gym.spaces.Dict:
    """The Dict space matching ``pz_obs_to_dict``."""
    if isinstance(space, gym.spaces.Dict) and "observation" in space.spaces and "obs" not in space.spaces:
        spaces = dict(space.spaces)
        spaces["obs"] = spaces.pop("observation")
        return gym.spaces.Dict(spaces)
    return as_dict_space(space)


def zeros_like_space(space: gym.spaces.Dict) -> dict[str, np.ndarray]:
    """An all-zero observation for an agent that has left (its action mask is all zero too)."""
    return {k: np.zeros(s.shape, dtype=s.dtype) for k, s in space.spaces.items()}


class PettingZooAdapter:
    """What the Parallel and AEC adapters share: agent order, the agents' spaces, the global state.

    * Agent order is ``possible_agents``.
    * ``agent_observation_spaces`` / ``agent_action_spaces``: each agent's own spaces. When they differ (agent
      groups), ``observation_space`` / ``action_space`` are the padded transport spaces of
      ``marl_sf.envs.agent_spaces``: observations are zero-padded here, and each agent's action is cut back
      to its own space before the env sees it.
    * ``state()`` is the env's own global state when it has one (``state_space``: a float32 vector, a uint8 image
      state keeps its shape); an env without one has ``state_space = None`` (no state is invented: a critic on
      every agent's observations is ``--critic_input=joint_obs``).
    * ``max_episode_steps``: None here; the Parallel adapter reads the env's ``max_cycles``.

    Raises:
        ValueError: agents' spaces differ in a way the transport layout cannot pad (see ``agent_spaces``).
    """

    is_multiagent = True

    def __init__(self, env):
        self.env = env
        self.agent_names = list(env.possible_agents)
        self.num_agents = len(self.agent_names)
        self.render_mode = getattr(env, "render_mode", None)
        self.agent_observation_spaces = [obs_space_to_dict(env.observation_space(a)) for a in self.agent_names]
        self.agent_action_spaces = [env.action_space(a) for a in self.agent_names]
        self.observation_space = transport_obs_space(self.agent_observation_spaces, self.agent_names)
        self.action_space = transport_action_space(self.agent_action_spaces, self.agent_names)
        self._pad = any(s != self.observation_space for s in self.agent_observation_spaces)
        self._cut_actions = any(s != self.action_space for s in self.agent_action_spaces)
        self._box_bounds = [BoxBounds(s) if isinstance(s, gym.spaces.Box) else None for s in self.agent_action_spaces]
        native = getattr(env, "state_space", None)
        self.state_space = flat_state_space(native) if native is not None else None  # no state: none is invented
        self._zero_obs = zeros_like_space(self.observation_space)
        self.max_episode_steps: int | None = None

    def agent_obs(self, obs: Any) -> dict[str, Any]:
        """One agent's PettingZoo observation as a contract obs dict (padded to the transport space)."""
        obs = pz_obs_to_dict(obs)
        return pad_obs(obs, self.observation_space) if self._pad else obs

    def agent_action(self, index: int, action: Any) -> Any:
        """Agent ``index``'s action from the transport layout: a Box action cut to its own size and mapped from
        the transport's [-1, 1] onto its own bounds; other actions as they are."""
        space = self.agent_action_spaces[index]
        if self._cut_actions and isinstance(space, gym.spaces.Box):
            return self._box_bounds[index](np.asarray(action)[: space.shape[0]])
        return action

    def state(self) -> np.ndarray:
        """The env's global state, ``env.state()`` as ``state_space`` (a float32 vector or a uint8 image).

        Raises:
            ValueError: the env has no global state (``state_space`` is None): a critic on every agent's
                observations is ``--critic_input=joint_obs``.
        """
        if self.state_space is None:
            raise ValueError(f"{type(self.env).__name__} has no global state: use --critic_input=joint_obs or local")
        return np.asarray(self.env.state(), dtype=self.state_space.dtype).reshape(self.state_space.shape)

    def final_infos(self, infos: list[dict], final_obs: list[dict]) -> None:
        """Add the episode's last observations (and the env's last state, where it has one) to ``infos``."""
        final_state = self.state() if self.state_space is not None else None
        for info, obs in zip(infos, final_obs, strict=True):
            info["final_obs"] = obs
            if final_state is not None:
                info["final_state"] = final_state

    def render(self):
        """Render the wrapped env."""
        return self.env.render()

    def close(self) -> None:
        """Close the wrapped env."""
        self.env.close()


class PettingZooParallelEnv(PettingZooAdapter):
    """A PettingZoo ``ParallelEnv`` in the marl_sf contract: lists over ``possible_agents``, auto-reset.

    * Agent order is ``parallel_env.possible_agents``.
    * An agent that has left gets a zero observation, zero reward and ``is_active=False`` until the reset.
    * ``state()`` is the env's own global state when it has one (``state_space``, ``[state_dim]`` float32 or a
      uint8 image); an env without one has ``state_space = None`` (a critic on every agent's observations is
      ``--critic_input=joint_obs``).
    * ``action_mask`` stays in the obs dict. Episode returns and lengths are the engine's to count (from the
      rewards and ``is_active`` flags), as for every contract env.

    Args:
        parallel_env: a ``pettingzoo.ParallelEnv``.

    Raises:
        TypeError: ``parallel_env`` is an AEC env (``PettingZooAECEnv`` adapts those).
        ValueError: agents' spaces differ beyond what the transport layout pads.
    """

    def __init__(self, parallel_env: ParallelEnv):
        if isinstance(parallel_env, AECEnv):
            raise TypeError(
                f"{type(parallel_env).__name__} is a PettingZoo AEC env, PettingZooParallelEnv needs a ParallelEnv: "
                "wrap turn-based AEC envs with marl_sf.envs.pettingzoo_aec.PettingZooAECEnv (create_env does this "
                "for you), or use the module's parallel_env()"
            )
        super().__init__(parallel_env)
        # the time limit of PettingZoo's own envs (MPE, butterfly, sisl): max_cycles parallel steps
        self.max_episode_steps = getattr(getattr(parallel_env, "unwrapped", parallel_env), "max_cycles", None)

    def reset(self, seed: int | None = None, options: dict | None = None):
        """Reset every agent; returns ``(obs[A], infos[A])``."""
        obs, infos = self.env.reset(seed=seed, options=options)
        return self._collect(obs, infos)

    def step(self, actions):
        """Step the agents still in the episode with ``actions[i]``; auto-resets when all have left.

        Args:
            actions: ``A`` actions in ``possible_agents`` order; those of inactive agents are ignored.
        """
        live = set(self.env.agents)
        act = {a: self.agent_action(i, actions[i]) for i, a in enumerate(self.agent_names) if a in live}
        obs, rew, term, trunc, infos = self.env.step(act)
        rewards = [float(rew.get(a, 0.0)) for a in self.agent_names]
        terminated = [bool(term.get(a, False)) for a in self.agent_names]
        truncated = [bool(trunc.get(a, False)) for a in self.agent_names]
        episode_over = not self.env.agents
        if episode_over:
            # agents that left earlier end the episode too: every flag set marks the env's episode end
            terminated = [t or not (t or tr) for t, tr in zip(terminated, truncated, strict=True)]
        obs_list, info_list = self._collect(obs, infos)
        if episode_over:
            self.final_infos(info_list, obs_list)
            reset_obs, reset_infos = self.env.reset()
            obs_list, reset_info_list = self._collect(reset_obs, reset_infos)
            for info, reset_info in zip(info_list, reset_info_list, strict=True):
                info["is_active"] = reset_info["is_active"]
        return obs_list, rewards, terminated, truncated, info_list

    def _collect(self, obs: dict, infos: dict):
        """Dicts keyed by agent name -> lists in ``possible_agents`` order, zero obs for absent agents."""
        obs_list, info_list = [], []
        for a in self.agent_names:
            present = a in obs
            obs_list.append(self.agent_obs(obs[a]) if present else self._zero_obs)
            info_list.append({**infos.get(a, {}), "is_active": present and a in self.env.agents})
        return obs_list, info_list


def flat_state_space(space: gym.spaces.Box) -> gym.spaces.Box:
    """The stored state space: a float32 vector (KAZ's ``[26, 4]`` state becomes ``[104]``); uint8 images keep
    their shape."""
    if space.dtype == np.uint8 and len(space.shape) == 3:
        return space
    return gym.spaces.Box(space.low.ravel().astype(np.float32), space.high.ravel().astype(np.float32))
