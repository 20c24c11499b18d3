"""Small PettingZoo envs for the tests."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from pettingzoo import ParallelEnv


class LeavingAgentsEnv(ParallelEnv):
    """Three agents; ``agent_i`` terminates after ``i + 1`` steps, so agents leave mid-episode.

    Every live agent gets reward 1 per step; observation ``[step, agent index]``; no ``state()``.
    """

    metadata = {"name": "leaving_agents_v0", "render_modes": []}

    def __init__(self):
        self.possible_agents = [f"agent_{i}" for i in range(3)]
        self.agents = []
        self.t = 0
        self._obs_space = gym.spaces.Box(0.0, 10.0, (2,), np.float32)
        self._act_spaces = {a: gym.spaces.Discrete(self._num_actions(a)) for a in self.possible_agents}

    def _num_actions(self, agent):
        return 2

    def observation_space(self, agent):
        return self._obs_space

    def action_space(self, agent):
        return self._act_spaces[agent]

    def _obs(self, agent):
        return np.array([self.t, self.possible_agents.index(agent)], np.float32)

    def reset(self, seed=None, options=None):
        self.agents = list(self.possible_agents)
        self.t = 0
        return {a: self._obs(a) for a in self.agents}, {a: {} for a in self.agents}

    def step(self, actions):
        self.t += 1
        rewards = {a: 1.0 for a in self.agents}
        terms = {a: self.possible_agents.index(a) + 1 <= self.t for a in self.agents}
        truncs = {a: False for a in self.agents}
        obs = {a: self._obs(a) for a in self.agents}
        infos = {a: {} for a in self.agents}
        self.agents = [a for a in self.agents if not terms[a]]
        return obs, rewards, terms, truncs, infos


class MixedSpacesEnv(LeavingAgentsEnv):
    """Like ``LeavingAgentsEnv`` but ``agent_2`` has a 3-action space: not one set of spaces."""

    def _num_actions(self, agent):
        return 3 if agent == "agent_2" else 2
