"""The env-runner layer: the one interface the sampler steps envs through, and the one place that builds runners.

Every runner (``InProcessEnvRunner``: contract envs in this process; ``ProcessEnvRunner``: contract envs in worker
processes over shared memory; ``VectorEnvRunner``: one vectorized env on its device) implements ``EnvRunner``, in
the shape of PufferLib's ``vector.py`` backends (reset, send, receive, close, spaces). Whether an env is vectorized
is decided here and nowhere above: evaluation and matches get a ``LocalEnvs`` whatever the env.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Protocol

import torch

from marl_sf.algo.env_factory import make_env
from marl_sf.algo.env_runner import InProcessEnvRunner, StepBuffers
from marl_sf.algo.env_workers import ProcessEnvRunner
from marl_sf.algo.policy_mapping import PolicySpec
from marl_sf.algo.vector_runner import VectorEnvRunner
from marl_sf.envs.spec import EnvSpec, read_env_spec
from marl_sf.envs.vector import is_vector_env
from marl_sf.utils.attr_dict import AttrDict


class EnvRunner(Protocol):
    """What the sampler needs from whatever steps the E envs.

    Attributes:
        spec: the envs' ``EnvSpec`` (transport spaces, agents, whether vectorized).
        tensors: the step results as torch tensors ``[E, A, ...]`` (``StepBuffers``): shared-memory CPU tensors,
            or the vectorized env's own tensors on its device. The sampler reads a field after ``wait`` and before
            the next ``step_async`` of the same group; a runner may point the fields at new tensors each step
            (``VectorEnvRunner``), so the sampler never keeps a field between steps.
        num_splits: env groups of contiguous rows; one is stepped while the sampler acts on another.
    """

    spec: EnvSpec
    tensors: StepBuffers
    num_splits: int

    def split_rows(self, split: int) -> slice:
        """The rows of env group ``split``."""

    def reset(self, seed: int | None) -> StepBuffers:
        """Reset every env (env ``e`` with ``seed + e``; None: unseeded); ``tensors`` then hold the first
        observations."""

    def step_async(self, split: int, actions: torch.Tensor) -> None:
        """Start stepping group ``split`` with ``actions [E_g, A, ...]`` (stored layout)."""

    def wait(self, split: int) -> StepBuffers:
        """Wait until group ``split``'s step is written to ``tensors``."""

    def close(self) -> None:
        """Stop the envs (and any worker process)."""


def make_env_by_id(cfg, env_id: int, render_mode: str | None = None, vector_num_envs: int = 1):
    """Env ``env_id`` of ``cfg.env`` (``make_env``; its ``env_config`` has ``env_id``, ``vector_index = env_id`` and
    ``vector_num_envs``, the envs a vectorized env should step, which other makers ignore)."""
    env_config = AttrDict(worker_index=0, vector_index=env_id, env_id=env_id, vector_num_envs=vector_num_envs)
    return make_env(cfg, env_config=env_config, render_mode=render_mode)


def make_envs(cfg, num_envs: int, render_mode: str | None = None) -> list:
    """``num_envs`` contract envs of ``cfg.env``; env i gets ``env_config`` with ``env_id = i``."""
    return [make_env_by_id(cfg, i, render_mode) for i in range(num_envs)]


def make_vector_env(cfg, num_envs: int, render_mode: str | None = None):
    """``cfg.env`` as one vectorized env stepping ``num_envs`` envs (``marl_sf.envs.vector``).

    Raises:
        ValueError: the env is not vectorized, or it steps another number of envs than asked for.
    """
    env = make_env_by_id(cfg, 0, render_mode, vector_num_envs=num_envs)
    if not is_vector_env(env) or env.num_envs != num_envs:
        got = f"{env.num_envs} envs" if is_vector_env(env) else "a per-env (non-vectorized) env"
        env.close()
        raise ValueError(
            f"the maker of {cfg.env!r} returned {got} for env_config.vector_num_envs={num_envs}: a vectorized env's "
            "maker must build env_config.vector_num_envs envs (see marl_sf.envs.vector)"
        )
    return env


class LocalEnvs:
    """E envs of one env name stepped in this process (evaluation, matches): a list of contract envs or one
    vectorized env, behind one interface.

    Args:
        envs: a list of contract envs, or one vectorized env.
        env_name: the registered env name, for error messages.
    """

    def __init__(self, envs: list | Any, env_name: str):
        self.vectorized = is_vector_env(envs)
        self.envs, self.env_name = envs, env_name
        self.spec: EnvSpec = read_env_spec(envs if self.vectorized else envs[0])

    def check_recordable(self, why: str) -> None:
        """Check that the first env can be wrapped (recorded).

        Raises:
            ValueError: the envs are one vectorized env, which has no first env of its own (``why`` names the
                option that asked).
        """
        if self.vectorized:
            raise ValueError(f"{why}: {self.env_name!r} is a vectorized env, which marl_sf does not record yet")

    def wrap_first(self, wrapper: Callable[[Any], Any], why: str):
        """Replace the first env by ``wrapper(env)`` (a recorder, say) and return the wrapped env.

        Raises:
            ValueError: see ``check_recordable``.
        """
        self.check_recordable(why)
        self.envs[0] = wrapper(self.envs[0])
        return self.envs[0]

    def runner(self, with_state: bool, num_splits: int = 1, step_timeout: float | None = None) -> EnvRunner:
        """The runner that steps these envs (it closes them when closed)."""
        if self.vectorized:
            return VectorEnvRunner(self.envs, with_state, self.env_name)
        return InProcessEnvRunner(self.envs, with_state, num_splits, self.env_name, step_timeout)

    def close(self) -> None:
        """Close every env (for envs no runner was built for)."""
        for env in [self.envs] if self.vectorized else self.envs:
            env.close()


def make_local_envs(cfg, num_envs: int, render_mode: str | None = None) -> LocalEnvs:
    """``num_envs`` envs of ``cfg.env`` for this process: a list of contract envs (the first one rendering with
    ``render_mode``), or one vectorized env stepping them all."""
    first = make_env_by_id(cfg, 0, render_mode, vector_num_envs=num_envs)
    if is_vector_env(first):
        return LocalEnvs(first, cfg.env)
    return LocalEnvs([first] + [make_env_by_id(cfg, i) for i in range(1, num_envs)], cfg.env)


def uses_env_state(specs: list[PolicySpec]) -> bool:
    """Whether the critic needs ``env.state()`` each step (``CriticInput.needs_env_state``)."""
    return specs[0].critic.needs_env_state


def resolve_num_workers(cfg, env_spec: EnvSpec | None = None) -> int:
    """Env worker processes to run: 0 (envs in the main process) for a vectorized env and with ``--serial_mode``;
    ``--num_workers`` when it is 0 or more; by default (-1) the machine's core count, lowered to the largest divisor
    of the envs per group (``--num_envs / --worker_num_splits``); 0 on a single core, where a worker process only
    adds overhead."""
    if cfg.serial_mode or (env_spec is not None and env_spec.vectorized):
        return 0
    if cfg.num_workers >= 0:
        return cfg.num_workers
    cores = os.cpu_count() or 1
    if cores == 1:
        return 0
    group = max(cfg.num_envs // max(cfg.worker_num_splits, 1), 1)  # envs per group, shared among the workers
    return max(w for w in range(1, min(cores, group) + 1) if group % w == 0)


def make_env_runner(cfg, specs: list[PolicySpec], num_envs: int, env_spec: EnvSpec, num_workers: int) -> EnvRunner:
    """The training runner: a vectorized env's ``VectorEnvRunner`` (one env group); all envs in this process
    (``num_workers == 0``), else ``num_workers`` worker processes with shared buffers shaped by ``env_spec``, either
    way split into ``--worker_num_splits`` env groups."""
    with_state = uses_env_state(specs)
    if env_spec.vectorized:
        return VectorEnvRunner(make_vector_env(cfg, num_envs), with_state, cfg.env)
    if num_workers == 0:
        envs = LocalEnvs(make_envs(cfg, num_envs), cfg.env)
        return envs.runner(with_state, cfg.worker_num_splits, cfg.worker_timeout_sec)
    return ProcessEnvRunner(cfg, env_spec, num_envs, num_workers, with_state, cfg.worker_num_splits)
