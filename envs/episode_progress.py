"""Episode progress for a time-aware critic: ``obs["episode_progress"] = [t / max_episode_steps]``.

In an env with a time limit the return still to come depends on the steps left, which an observation rarely
shows; a critic blind to it predicts the average over the episode's times and its advantages credit actions with
what is only the clock (Pardo et al. 2018, "Time Limits in Reinforcement Learning", ICML, section 3: give the
agent the remaining time). ``EpisodeProgressObs`` adds the elapsed fraction of the episode to every agent's
observation under ``EPISODE_PROGRESS_KEY``; the built-in actor-critics treat that key as critic-only, so the
policy itself stays a function of the observation.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from marl_sf.envs.vector import is_vector_env

EPISODE_PROGRESS_KEY = "episode_progress"
"""The obs key of the elapsed fraction of the episode, ``[1]`` float32 in [0, 1]; only critics read it."""

PROGRESS_SPACE = gym.spaces.Box(0.0, 1.0, (1,), np.float32)


def declared_time_limit(env: Any) -> int | None:
    """The env's time limit in env steps, ``env.max_episode_steps`` (contract, optional), or None when it
    declares none (or a value that is not a positive integer)."""
    limit = getattr(env, "max_episode_steps", None)
    return int(limit) if isinstance(limit, (int, np.integer)) and limit > 0 else None


def with_progress(space: gym.spaces.Dict) -> gym.spaces.Dict:
    """``space`` plus ``EPISODE_PROGRESS_KEY``."""
    return gym.spaces.Dict({**space.spaces, EPISODE_PROGRESS_KEY: PROGRESS_SPACE})


class EpisodeProgressObs:
    """A contract env whose agents' observations (and ``final_obs``) also hold the episode's progress.

    Progress is ``min(t / max_episode_steps, 1)`` with ``t`` the env steps since the episode began: 0 in the
    first observation, 1 in the final observation of an episode cut at the time limit.

    Args:
        env: a contract env (see ``marl_sf.envs.contract``).
        max_episode_steps: the env's time limit in env steps (``declared_time_limit``).

    Raises:
        ValueError: the env's observations already have an ``episode_progress`` key, or the limit is not positive.
    """

    def __init__(self, env: Any, max_episode_steps: int):
        if EPISODE_PROGRESS_KEY in env.observation_space.spaces:
            raise ValueError(f"the env's observations already have a key {EPISODE_PROGRESS_KEY!r}: rename it")
        if max_episode_steps <= 0:
            raise ValueError(f"max_episode_steps must be positive, got {max_episode_steps}")
        self.env = env
        self.max_episode_steps = max_episode_steps
        self.observation_space = with_progress(env.observation_space)
        if hasattr(env, "agent_observation_spaces"):
            self.agent_observation_spaces = [with_progress(s) for s in env.agent_observation_spaces]
        self._t = 0

    def __getattr__(self, name: str) -> Any:
        if name == "env":  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.env, name)

    def _progress(self) -> np.ndarray:
        return np.array([min(self._t / self.max_episode_steps, 1.0)], np.float32)

    def _add(self, obs: list[dict]) -> list[dict]:
        progress = self._progress()
        return [{**o, EPISODE_PROGRESS_KEY: progress} for o in obs]

    def reset(self, seed: int | None = None, options: dict | None = None):
        """Reset the env; every observation's progress is 0."""
        obs, infos = self.env.reset(seed=seed, options=options)
        self._t = 0
        return self._add(obs), infos

    def step(self, actions):
        """Step the env; at an episode's end (every agent terminated or truncated) ``final_obs`` gets the final
        progress and the next episode's first observations 0."""
        obs, rewards, terminated, truncated, infos = self.env.step(actions)
        self._t += 1
        if all(te or tr for te, tr in zip(terminated, truncated, strict=True)):
            final = self._progress()
            for info in infos:
                if "final_obs" in info:
                    info["final_obs"] = {**info["final_obs"], EPISODE_PROGRESS_KEY: final}
            self._t = 0
        return self._add(obs), rewards, terminated, truncated, infos


class VectorEpisodeProgress(EpisodeProgressObs):
    """A vectorized env (``marl_sf.envs.vector``) whose observations (and ``final_obs``) also hold each env's
    episode progress, ``[E, A, 1]``, counted here per env as ``EpisodeProgressObs`` counts it for one env.

    Args:
        env: a vectorized env.
        max_episode_steps: its time limit in env steps.

    Raises:
        ValueError: as ``EpisodeProgressObs``.
    """

    is_vector_env = True

    def __init__(self, env: Any, max_episode_steps: int):
        import torch

        super().__init__(env, max_episode_steps)
        self._t = torch.zeros(env.num_envs, device=getattr(env, "device", "cpu"))  # [E] steps since the reset

    def _progress(self):
        """``[E, A, 1]`` float32."""
        progress = (self._t / self.max_episode_steps).clamp(max=1.0)  # [E]
        return progress.view(-1, 1, 1).expand(-1, self.env.num_agents, 1)

    def reset(self, seed: int | None = None, options: dict | None = None):
        """Reset every env; progress 0."""
        obs, infos = self.env.reset(seed=seed)
        self._t.zero_()
        return {**obs, EPISODE_PROGRESS_KEY: self._progress()}, infos

    def step(self, actions):
        """Step; finished envs' ``final_obs`` get their final progress and their next observations 0."""
        obs, rewards, terminated, truncated, infos = self.env.step(actions)
        self._t += 1
        if "final_obs" in infos:
            infos = {**infos, "final_obs": {**infos["final_obs"], EPISODE_PROGRESS_KEY: self._progress()}}
        self._t.masked_fill_((terminated | truncated).all(dim=1), 0.0)
        return {**obs, EPISODE_PROGRESS_KEY: self._progress()}, rewards, terminated, truncated, infos


def with_episode_progress(env: Any, max_episode_steps: int):
    """``env`` with episode progress in its observations: ``VectorEpisodeProgress`` for a vectorized env, else
    ``EpisodeProgressObs``.

    Raises:
        ValueError: as ``EpisodeProgressObs``.
    """
    wrapper = VectorEpisodeProgress if is_vector_env(env) else EpisodeProgressObs
    return wrapper(env, max_episode_steps)
