"""A PettingZoo AEC (turn-based) env lifted into the marl_sf contract: one contract step is one agent's move."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from pettingzoo import AECEnv, ParallelEnv

from marl_sf.envs.episode import EpisodeAccumulator
from marl_sf.envs.pettingzoo import check_same_spaces, obs_space_to_dict, pz_obs_to_dict, zeros_like_space


class PettingZooAECEnv:
    """A PettingZoo ``AECEnv`` in the marl_sf contract: lists over ``possible_agents``, auto-reset.

    * Each contract step is one move: only ``agent_selection`` is ``is_active``; its action is played, the
      other agents' actions are ignored. Its ``action_mask`` (classic games) stays in the obs dict, so the
      policy never samples an illegal move.
    * ``rewards[i]`` is what agent i received during the move (``env.rewards`` after it), whether or not i
      acted: the loser's -1 arrives on the winner's move. GAE credits such rewards to the agent's last own
      move (``marl_sf.algo.gae.compute_gae``).
    * Agents that are done are stepped out with ``None`` actions (the AEC protocol); when no agent is left
      the episode ends: every agent's flags are set, ``final_obs``/``final_state``/``episode`` are in the
      infos, and the env resets itself.
    * ``state()`` is the env's own state when it has one, else every agent's observation joined.

    Args:
        aec_env: a ``pettingzoo.AECEnv`` (for example ``connect_four_v3.env()``).

    Raises:
        TypeError: ``aec_env`` is a ParallelEnv (use ``PettingZooParallelEnv``).
        ValueError: agents have different observation or action spaces.
    """

    is_multiagent = True

    def __init__(self, aec_env: AECEnv):
        if isinstance(aec_env, ParallelEnv) or not isinstance(aec_env, AECEnv):
            raise TypeError(
                f"{type(aec_env).__name__} is not a PettingZoo AEC env: PettingZooAECEnv steps turn-based "
                "AECEnvs (module.env()); wrap a ParallelEnv with PettingZooParallelEnv"
            )
        self.env = aec_env
        self.agent_names = list(aec_env.possible_agents)
        self.num_agents = len(self.agent_names)
        self.render_mode = getattr(aec_env, "render_mode", None)
        obs_spaces = {a: aec_env.observation_space(a) for a in self.agent_names}
        act_spaces = {a: aec_env.action_space(a) for a in self.agent_names}
        check_same_spaces("observation", obs_spaces)
        check_same_spaces("action", act_spaces)
        self.observation_space = obs_space_to_dict(obs_spaces[self.agent_names[0]])
        self.action_space = act_spaces[self.agent_names[0]]
        self.has_native_state = getattr(aec_env, "state_space", None) is not None
        if self.has_native_state:
            self.state_space = aec_env.state_space
        else:
            flat = gym.spaces.flatdim(self.observation_space["obs"]) * self.num_agents
            self.state_space = gym.spaces.Box(-np.inf, np.inf, (flat,), np.float32)
        self._zero_obs = zeros_like_space(self.observation_space)
        self._last_obs: list[dict] = []
        self._episode = EpisodeAccumulator(1, self.num_agents)

    def reset(self, seed: int | None = None, options: dict | None = None):
        """A new game; returns ``(obs[A], infos[A])`` with only the first mover active."""
        self.env.reset(seed=seed, options=options)
        self._episode.reset()
        self._skip_done_agents()
        return self._collect()

    def step(self, actions):
        """Play ``actions[i]`` for the agent to move (i = its index); auto-resets when the game is over.

        Args:
            actions: ``A`` actions in ``possible_agents`` order; only the acting agent's is used.
        """
        mover = self.env.agent_selection
        active = np.array([[a == mover for a in self.agent_names]])
        self.env.step(actions[self.agent_names.index(mover)])
        rewards = [float(self.env.rewards.get(a, 0.0)) for a in self.agent_names]
        terminated = [bool(self.env.terminations.get(a, False)) for a in self.agent_names]
        truncated = [bool(self.env.truncations.get(a, False)) for a in self.agent_names]
        final_obs = self._collect()[0] if any(terminated) or any(truncated) else None  # before agents leave
        self._skip_done_agents()
        episode_over = not self.env.agents
        if episode_over:  # every agent's trajectory ends here, whatever flags it had left with
            terminated = [t or not tr for t, tr in zip(terminated, truncated, strict=True)]
        returns, lengths = self._episode.step(np.array([rewards]), active, np.array([episode_over]))
        if not episode_over:
            obs_list, info_list = self._collect()
            return obs_list, rewards, terminated, truncated, info_list
        self._last_obs = final_obs
        final_state = self.state()
        obs_list, info_list = self.reset()
        for i, info in enumerate(info_list):
            info.update(final_obs=final_obs[i], final_state=final_state)
            info["episode"] = {"r": float(returns[0, i]), "l": int(lengths[0, i])}
        return obs_list, rewards, terminated, truncated, info_list

    def _skip_done_agents(self) -> None:
        """Step agents that are terminated or truncated with ``None`` until a live agent is to move."""
        env = self.env
        while env.agents and (env.terminations[env.agent_selection] or env.truncations[env.agent_selection]):
            env.step(None)

    def _collect(self):
        """Every agent's observation (zeros once it has left) and infos; only the agent to move is active."""
        live = set(self.env.agents)
        mover = self.env.agent_selection if live else None
        obs_list, info_list = [], []
        for a in self.agent_names:
            present = a in live
            obs_list.append(pz_obs_to_dict(self.env.observe(a)) if present else self._zero_obs)
            info_list.append({**self.env.infos.get(a, {}), "is_active": present and a == mover})
        self._last_obs = obs_list
        return obs_list, info_list

    def state(self) -> np.ndarray:
        """The global state, ``[state_dim]`` float32: ``env.state()`` or all agents' observations joined."""
        if self.has_native_state:
            return np.asarray(self.env.state(), dtype=np.float32)
        return np.concatenate([np.asarray(o["obs"], np.float32).ravel() for o in self._last_obs])

    def render(self):
        """Render the wrapped env."""
        return self.env.render()

    def close(self) -> None:
        """Close the wrapped env."""
        self.env.close()
