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

from marl_sf.algo.env_check import CHECKED_STEPS, EnvContractError
from marl_sf.algo.env_runner import StepBuffers
from marl_sf.envs.spec import EnvSpec, read_env_spec
from marl_sf.envs.vector import vector_env_device
from marl_sf.utils.finite import NonFiniteError


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
        self.box = BoxActions(self.spec.agent_action_spaces, self.device) if _is_box(self.spec.action_space) else None
        self.checks_left = CHECKED_STEPS
        self.steps = 0

    def _alloc(self, shape: tuple[int, ...], dtype: np.dtype) -> torch.Tensor:
        return torch.zeros(shape, dtype=torch.from_numpy(np.zeros(0, dtype)).dtype, device=self.device)

    def split_rows(self, split: int) -> slice:
        """The rows of the one env group: all E envs."""
        return slice(0, self.num_envs)

    def reset(self, seed: int | None) -> StepBuffers:
        """Reset every env (``env.reset(seed=seed)``); returns the buffers holding the first observations."""
        obs, infos = self.env.reset(seed=seed)
        self._check_obs("reset", obs, "obs")
        self._point_at(obs, infos or {})
        self._check_state("reset")
        self.steps = 0
        self._check_finite("reset")
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
            self._check_step(result)
            self.checks_left -= 1
        obs, rewards, terminated, truncated, infos = result
        buf.rewards, buf.terminated, buf.truncated = rewards, terminated, truncated
        self._point_at(obs, infos)
        if check:
            self._check_state(f"step {self.steps}")
        self._check_finite(f"step {self.steps}")

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

    def _check_step(self, result) -> None:
        if not isinstance(result, tuple | list) or len(result) != 5:
            raise EnvContractError(
                f"{self._where()} step returned {type(result).__name__}: the contract is (obs, rewards, terminated, "
                "truncated, infos) with tensors [E, A, ...] (marl_sf.envs.vector)"
            )
        obs, rewards, terminated, truncated, infos = result
        self._check_obs("step", obs, "obs")
        e, a = self.num_envs, self.spec.num_agents
        for name, value, kind in (("rewards", rewards, "f"), ("terminated", terminated, "b"),
                                  ("truncated", truncated, "b")):  # fmt: skip
            self._check_tensor("step", name, value, (e, a), kind)
        if not isinstance(infos, Mapping):
            raise EnvContractError(f"{self._where()} step returned infos of type {type(infos).__name__}: give a dict")
        if "final_obs" in infos:
            self._check_obs("step", infos["final_obs"], "infos['final_obs']")
            self._check_tensor("step", "infos['_final_obs']", infos.get("_final_obs"), (e,), "b")
        if "is_active" in infos:
            self._check_tensor("step", "infos['is_active']", infos["is_active"], (e, a), "b")

    def _check_state(self, when: str) -> None:
        """With a state critic: ``state()`` must be ``[E, *state_space.shape]`` on the env's device."""
        if self.with_state:
            shape = (self.num_envs, *self.spec.state_space.shape)
            kinds = "f" if np.dtype(self.spec.state_space.dtype).kind == "f" else "iub"
            self._check_tensor(when, "state()", self.tensors.state, shape, kinds)

    def _check_obs(self, when: str, obs, what: str) -> None:
        if not isinstance(obs, Mapping):
            raise EnvContractError(
                f"{self._where()} {when}: {what} is a {type(obs).__name__}, expected a dict of tensors "
                f"{{key: [E, A, ...]}} with keys {list(self.spec.observation_space.spaces)}"
            )
        for key, space in self.spec.observation_space.spaces.items():
            if key not in obs:
                raise EnvContractError(f"{self._where()} {when}: {what} has no key {key!r} (received {list(obs)})")
            kind = "f" if np.dtype(space.dtype).kind == "f" else "iub"
            self._check_tensor(when, f"{what}[{key!r}]", obs[key], (self.num_envs, self.spec.num_agents, *space.shape),
                               kind)  # fmt: skip

    def _check_tensor(self, when: str, name: str, value, shape: tuple[int, ...], kinds: str) -> None:
        """Raise ``EnvContractError`` unless ``value`` is a tensor of ``shape`` on the env's device whose dtype kind
        (``b`` bool, ``i``/``u`` integer, ``f`` float) is one of ``kinds``."""
        where = f"{self._where()} {when}: {name}"
        if not isinstance(value, torch.Tensor):
            raise EnvContractError(f"{where} is a {type(value).__name__}, expected a torch tensor of shape {shape}")
        if tuple(value.shape) != shape:
            raise EnvContractError(f"{where} has shape {tuple(value.shape)}, expected {shape} ([E, A, ...])")
        kind = "b" if value.dtype == torch.bool else ("f" if value.dtype.is_floating_point else "i")
        if kind not in kinds:
            raise EnvContractError(f"{where} has dtype {value.dtype}, expected a {'/'.join(kinds)} dtype")
        if value.device != self.device and not (value.device.type == self.device.type == "cuda"):
            raise EnvContractError(f"{where} is on {value.device}, but the env declares device {self.device}")

    def _check_finite(self, when: str) -> None:
        """Raise ``NonFiniteError`` when a float reward, observation or state is NaN or inf (one sum per tensor,
        searched only when a sum is not finite)."""
        buf = self.tensors
        named = [(f"observation key {k!r}", v) for k, v in buf.obs.items() if v.is_floating_point()]
        if when != "reset":
            named.append(("reward", buf.rewards))
        if self.with_state and buf.state is not None and buf.state.is_floating_point():
            named.append(("state", buf.state))
        if not named or bool(torch.stack([v.sum() for _, v in named]).isfinite().all()):  # NaN and inf propagate
            return
        bad = [name for name, v in named if not bool(torch.isfinite(v).all())]  # the sum may just have overflowed
        if bad:
            what = bad[0]
            raise NonFiniteError(
                f"{self._where()} returned a non-finite {what} at its {when}: marl_sf stops the run so that it never "
                "reaches the weights; fix the env (or clip its values)"
            )


class BoxActions:
    """Maps stored Box actions ``[E, A, d_max]`` (a Gaussian's samples, normalized: [-1, 1] spans each bounded
    dimension) onto each agent's own bounds, as ``marl_sf.models.action_distribution.box_actions`` does for one
    env: clipped to [-1, 1], mapped affinely onto ``[low, high]``; unbounded dimensions pass through.

    Args:
        spaces: ``[A]`` each agent's Box action space (1-D; smaller ones padded with [-1, 1]).
        device: where the actions are.
    """

    def __init__(self, spaces: tuple[gym.Space, ...], device: torch.device):
        d = max(s.shape[0] for s in spaces)
        low, high = np.full((len(spaces), d), -1.0), np.full((len(spaces), d), 1.0)  # [A, d_max]
        for i, s in enumerate(spaces):
            low[i, : s.shape[0]], high[i, : s.shape[0]] = s.low, s.high
        bounded = np.isfinite(low) & np.isfinite(high)
        self.bounded = torch.as_tensor(bounded, device=device)
        self.low = torch.as_tensor(np.where(bounded, low, 0.0), dtype=torch.float32, device=device)
        self.span = torch.as_tensor(np.where(bounded, high - low, 0.0), dtype=torch.float32, device=device)
        self.lo = torch.as_tensor(low, dtype=torch.float32, device=device)
        self.hi = torch.as_tensor(high, dtype=torch.float32, device=device)

    def __call__(self, actions: torch.Tensor) -> torch.Tensor:
        """``[E, A, d_max]`` normalized -> ``[E, A, d_max]`` in each agent's box."""
        scaled = self.low + (actions.clamp(-1.0, 1.0) + 1.0) * 0.5 * self.span
        return torch.where(self.bounded, scaled, actions).clamp(self.lo, self.hi)


def _is_box(space: gym.Space) -> bool:
    return isinstance(space, gym.spaces.Box)
