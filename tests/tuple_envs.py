"""A multi-agent gymnasium env of the EPyMARL / ma-gym Tuple convention, written here for the tests, registered with
gymnasium on import (``--env=gym:tests.tuple_envs:TupleMatch-v0``)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np


class TupleMatchEnv(gym.Env):
    """Two agents see a cue in {0, 1} (one-hot, agent 1's observation is 2 numbers longer) and each earns 1 when
    its action (agent 0: Discrete(2), agent 1: Discrete(3)) equals the cue; the team's ``done`` after
    ``episode_len`` steps. Tuple spaces, a reward list, one done flag, no auto-reset. ``bad_rewards``: return one
    reward too many (a broken env)."""

    def __init__(self, episode_len: int = 8, bad_rewards: bool = False, render_mode=None):
        self.n_agents, self.episode_len, self.bad_rewards = 2, episode_len, bad_rewards
        self.observation_space = gym.spaces.Tuple(
            (gym.spaces.Box(0, 1, (2,), np.float32), gym.spaces.Box(0, 1, (4,), np.float32))
        )
        self.action_space = gym.spaces.Tuple((gym.spaces.Discrete(2), gym.spaces.Discrete(3)))
        self.render_mode, self.t, self.cue = render_mode, 0, 0

    def _obs(self):
        one_hot = np.eye(2, dtype=np.float32)[self.cue]
        return one_hot, np.concatenate([one_hot, np.zeros(2, np.float32)])

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.cue = 0, int(self.np_random.integers(2))
        return self._obs(), {}

    def step(self, actions):
        rewards = [float(int(a) == self.cue) for a in actions] + ([0.0] if self.bad_rewards else [])
        self.t += 1
        self.cue = int(self.np_random.integers(2))
        return self._obs(), rewards, self.t >= self.episode_len, False, {}


gym.register(id="TupleMatch-v0", entry_point=TupleMatchEnv, max_episode_steps=8)
gym.register(id="TupleMatchBad-v0", entry_point=TupleMatchEnv, kwargs={"bad_rewards": True})
