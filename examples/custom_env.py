"""A small multi-agent env of our own, written directly to the marl_sf env contract.

``CueMatchEnv``: each of ``num_agents`` agents sees a one-hot cue of ``num_actions`` values and is rewarded
1 when its action names its cue, 0 otherwise; cues are redrawn every step, episodes last ``episode_len``
steps. Random play earns ``episode_len / num_actions`` per agent and episode, a perfect policy
``episode_len``. The global state is every agent's cue side by side.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np


class CueMatchEnv:
    """Contract env (lists over ``num_agents``, dict observations, auto-reset, ``state()``)."""

    is_multiagent = True

    def __init__(self, num_agents: int = 2, num_actions: int = 4, episode_len: int = 8, render_mode=None):
        self.num_agents, self.num_actions, self.episode_len = num_agents, num_actions, episode_len
        self.observation_space = gym.spaces.Dict({"obs": gym.spaces.Box(0.0, 1.0, (num_actions,), np.float32)})
        self.action_space = gym.spaces.Discrete(num_actions)
        self.state_space = gym.spaces.Box(0.0, 1.0, (num_agents * num_actions,), np.float32)
        self.agent_names = [f"agent_{i}" for i in range(num_agents)]
        self.render_mode = render_mode
        self.rng = np.random.default_rng()
        self.cues = np.zeros(num_agents, dtype=np.int64)
        self.t = 0

    def _obs(self):
        eye = np.eye(self.num_actions, dtype=np.float32)
        return [{"obs": eye[c]} for c in self.cues]

    def reset(self, seed=None, options=None):
        """New episode: fresh cues."""
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.t = 0
        self.cues = self.rng.integers(0, self.num_actions, self.num_agents)
        return self._obs(), [{"is_active": True} for _ in range(self.num_agents)]

    def step(self, actions):
        """Reward 1 per agent whose action equals its cue; auto-resets after ``episode_len`` steps."""
        rewards = self._rewards(actions)
        self.t += 1
        truncated = self.t >= self.episode_len
        infos = [{"is_active": True} for _ in range(self.num_agents)]
        if truncated:
            final_obs, final_state = self._obs(), self.state()
            for info, fo in zip(infos, final_obs, strict=True):
                info.update(final_obs=fo, final_state=final_state)
            obs, _ = self.reset()
        else:
            self._next_cues()
            obs = self._obs()
        return obs, rewards, [False] * self.num_agents, [truncated] * self.num_agents, infos

    def _rewards(self, actions) -> list[float]:
        return [float(int(a) == int(c)) for a, c in zip(actions, self.cues, strict=True)]

    def _next_cues(self) -> None:
        self.cues = self.rng.integers(0, self.num_actions, self.num_agents)

    def state(self) -> np.ndarray:
        """``[num_agents * num_actions]`` every agent's cue, one-hot."""
        return np.concatenate([o["obs"] for o in self._obs()])

    def render(self):
        """Nothing to draw."""
        return None

    def close(self):
        """Nothing to release."""


class CueRecallEnv(CueMatchEnv):
    """A memory task: the cue is shown only on the first step of an episode and must be named on the last.

    Each agent sees ``[cue one-hot (num_actions), is_first_step, is_last_step]``; the cue part is zero after
    the first step. Reward 1 when the action on the last step names the agent's cue, 0 otherwise. A
    feed-forward policy can only guess (``1 / num_actions`` per episode); a recurrent one can score 1.
    """

    def __init__(self, num_agents: int = 2, num_actions: int = 2, episode_len: int = 4, render_mode=None):
        super().__init__(num_agents, num_actions, episode_len, render_mode)
        self.observation_space = gym.spaces.Dict({"obs": gym.spaces.Box(0.0, 1.0, (num_actions + 2,), np.float32)})
        self.state_space = gym.spaces.Box(0.0, 1.0, (num_agents * (num_actions + 2),), np.float32)

    def _obs(self):
        eye = np.eye(self.num_actions, dtype=np.float32)
        first, last = float(self.t == 0), float(self.t == self.episode_len - 1)
        return [{"obs": np.concatenate([eye[c] * first, np.array([first, last], np.float32)])} for c in self.cues]

    def _rewards(self, actions) -> list[float]:
        """Reward only on the last step."""
        last = self.t == self.episode_len - 1
        return [float(last and int(a) == int(c)) for a, c in zip(actions, self.cues, strict=True)]

    def _next_cues(self) -> None:
        """The cues stay fixed for the whole episode."""
