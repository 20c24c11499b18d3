"""A vectorized env of our own, written to the marl_sf vectorized-env contract (``marl_sf.envs.vector``).

``VectorCueMatchEnv`` steps E copies of ``examples.custom_env.CueMatchEnv`` at once with torch tensors: each of
``num_agents`` agents sees a one-hot cue of ``num_actions`` values and earns 1 when its action names its cue. Env
``e``'s episodes last ``episode_len + e % 3`` steps, so envs end at different times and the auto-reset is per env.
Random play earns ``1 / num_actions`` per agent-step, a perfect policy 1. The global state is every agent's cue.

    import marl_sf
    from examples.vector_env import make_vector_cue_match
    marl_sf.register_env("vector_cue_match", make_vector_cue_match)
    # python -m marl_sf.train --env=vector_cue_match --num_envs=256
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch


class VectorCueMatchEnv:
    """E cue-matching envs as one vectorized contract env (dict observations ``{"obs": [E, A, n]}``, auto-reset,
    ``state() -> [E, A * n]``)."""

    is_vector_env = True

    def __init__(self, num_envs: int, num_agents: int = 2, num_actions: int = 4, episode_len: int = 8,
                 device: str = "cpu"):  # fmt: skip
        self.num_envs, self.num_agents, self.num_actions = num_envs, num_agents, num_actions
        self.device = torch.device(device)
        self.observation_space = gym.spaces.Dict({"obs": gym.spaces.Box(0.0, 1.0, (num_actions,), np.float32)})
        self.action_space = gym.spaces.Discrete(num_actions)
        self.state_space = gym.spaces.Box(0.0, 1.0, (num_agents * num_actions,), np.float32)
        self.lengths = episode_len + torch.arange(num_envs, device=self.device) % 3  # [E] steps per episode
        self.t = torch.zeros(num_envs, dtype=torch.int64, device=self.device)  # [E] steps into the episode
        self.generator = torch.Generator(self.device)
        self.cues = torch.zeros(num_envs, num_agents, dtype=torch.int64, device=self.device)  # [E, A]

    def _draw(self, rows: torch.Tensor | None = None) -> None:
        """New cues for every env, or for the envs where ``rows [E]`` is True."""
        new = torch.randint(0, self.num_actions, self.cues.shape, generator=self.generator, device=self.device)
        self.cues = new if rows is None else torch.where(rows.unsqueeze(1), new, self.cues)

    def _obs(self) -> dict[str, torch.Tensor]:
        return {"obs": torch.nn.functional.one_hot(self.cues, self.num_actions).float()}  # [E, A, n]

    def reset(self, seed: int | None = None, options: dict | None = None):
        """Every env starts an episode."""
        if seed is not None:
            self.generator.manual_seed(seed)
        self.t.zero_()
        self._draw()
        return self._obs(), {}

    def step(self, actions: torch.Tensor):
        """``actions [E, A]`` int64 -> reward 1 where an action names its cue; finished envs reset themselves."""
        rewards = (actions == self.cues).float()  # [E, A]
        self.t += 1
        self._draw()  # the next step's cues
        done = self.t >= self.lengths  # [E]
        infos = {}
        if bool(done.any()):
            infos = {"final_obs": self._obs(), "_final_obs": done, "final_state": self.state()}
            self.t.masked_fill_(done, 0)
            self._draw(done)  # the first cues of the new episodes
        truncated = done.unsqueeze(1).expand(-1, self.num_agents)  # [E] -> [E, A]
        return self._obs(), rewards, torch.zeros_like(truncated), truncated, infos

    def state(self) -> torch.Tensor:
        """``[E, A * n]`` every agent's cue, one-hot, side by side."""
        return self._obs()["obs"].flatten(1)

    def close(self) -> None:
        """Nothing to release."""


def make_vector_cue_match(full_env_name: str, cfg=None, env_config=None, render_mode=None) -> VectorCueMatchEnv:
    """``register_env`` maker: ``env_config.vector_num_envs`` envs (marl_sf sets it; 8 when called bare)."""
    num_envs = (env_config or {}).get("vector_num_envs", 8)
    return VectorCueMatchEnv(num_envs)
