"""What training and evaluation share: device choice, env creation, policies and their models."""

from __future__ import annotations

import logging
import random

import numpy as np
import torch

from marl_sf.algo.policy_mapping import PolicySpec, build_policy_specs
from marl_sf.algo.runners import make_env_runner, make_envs, resolve_num_workers
from marl_sf.algo.storage import RolloutStorage
from marl_sf.envs.spec import EnvSpec, read_env_spec
from marl_sf.models.actor_critic import create_actor_critic

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


def probe_env_spec(cfg) -> EnvSpec:
    """The ``EnvSpec`` of ``cfg.env``, read from one env made for it (and closed right after)."""
    env = make_envs(cfg, 1)[0]
    try:
        return read_env_spec(env)
    finally:
        env.close()


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
