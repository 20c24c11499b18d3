"""How a run is assembled (``build_run``), the same for training, sampler actors, evaluation and tournaments:
seeds, device, the env's spec, policies and their models, rollout storages, and the sampler."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

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


@dataclass
class Run:
    """What training, a sampler actor, evaluation and tournaments assemble the same way (``build_run``).

    Attributes:
        device: where the models and storages live.
        env_spec: the env's shape.
        specs: one ``PolicySpec`` per policy.
        models: one actor-critic per policy, on ``device``.
        storages: one ``RolloutStorage`` per policy (empty when none was asked for).
    """

    device: torch.device
    env_spec: EnvSpec
    specs: list[PolicySpec]
    models: list[torch.nn.Module]
    storages: list[RolloutStorage]


def build_run(cfg, seed: int | None, env_spec: EnvSpec | None = None, num_envs: int = 0, rollout: int = 1) -> Run:
    """Assemble a run: seed Python, NumPy and torch with ``seed`` (None: leave them), use ``--torch_threads``,
    choose the device, read the env's spec (``probe_env_spec`` unless given), build the policies and, for
    ``num_envs > 0``, one rollout storage of ``rollout`` steps per policy.

    Raises:
        ValueError: the policies do not fit the env (``build_policy_specs``, ``create_actor_critic``).
    """
    if seed is not None:
        seed_everything(seed)
    torch.set_num_threads(cfg.torch_threads)
    device = resolve_device(cfg)
    env_spec = env_spec if env_spec is not None else probe_env_spec(cfg)
    specs, models = build_policies(cfg, env_spec, device)
    storages = build_storages(cfg, specs, models, num_envs, rollout, device) if num_envs > 0 else []
    return Run(device, env_spec, specs, models, storages)


def make_sampler(cfg, specs, models, storages, env_spec: EnvSpec, seed: int | None, opponents=None):
    """The ``Sampler`` stepping ``cfg``'s env runner (``make_env_runner`` with ``resolve_num_workers``) into
    ``storages`` (its runner: ``Sampler.runner``); the runner is closed again (no env worker left) when the sampler
    fails to start."""
    from marl_sf.algo.sampler import Sampler

    num_workers = resolve_num_workers(cfg, env_spec)
    log.info("env workers: %d (%s)", num_workers, "envs in the main process" if num_workers == 0 else "processes")
    runner = make_env_runner(cfg, specs, cfg.num_envs, env_spec, num_workers)
    try:
        return Sampler(cfg, runner, specs, models, storages, seed, opponents)
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
