"""A PettingZoo AEC (turn-based) env lifted into the marl_sf contract: one contract step is one agent's move."""

from __future__ import annotations

from pettingzoo import AECEnv, ParallelEnv

from marl_sf.envs.pettingzoo import PettingZooAdapter


class PettingZooAECEnv(PettingZooAdapter):
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
    * ``state()`` is the env's own state when it has one; classic games have none (``state_space`` None).

    Args:
        aec_env: a ``pettingzoo.AECEnv`` (for example ``connect_four_v3.env()``).

    Raises:
        TypeError: ``aec_env`` is a ParallelEnv (use ``PettingZooParallelEnv``).
        ValueError: agents' spaces differ beyond what the transport layout pads.
    """

    def __init__(self, aec_env: AECEnv):
        if isinstance(aec_env, ParallelEnv) or not isinstance(aec_env, AECEnv):
            raise TypeError(
                f"{type(aec_env).__name__} is not a PettingZoo AEC env: PettingZooAECEnv steps turn-based "
                "AECEnvs (module.env()); wrap a ParallelEnv with PettingZooParallelEnv"
            )
        super().__init__(aec_env)

    def reset(self, seed: int | None = None, options: dict | None = None):
        """A new game; returns ``(obs[A], infos[A])`` with only the first mover active."""
        self.env.reset(seed=seed, options=options)
        self._skip_done_agents()
        return self._collect()

    def step(self, actions):
        """Play ``actions[i]`` for the agent to move (i = its index); auto-resets when the game is over.

        Args:
            actions: ``A`` actions in ``possible_agents`` order; only the acting agent's is used.
        """
        mover = self.env.agent_selection
        index = self.agent_names.index(mover)
        self.env.step(self.agent_action(index, actions[index]))
        rewards = [float(self.env.rewards.get(a, 0.0)) for a in self.agent_names]
        terminated = [bool(self.env.terminations.get(a, False)) for a in self.agent_names]
        truncated = [bool(self.env.truncations.get(a, False)) for a in self.agent_names]
        final_obs = self._collect()[0] if any(terminated) or any(truncated) else None  # before agents leave
        self._skip_done_agents()
        episode_over = not self.env.agents
        if episode_over:  # every agent's trajectory ends here, whatever flags it had left with
            terminated = [t or not tr for t, tr in zip(terminated, truncated, strict=True)]
        if not episode_over:
            obs_list, info_list = self._collect()
            return obs_list, rewards, terminated, truncated, info_list
        final_infos = [{} for _ in self.agent_names]
        self.final_infos(final_infos, final_obs)
        obs_list, info_list = self.reset()
        for info, final in zip(info_list, final_infos, strict=True):
            info.update(final)
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
            obs_list.append(self.agent_obs(self.env.observe(a)) if present else self._zero_obs)
            info_list.append({**self.env.infos.get(a, {}), "is_active": present and a == mover})
        return obs_list, info_list
