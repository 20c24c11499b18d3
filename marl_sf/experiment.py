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
from marl_sf.envs.spec import EnvSpec, read_env_spec
from marl_sf.models.actor_critic import create_actor_critic
from marl_sf.utils.attr_dict import AttrDict

log = logging.getLogger("marl_sf")


def resolve_device(cfg) -> torch.device:
    """``cuda`` for ``--device=gpu`` when CUDA is available (else cpu, with a warning); ``cpu`` otherwise."""
    if cfg.device == "gpu":
        if torch.cuda.is_available():
            return torch.device("cuda")
        log.warning("--device=gpu but CUDA is not available: running on the CPU")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_env_by_id(cfg, env_id: int, render_mode: str | None = None):
    """Env ``env_id`` of ``cfg.env`` (``make_env``; its ``env_config`` has ``env_id``, ``vector_index = env_id``)."""
    return make_env(
        cfg, env_config=AttrDict(worker_index=0, vector_index=env_id, env_id=env_id), render_mode=render_mode
    )


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


def resolve_num_workers(cfg) -> int:
    """Env worker processes to run: 0 (envs in the main process) with ``--serial_mode``; ``--num_workers``
    when it is 0 or more; by default (-1) the machine's core count, lowered to the largest divisor of the
    envs per group (``--num_envs / --worker_num_splits``); 0 on a single core, where a worker process only
    adds overhead."""
    if cfg.serial_mode:
        return 0
    if cfg.num_workers >= 0:
        return cfg.num_workers
    cores = os.cpu_count() or 1
    if cores == 1:
        return 0
    group = max(cfg.num_envs // max(cfg.worker_num_splits, 1), 1)  # envs per group, shared among the workers
    return max(w for w in range(1, min(cores, group) + 1) if group % w == 0)


def make_env_runner(cfg, specs: list[PolicySpec], num_envs: int, env_spec: EnvSpec, num_workers: int):
    """The env runner: all envs in this process (``num_workers == 0``), else ``num_workers`` worker processes
    with shared buffers shaped by ``env_spec``; either way split into ``--worker_num_splits`` env groups."""
    splits = cfg.worker_num_splits
    if num_workers == 0:
        envs = make_envs(cfg, num_envs)
        return InProcessEnvRunner(envs, uses_env_state(specs), splits, cfg.env, cfg.worker_timeout_sec)
    return ProcessEnvRunner(cfg, env_spec, num_envs, num_workers, uses_env_state(specs), splits)


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
