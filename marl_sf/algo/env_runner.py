"""Stepping a group of contract envs into preallocated arrays: the part of sampling that touches envs.

``StepBuffers`` holds everything one step of E envs produces, ``[E, A, ...]`` per agent and ``[E, G]`` per env.
``EnvGroup`` steps some rows of those buffers with its envs; ``InProcessEnvRunner`` runs the env groups in this
process (``--serial_mode``), ``marl_sf.algo.env_workers.ProcessEnvRunner`` in worker processes over shared
memory. Both offer ``step_async(group, actions)`` / ``wait(group)``; the sampler sees the same buffers either way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, fields

import gymnasium as gym
import numpy as np
import torch

from marl_sf.algo.env_check import CHECKED_STEPS, check_finite, check_reset, check_state, check_step
from marl_sf.algo.watchdog import StepWatchdog
from marl_sf.envs.actions import action_storage, to_env_actions
from marl_sf.envs.interfaces import find_training_info_interface
from marl_sf.envs.spec import EnvSpec, env_agent_names, read_env_spec

Alloc = Callable[[tuple[int, ...], np.dtype], np.ndarray]


@dataclass
class StepBuffers:
    """One step of E envs of A agents.

    Attributes:
        obs: ``{key: [E, A, ...]}`` observations to act on next (the reset observation after an episode end).
        active: ``[E, A]`` bool, the agent acts on ``obs``.
        state: ``[E, G]`` env.state() after the step (None unless a critic needs it).
        rewards: ``[E, A]`` float32; terminated, truncated: ``[E, A]`` bool.
        final_obs: ``{key: [E, A, ...]}`` last observation of an episode that ended (rows where ``has_final``).
        final_state: ``[E, G]`` last state of an episode that ended (None unless a critic needs it).
        has_final: ``[E]`` bool, the env ended an episode this step and reported its final observation.
        actions: ``[E, A, ...]`` the actions to step with (stored layout, see ``action_storage``).
        training_info: ``[1]`` int64, the run's agent-steps so far, written by the sampler; env groups pass it to
            envs with a ``TrainingInfoInterface`` (``marl_sf.envs.interfaces``).
    """

    obs: dict[str, np.ndarray]
    active: np.ndarray
    state: np.ndarray | None
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    final_obs: dict[str, np.ndarray]
    final_state: np.ndarray | None
    has_final: np.ndarray
    actions: np.ndarray
    training_info: np.ndarray

    @classmethod
    def allocate(cls, env_spec: EnvSpec, num_envs: int, with_state: bool, alloc: Alloc = np.zeros) -> StepBuffers:
        """Buffers for ``num_envs`` envs of ``env_spec`` (transport spaces), from ``alloc(shape, dtype)``."""
        e, a = num_envs, env_spec.num_agents
        obs_space: gym.spaces.Dict = env_spec.observation_space

        def obs_buffers():
            return {k: alloc((e, a, *s.shape), s.dtype) for k, s in obs_space.spaces.items()}

        state_shape = (e, *env_spec.state_space.shape) if with_state else None
        state_dtype = env_spec.state_space.dtype if with_state else None  # float32 vectors, uint8 images
        action_shape, action_dtype = action_storage(env_spec.action_space)
        return cls(
            obs=obs_buffers(),
            active=alloc((e, a), np.bool_),
            state=alloc(state_shape, state_dtype) if with_state else None,
            rewards=alloc((e, a), np.float32),
            terminated=alloc((e, a), np.bool_),
            truncated=alloc((e, a), np.bool_),
            final_obs=obs_buffers(),
            final_state=alloc(state_shape, state_dtype) if with_state else None,
            has_final=alloc((e,), np.bool_),
            actions=alloc((e, a, *action_shape), torch.empty(0, dtype=action_dtype).numpy().dtype),
            training_info=alloc((1,), np.int64),
        )

    def as_tensors(self) -> StepBuffers:
        """The same buffers as torch tensors over the same memory (``torch.from_numpy``: no copy; shared memory
        stays shared): what the sampler copies into rollout storage. Envs write the numpy side; the sampler's
        episode bookkeeping (flags, returns) reads it too."""

        def view(x):
            if isinstance(x, dict):
                return {k: torch.from_numpy(v) for k, v in x.items()}
            return torch.from_numpy(x) if x is not None else None

        return StepBuffers(**{f.name: view(getattr(self, f.name)) for f in fields(self)})


class EnvGroup:
    """Steps ``envs``, which own rows ``rows`` of ``buffers``, reading actions and writing results there.

    What the envs return on reset and on their first ``env_check.CHECKED_STEPS`` steps is checked against the
    contract and the declared spaces before it is written (``marl_sf.algo.env_check``); later steps are not.
    After every reset and step it checks that the rewards and the floating-point observations and states it
    wrote are finite (``NonFiniteError`` names the env, the agent and the key otherwise).

    Args:
        envs: contract envs.
        buffers: the shared step buffers.
        rows: the buffer rows of these envs (``slice``).
        with_state: also write ``env.state()`` (for state critics).
        env_name: the registered env name, for error messages.

    Raises:
        EnvContractError: (reset, step) an env returned lists of the wrong length or observations that do not fit
            its declared spaces; the message names the env (name and buffer row), the agent and the key.
    """

    def __init__(self, envs: list, buffers: StepBuffers, rows: slice, with_state: bool, env_name: str = "env"):
        self.envs, self.buf, self.with_state, self.env_name = envs, buffers, with_state, env_name
        self.action_space = envs[0].action_space
        self.first_row = rows.start or 0
        self.steps = 0  # steps since the last reset
        self.num_agents = buffers.active.shape[1]
        self.checks_left = CHECKED_STEPS  # steps still to check
        # the float buffers checked for NaN/inf after a reset (False) and a step (True), listed once
        self.finite_checked = {stepped: self._float_buffers(stepped) for stepped in (False, True)}
        self.training_info = TrainingInfoSender(envs)

    def _where(self, row: int) -> str:
        return f"env {self.env_name!r} #{row} ({type(self.envs[row - self.first_row]).__name__})"

    def reset(self, seed: int | None) -> None:
        """Reset every env (env at buffer row r with ``seed + r``) and write the first observations."""
        for i, env in enumerate(self.envs):
            row = self.first_row + i
            obs, infos = env.reset(seed=None if seed is None else seed + row)
            check_reset(self._where(row), self.num_agents, env.observation_space, obs, infos)
            self._write_obs(row, obs, self.buf.obs)
            self.buf.active[row] = [info.get("is_active", True) for info in infos]
            if self.with_state:
                self.buf.state[row] = self._state(row, env, check=True)
        self.steps = 0
        self._check_finite("reset")
        self.training_info.send(self.buf.training_info)

    def step(self) -> None:
        """Step every env with its actions from the buffers and write what it returned."""
        buf, check = self.buf, self.checks_left > 0
        self.checks_left -= check
        for i, env in enumerate(self.envs):
            row = self.first_row + i
            result = env.step(to_env_actions(self.action_space, buf.actions[row]))
            if check:
                check_step(self._where(row), self.num_agents, env.observation_space, result)
            obs, rewards, terminated, truncated, infos = result
            self._write_obs(row, obs, buf.obs)
            buf.active[row] = [info.get("is_active", True) for info in infos]
            buf.rewards[row], buf.terminated[row], buf.truncated[row] = rewards, terminated, truncated
            buf.has_final[row] = "final_obs" in infos[0] and (not self.with_state or "final_state" in infos[0])
            if buf.has_final[row]:
                self._write_obs(row, [info["final_obs"] for info in infos], buf.final_obs)
                if self.with_state:
                    buf.final_state[row] = infos[0]["final_state"]
            if self.with_state:
                buf.state[row] = self._state(row, env, check)
        self.steps += 1
        self._check_finite(f"step {self.steps}")
        self.training_info.send(buf.training_info)

    def _check_finite(self, when: str) -> None:
        """Raise ``NonFiniteError`` when a reward, observation or state of these envs' rows is NaN or inf
        (``env_check.check_finite`` on torch views of the rows)."""
        rows = slice(self.first_row, self.first_row + len(self.envs))
        buffers = [(what, torch.from_numpy(arr[rows]), per_agent) for what, arr, per_agent in
                   self.finite_checked[when != "reset"]]  # fmt: skip

        def env_label(e: int) -> str:
            return f"env {self.first_row + e} ({type(self.envs[e]).__name__})"

        check_finite(buffers, when, env_label, env_agent_names(self.envs[0]))

    def _float_buffers(self, stepped: bool) -> list[tuple[str, np.ndarray, bool]]:
        """``(what, buffer, per_agent)`` for every floating-point buffer an env writes at a reset or a step."""
        buf = self.buf
        out = [("reward", buf.rewards, True)] if stepped else []
        out += [(f"observation key {k!r}", v, True) for k, v in buf.obs.items() if v.dtype.kind == "f"]
        if stepped:
            out += [(f"final observation key {k!r}", v, True) for k, v in buf.final_obs.items() if v.dtype.kind == "f"]
        if self.with_state and buf.state.dtype.kind == "f":
            out += [("state", buf.state, False)] + ([("final state", buf.final_state, False)] if stepped else [])
        return out

    def _state(self, row: int, env, check: bool):
        """``env.state()``, checked against ``env.state_space`` when ``check``."""
        state = env.state()
        if check:
            check_state(self._where(row), env.state_space, state)
        return state

    @staticmethod
    def _write_obs(row: int, obs: list[dict], out: dict[str, np.ndarray]) -> None:
        """Copy A agents' obs dicts into row ``row`` of ``out`` (``{key: [E, A, ...]}``)."""
        for k, arr in out.items():
            for agent, agent_obs in enumerate(obs):
                arr[row, agent] = agent_obs[k]

    def close(self) -> None:
        """Close the envs."""
        for env in self.envs:
            env.close()


class TrainingInfoSender:
    """Sends ``{"approx_total_training_steps": n}`` to those of ``envs`` (or the envs they wrap) that implement
    ``TrainingInfoInterface``, when ``n`` changed since the last send; nothing while ``n`` is 0 and nothing was sent
    (evaluation, and training before its first rollout, send nothing, as in Sample Factory)."""

    def __init__(self, envs: list):
        self.targets = [t for t in map(find_training_info_interface, envs) if t is not None]
        self.sent: int | None = None

    def send(self, training_info) -> None:
        """Pass the run's agent-steps so far, ``training_info[0]`` (``StepBuffers.training_info``; read only when an
        env implements the interface, so a device buffer costs no sync otherwise)."""
        if not self.targets:
            return
        agent_steps = int(training_info[0])
        if agent_steps != self.sent and (agent_steps > 0 or self.sent is not None):
            for target in self.targets:
                target.set_training_info({"approx_total_training_steps": agent_steps})
            self.sent = agent_steps


def split_rows(num_envs: int, num_splits: int, split: int) -> slice:
    """The buffer rows of env group ``split`` when E envs are split into ``num_splits`` contiguous groups."""
    size = num_envs // num_splits
    return slice(split * size, (split + 1) * size)


def check_split(num_envs: int, num_splits: int, num_workers: int = 1) -> None:
    """Check that E envs split evenly into groups and, within each group, among the workers.

    Raises:
        ValueError: ``num_envs`` is not a multiple of ``num_splits * num_workers``; the message gives the fix.
    """
    if num_splits < 1 or num_envs % (num_splits * num_workers):
        raise ValueError(
            f"--num_envs={num_envs} does not divide among --num_workers={num_workers} x --worker_num_splits="
            f"{num_splits} env groups: use a multiple of {num_splits * num_workers} (or change either option)"
        )


class InProcessEnvRunner:
    """Steps all envs in this process (``--serial_mode``, and evaluation), one group after the other.

    Args:
        envs: contract envs, one per buffer row.
        with_state: also keep ``env.state()`` in the buffers.
        num_splits: env groups (``--worker_num_splits``); the sampler acts on one while another steps.
        env_name: the registered env name, for error messages.
        step_timeout: seconds an env reset or step of a group may take (``--worker_timeout_sec``); None: no limit.
            An overrunning call is interrupted where it can be (see ``marl_sf.algo.watchdog``).

    Raises:
        ValueError: ``len(envs)`` is not a multiple of ``num_splits``.
        EnvContractError: (reset, step_async) an env broke its contract on its first steps.
        EnvHangError: (reset, step_async) a group's call ran past ``step_timeout`` and was interrupted.
    """

    def __init__(
        self,
        envs: list,
        with_state: bool,
        num_splits: int = 1,
        env_name: str = "env",
        step_timeout: float | None = None,
    ):
        check_split(len(envs), num_splits)
        self.num_splits = num_splits
        self.spec = read_env_spec(envs[0])
        self.buffers = StepBuffers.allocate(self.spec, len(envs), with_state)
        self.tensors = self.buffers.as_tensors()  # the sampler's torch view of the buffers
        self.groups = []
        for g in range(num_splits):
            rows = self.split_rows(g)
            self.groups.append(EnvGroup(envs[rows], self.buffers, rows, with_state, env_name))
        self.watchdog = StepWatchdog(step_timeout) if step_timeout else None
        self.names = [f"env group {g} (env_ids {_ids(self.split_rows(g))})" for g in range(num_splits)]

    def split_rows(self, split: int) -> slice:
        """The buffer rows of env group ``split``."""
        return split_rows(len(self.buffers.active), self.num_splits, split)

    def _guard(self, what: str):
        return self.watchdog.watch(what) if self.watchdog is not None else contextlib.nullcontext()

    def reset(self, seed: int | None) -> StepBuffers:
        """Reset every env; returns the buffers holding the first observations."""
        for g, group in enumerate(self.groups):
            with self._guard(f"{self.names[g]} reset"):
                group.reset(seed)
        return self.buffers

    def step_async(self, split: int, actions: torch.Tensor | np.ndarray) -> None:
        """Step group ``split`` with ``actions [E_g, A, ...]`` (here: right away)."""
        self.tensors.actions[self.split_rows(split)].copy_(torch.as_tensor(actions))
        with self._guard(self.names[split] + " step"):
            self.groups[split].step()

    def wait(self, split: int) -> StepBuffers:
        """The buffers, with group ``split``'s step written."""
        return self.buffers

    def close(self) -> None:
        """Close the envs (and stop the watchdog)."""
        if self.watchdog is not None:
            self.watchdog.close()
        for group in self.groups:
            group.close()


def _ids(rows: slice) -> list[int]:
    return list(range(rows.start, rows.stop))
