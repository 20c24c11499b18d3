"""Stepping a vectorized env (``marl_sf.envs.vector``) for the sampler: its tensors are the step results.

``VectorEnvRunner`` offers the env runners' interface (``reset``, ``step_async(group, actions)``, ``wait(group)``,
``tensors``) over one object that steps all E envs at once. Nothing is copied: after each step the runner's
``StepBuffers`` point at the tensors the env returned, on the env's device, and the sampler copies from them into
rollout storage (on the same device when the model is there). The envs form one group: a batched step has nothing
to overlap with inference.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from marl_sf.algo.env_check import CHECKED_STEPS, VectorContractChecks, check_finite
from marl_sf.algo.env_runner import StepBuffers, TrainingInfoSender
from marl_sf.envs.actions import BoxBounds
from marl_sf.envs.spec import EnvSpec, read_env_spec
from marl_sf.envs.vector import vector_env_device


class VectorEnvRunner:
    """Runs one vectorized env of E envs as the sampler's single env group.

    The env's reset and first ``env_check.CHECKED_STEPS`` steps are checked against the vectorized contract
    (shapes ``[E, A, ...]``, dtypes, device); every step is checked for non-finite rewards, observations and
    states with one reduction.

    Args:
        env: a vectorized env (``marl_sf.envs.vector``).
        with_state: also read ``env.state()`` (``[E, G]``) for state critics.
        env_name: the registered env name, for error messages.

    Raises:
        EnvContractError: (reset, step_async) the env returned something the contract does not allow; the message
            names the env, the tensor and the expected and received shape or dtype.
        NonFiniteError: (reset, step_async) a reward, observation or state is NaN or inf.
    """

    num_splits = 1

    def __init__(self, env: Any, with_state: bool, env_name: str = "env"):
        self.env, self.with_state, self.env_name = env, with_state, env_name
        self.spec: EnvSpec = read_env_spec(env)
        self.num_envs, self.device = int(env.num_envs), vector_env_device(env)
        self.tensors = StepBuffers.allocate(self.spec, self.num_envs, with_state, self._alloc)
        self.buffers = self.tensors  # the same object: there is no separate host-side copy
        self.always_active = torch.ones_like(self.tensors.active)
        self.no_final = torch.zeros_like(self.tensors.has_final)
        self.box = BoxBounds(self.spec.agent_action_spaces) if _is_box(self.spec.action_space) else None
        self.checks = VectorContractChecks(self._where(), self.spec, self.num_envs, self.device)
        self.checks_left = CHECKED_STEPS
        self.steps = 0
        self.training_info = TrainingInfoSender([env])

    def _alloc(self, shape: tuple[int, ...], dtype: np.dtype) -> torch.Tensor:
        return torch.zeros(shape, dtype=torch.from_numpy(np.zeros(0, dtype)).dtype, device=self.device)

    def split_rows(self, split: int) -> slice:
        """The rows of the one env group: all E envs."""
        return slice(0, self.num_envs)

    def reset(self, seed: int | None) -> StepBuffers:
        """Reset every env (``env.reset(seed=seed)``); returns the buffers holding the first observations."""
        obs, infos = self.env.reset(seed=seed)
        self.checks.obs("reset", obs, "obs")
        self._point_at(obs, infos or {})
        self._check_state("reset")
        self.steps = 0
        self._check_finite("reset")
        self.training_info.send(self.tensors.training_info)
        return self.tensors

    def step_async(self, split: int, actions: torch.Tensor) -> None:
        """Step all envs with ``actions [E, A, ...]`` (stored layout: Box actions in [-1, 1], mapped onto each
        agent's bounds here)."""
        buf = self.tensors
        buf.actions.copy_(actions)
        env_actions = self.box(buf.actions) if self.box is not None else buf.actions
        result = self.env.step(env_actions)
        check, self.steps = self.checks_left > 0, self.steps + 1
        if check:
            self.checks.step(result)
            self.checks_left -= 1
        obs, rewards, terminated, truncated, infos = result
        buf.rewards, buf.terminated, buf.truncated = rewards, terminated, truncated
        self._point_at(obs, infos)
        if check:
            self._check_state(f"step {self.steps}")
        self._check_finite(f"step {self.steps}")
        self.training_info.send(buf.training_info)

    def wait(self, split: int) -> StepBuffers:
        """The buffers with the last step written (the step ran in ``step_async``)."""
        return self.tensors

    def close(self) -> None:
        """Close the env."""
        self.env.close()

    def _point_at(self, obs: dict[str, torch.Tensor], infos: Mapping) -> None:
        """Point the buffers at what the env returned (no copy)."""
        buf, keys = self.tensors, self.spec.observation_space.spaces
        buf.obs = {k: obs[k] for k in keys}  # the declared keys only, as the per-env runners write them
        buf.active = infos.get("is_active", self.always_active)
        buf.has_final = infos.get("_final_obs", self.no_final)
        if "final_obs" in infos:
            buf.final_obs = {k: infos["final_obs"][k] for k in keys}
        if self.with_state:
            buf.state = self.env.state()
            if "final_state" in infos:
                buf.final_state = infos["final_state"]

    def _where(self) -> str:
        return f"vectorized env {self.env_name!r} ({type(self.env).__name__}, {self.num_envs} envs)"

    def _check_state(self, when: str) -> None:
        """With a state critic: ``state()`` must be ``[E, *state_space.shape]`` on the env's device."""
        if self.with_state:
            self.checks.state(when, self.tensors.state)

    def _check_finite(self, when: str) -> None:
        """Raise ``NonFiniteError`` when a float reward, observation or state is NaN or inf."""
        buf = self.tensors
        named = [(f"observation key {k!r}", v, True) for k, v in buf.obs.items() if v.is_floating_point()]
        if when != "reset":
            named.append(("reward", buf.rewards, True))
        if self.with_state and buf.state is not None and buf.state.is_floating_point():
            named.append(("state", buf.state, False))
        check_finite(named, when, lambda e: f"{self._where()}, env {e},", self.spec.agent_names)


def _is_box(space: gym.Space) -> bool:
    return isinstance(space, gym.spaces.Box)
