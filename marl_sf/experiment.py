"""What training and evaluation share: device choice, env creation, policies and their models."""

from __future__ import annotations

import logging
import os
import random

import numpy as np
import torch

from marl_sf.algo.env_factory import make_env
from marl_sf.algo.env_runner import InProcessEnvRunner
from marl_sf.algo.env_workers import ProcessEnvRunner
from marl_sf.algo.policy_mapping import PolicySpec, build_policy_specs
from marl_sf.algo.storage import RolloutStorage
from marl_sf.algo.vector_runner import VectorEnvRunner
from marl_sf.envs.spec import EnvSpec, read_env_spec
from marl_sf.envs.vector import is_vector_env
from marl_sf.models.actor_critic import create_actor_critic
from marl_sf.utils.attr_dict import AttrDict

log = logging.getLogger("marl_sf")


def resolve_device(cfg) -> torch.device:
    """The current CUDA device for ``--device=gpu`` when CUDA is available (else cpu, with a warning; a learner of
    ``--num_learners`` has its own, see ``marl_sf.launch``); ``cpu`` otherwise."""
    if cfg.device == "gpu":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        log.warning("--device=gpu but CUDA is not available: running on the CPU")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_env_by_id(cfg, env_id: int, render_mode: str | None = None, vector_num_envs: int = 1):
    """Env ``env_id`` of ``cfg.env`` (``make_env``; its ``env_config`` has ``env_id``, ``vector_index = env_id`` and
    ``vector_num_envs``, the envs a vectorized env should step, which other makers ignore)."""
    env_config = AttrDict(worker_index=0, vector_index=env_id, env_id=env_id, vector_num_envs=vector_num_envs)
    return make_env(cfg, env_config=env_config, render_mode=render_mode)


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


def make_eval_envs(cfg, num_envs: int, render_mode: str | None = None):
    """``num_envs`` envs of ``cfg.env`` for evaluation in this process: a list of contract envs (the first one
    rendering with ``render_mode``), or one vectorized env stepping them all."""
    first = make_env_by_id(cfg, 0, render_mode, vector_num_envs=num_envs)
    if is_vector_env(first):
        return first
    return [first] + [make_env_by_id(cfg, i) for i in range(1, num_envs)]


def in_process_runner(envs, with_state: bool, env_name: str, num_splits: int = 1, step_timeout=None):
    """The runner for envs stepped in this process: ``VectorEnvRunner`` for a vectorized env, else
    ``InProcessEnvRunner`` over the list."""
    if is_vector_env(envs):
        return VectorEnvRunner(envs, with_state, env_name)
    return InProcessEnvRunner(envs, with_state, num_splits, env_name, step_timeout)


def make_envs(cfg, num_envs: int, render_mode: str | None = None) -> list:
    """``num_envs`` contract envs of ``cfg.env``; env i gets ``env_config`` with ``env_id = i``."""
    return [make_env_by_id(cfg, i, render_mode) for i in range(num_envs)]


def probe_env_spec(cfg) -> EnvSpec:
    """The ``EnvSpec`` of ``cfg.env``, read from one env made for it (and closed right after)."""
    env = make_envs(cfg, 1)[0]
    try:
        return read_env_spec(env)
    finally:
        env.close()


def uses_env_state(specs: list[PolicySpec]) -> bool:
    """Whether the critic needs ``env.state()`` each step (``CriticInput.needs_env_state``)."""
    return specs[0].critic.needs_env_state


def resolve_num_workers(cfg, env_spec: EnvSpec | None = None) -> int:
    """Env worker processes to run: 0 (envs in the main process) for a vectorized env and with ``--serial_mode``;
    ``--num_workers``
    when it is 0 or more; by default (-1) the machine's core count, lowered to the largest divisor of the
    envs per group (``--num_envs / --worker_num_splits``); 0 on a single core, where a worker process only
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


def make_env_runner(cfg, specs: list[PolicySpec], num_envs: int, env_spec: EnvSpec, num_workers: int):
    """The env runner: a vectorized env's ``VectorEnvRunner`` (one env group); all envs in this process
    (``num_workers == 0``), else ``num_workers`` worker processes with shared buffers shaped by ``env_spec``, either
    way split into ``--worker_num_splits`` env groups."""
    splits = cfg.worker_num_splits
    if env_spec.vectorized:
        return VectorEnvRunner(make_vector_env(cfg, num_envs), uses_env_state(specs), cfg.env)
    if num_workers == 0:
        envs = make_envs(cfg, num_envs)
        return InProcessEnvRunner(envs, uses_env_state(specs), splits, cfg.env, cfg.worker_timeout_sec)
    return ProcessEnvRunner(cfg, env_spec, num_envs, num_workers, uses_env_state(specs), splits)


def make_sampler(cfg, specs, models, storages, env_spec: EnvSpec, seed: int | None, opponents=None):
    """The env runner of ``cfg`` (``make_env_runner`` with ``resolve_num_workers``) and the ``Sampler`` stepping it
    into ``storages``; the runner is closed again (no env worker left) when the sampler fails to start."""
    from marl_sf.algo.sampler import Sampler

    num_workers = resolve_num_workers(cfg, env_spec)
    log.info("env workers: %d (%s)", num_workers, "envs in the main process" if num_workers == 0 else "processes")
    runner = make_env_runner(cfg, specs, cfg.num_envs, env_spec, num_workers)
    try:
        return runner, Sampler(cfg, runner, specs, models, storages, seed, opponents)
    except BaseException:
        runner.close()
        raise


def build_policies(cfg, env_spec: EnvSpec, device: torch.device) -> tuple[list[PolicySpec], list[torch.nn.Module]]:
    """The policy specs of ``cfg.policy_mapping`` on an env of ``env_spec`` and one actor-critic per policy, on
    ``device``."""
    specs = build_policy_specs(cfg, env_spec)
    models = [create_actor_critic(cfg, spec.obs_space, spec.action_space).to(device) for spec in specs]
    return specs, models


def build_storages(cfg, specs, models, num_envs: int, rollout: int, device) -> list[RolloutStorage]:
    """One rollout storage per policy."""
    return [
        RolloutStorage(spec, rollout, num_envs, model.rnn_state_size(), device)
        for spec, model in zip(specs, models, strict=True)
    ]
