"""Small contract envs for tests: every action space, masked actions, image and dict observations."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from examples.custom_env import CueMatchEnv
from marl_sf.algo.episodes import EpisodeAccumulator


class ActionSpaceEnv:
    """Two agents; reward = 1 when the first action component is 0 (any space); 5-step episodes."""

    is_multiagent = True
    num_agents = 2

    def __init__(self, action_space):
        self.action_space = action_space
        self.observation_space = gym.spaces.Dict({"obs": gym.spaces.Box(-1.0, 1.0, (3,), np.float32)})
        self.t = 0

    def _obs(self):
        return [{"obs": np.full(3, self.t / 5, np.float32)} for _ in range(2)]

    def reset(self, seed=None, options=None):
        self.t = 0
        return self._obs(), [{"is_active": True}] * 2

    def step(self, actions):
        for a in actions:
            assert self.action_space.contains(a), f"{a!r} is not in {self.action_space}"
        first = [np.ravel(a[0] if isinstance(a, tuple) else a)[0] for a in actions]
        rewards = [float(abs(f) < 0.5) for f in first]
        self.t += 1
        done = self.t >= 5
        infos = [{"is_active": True} for _ in range(2)]
        if done:
            for info, fo in zip(infos, self._obs(), strict=True):
                info["final_obs"] = fo
            self.t = 0
        return self._obs(), rewards, [False, False], [done, done], infos

    def close(self):
        pass

    state_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)

    def state(self):
        """``[4]``: the step counter and constants."""
        return np.array([self.t / 5, 1.0, -1.0, 0.0], np.float32)


class MaskedActionEnv(ActionSpaceEnv):
    """Discrete(4) with a random ``action_mask`` per agent and step; an illegal action raises.

    Reward 1 for the highest legal action, so a policy that reads the mask learns which one to pick.
    """

    def __init__(self):
        super().__init__(gym.spaces.Discrete(4))
        self.observation_space = gym.spaces.Dict(
            {"obs": self.observation_space["obs"], "action_mask": gym.spaces.Box(0, 1, (4,), np.int8)}
        )
        self.rng = np.random.default_rng(0)
        self.masks = self._draw_masks()

    def _draw_masks(self):
        masks = self.rng.integers(0, 2, (2, 4)).astype(np.int8)
        masks[np.arange(2), self.rng.integers(0, 4, 2)] = 1  # at least one legal action
        return masks

    def _obs(self):
        return [{"obs": np.full(3, self.t / 5, np.float32), "action_mask": m} for m in self.masks]

    def reset(self, seed=None, options=None):
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.masks = self._draw_masks()
        return super().reset(seed, options)

    def step(self, actions):
        for a, m in zip(actions, self.masks, strict=True):
            if not m[int(a)]:
                raise ValueError(f"illegal action {a} under mask {m}")
        best = [int(np.flatnonzero(m).max()) for m in self.masks]
        obs, _, terminated, truncated, infos = super().step([0, 0])
        self.masks = self._draw_masks()
        obs = self._obs()
        for info, fo in zip(infos, obs, strict=True):
            if "final_obs" in info:
                info["final_obs"] = fo
        rewards = [float(int(a) == b) for a, b in zip(actions, best, strict=True)]
        return obs, rewards, terminated, truncated, infos


class ImageCueEnv(CueMatchEnv):
    """``CueMatchEnv`` seen through images: each agent gets a uint8 ``[size, size, num_actions]`` image whose
    cue channel is lit (255) in the top-left quarter; the global state stays the one-hot cues."""

    def __init__(self, num_agents: int = 2, num_actions: int = 3, size: int = 36, render_mode=None):
        super().__init__(num_agents, num_actions, episode_len=8, render_mode=render_mode)
        self.size = size
        self.observation_space = gym.spaces.Dict({"obs": gym.spaces.Box(0, 255, (size, size, num_actions), np.uint8)})

    def _obs(self):
        images = np.zeros((self.num_agents, self.size, self.size, self.num_actions), np.uint8)
        half = self.size // 2
        images[np.arange(self.num_agents), :half, :half, self.cues] = 255  # [A, H/2, W/2] lit per cue channel
        return [{"obs": image} for image in images]

    def state(self):
        """``[num_agents * num_actions]`` one-hot cues."""
        return np.eye(self.num_actions, dtype=np.float32)[self.cues].ravel()


class PrivilegedCueEnv(gym.Env):
    """Single-agent gymnasium env with dict observations: ``"obs"`` is a one-hot cue, ``"privileged"`` the
    reward the cue will pay (1 or 3). Reward: the payout when the action names the cue, else 0; 4-step episodes.
    Only a critic should read ``"privileged"`` (``--critic_only_obs_keys privileged``)."""

    def __init__(self):
        self.observation_space = gym.spaces.Dict(
            {
                "obs": gym.spaces.Box(0.0, 1.0, (3,), np.float32),
                "privileged": gym.spaces.Box(0.0, 3.0, (1,), np.float32),
            }
        )
        self.action_space = gym.spaces.Discrete(3)
        self.t, self.cue, self.payout = 0, 0, 1.0

    def _obs(self):
        self.cue, self.payout = int(self.np_random.integers(3)), float(self.np_random.choice([1.0, 3.0]))
        return {"obs": np.eye(3, dtype=np.float32)[self.cue], "privileged": np.array([self.payout], np.float32)}

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        reward = self.payout if int(action) == self.cue else 0.0
        self.t += 1
        return self._obs(), reward, False, self.t >= 4, {}


class ValuesEnv(ActionSpaceEnv):
    """``ActionSpaceEnv`` over ``Discrete(3)`` with named agents (``left``, ``right``), deterministic 5-step
    episodes, a record of its reset seeds and a ``closed`` flag.

    With ``bad_env == env_id``, from its step ``at_step`` on it returns ``value`` as agent ``right``'s reward
    (``key="reward"``) or in agent ``right``'s observation (``key="obs"``).
    """

    agent_names = ["left", "right"]

    def __init__(self, env_id: int = 0, bad_env: int | None = None, key: str = "reward", at_step: int = 0,
                 value: float = float("nan")):  # fmt: skip
        super().__init__(gym.spaces.Discrete(3))
        self.env_id, self.bad_env, self.key, self.at_step, self.value = env_id, bad_env, key, at_step, value
        self.steps, self.seeds, self.closed = 0, [], False

    def reset(self, seed=None, options=None):
        self.seeds.append(seed)
        return super().reset(seed, options)

    def step(self, actions):
        obs, rewards, terminated, truncated, infos = super().step(actions)
        self.steps += 1
        if self.env_id == self.bad_env and self.steps >= self.at_step:
            if self.key == "reward":
                rewards[1] = self.value
            else:
                obs[1] = {"obs": np.full(3, self.value, np.float32)}
        return obs, rewards, terminated, truncated, infos

    def close(self):
        self.closed = True


class BrokenCueEnv(CueMatchEnv):
    """``CueMatchEnv`` (2 agents, Discrete(4) actions, ``obs`` float32 ``[4]``) that breaks the contract in one way
    from its ``at_step``-th step on (0: already on reset).

    ``fault``: ``short_rewards`` (one reward too few), ``short_obs`` (one observation too few), ``wrong_shape``
    (``obs`` of shape ``[5]``), ``missing_key`` (no ``obs`` key), ``floats_for_uint8`` (the space declares uint8
    images, the env returns float images in [0, 1]), ``ints_for_float`` (int64 values in the float32 space: fine).
    """

    def __init__(self, fault: str, at_step: int = 1):
        super().__init__()
        self.fault, self.at_step, self.steps = fault, at_step, 0
        if fault == "floats_for_uint8":
            self.observation_space = gym.spaces.Dict({"obs": gym.spaces.Box(0, 255, (4,), np.uint8)})

    def _break(self, obs, rewards=None):
        if self.steps < self.at_step:
            return obs, rewards
        if self.fault == "short_obs":
            obs = obs[:-1]
        elif self.fault == "short_rewards" and rewards is not None:
            rewards = rewards[:-1]
        elif self.fault == "wrong_shape":
            obs = [{"obs": np.zeros(5, np.float32)} for _ in obs]
        elif self.fault == "missing_key":
            obs = [{"observation": o["obs"]} for o in obs]
        elif self.fault in ("floats_for_uint8", "ints_for_float"):
            obs = [{"obs": o["obs"].astype(np.float64 if self.fault == "floats_for_uint8" else np.int64)} for o in obs]
        return obs, rewards

    def reset(self, seed=None, options=None):
        obs, infos = super().reset(seed, options)
        return self._break(obs)[0], infos

    def step(self, actions):
        self.steps += 1
        obs, rewards, terminated, truncated, infos = super().step(actions)
        obs, rewards = self._break(obs, rewards)
        return obs, rewards, terminated, truncated, infos


class EpisodeCounter:
    """Counts one contract env's per-agent episode returns and lengths as the sampler does: an
    ``EpisodeAccumulator`` over the rewards, an agent's step counting when it was active on the observation acted on.

    Args:
        infos: the infos of the env's reset.
    """

    def __init__(self, infos: list[dict]):
        self.accumulator = EpisodeAccumulator(1, len(infos))
        self.active = [info["is_active"] for info in infos]
        self.returns: list[list[float]] = []  # one [A] list per finished episode
        self.lengths: list[list[int]] = []

    def step(self, rewards, terminated, truncated, infos) -> None:
        """Count one step's outputs."""
        done = all(t or tr for t, tr in zip(terminated, truncated, strict=True))
        returns, lengths = self.accumulator.step(
            torch.tensor([rewards], dtype=torch.float64), torch.tensor([self.active]), torch.tensor([done])
        )
        self.returns += returns.tolist()
        self.lengths += lengths.tolist()
        self.active = [info["is_active"] for info in infos]
