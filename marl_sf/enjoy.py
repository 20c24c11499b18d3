"""Evaluation: ``enjoy(cfg)`` and ``python -m marl_sf.enjoy``; writes the per-agent report."""

from __future__ import annotations

import logging
import sys

import numpy as np
import torch

from marl_sf.algo.env_runner import InProcessEnvRunner
from marl_sf.algo.policy_mapping import agent_policies
from marl_sf.algo.sampler import Sampler
from marl_sf.cfg.arguments import experiment_dir
from marl_sf.checkpoint import checkpoint_dir, find_checkpoint, load_checkpoint
from marl_sf.envs.spec import EnvSpec, read_env_spec
from marl_sf.experiment import (
    build_policies,
    build_storages,
    make_envs,
    resolve_device,
    seed_everything,
    uses_env_state,
)
from marl_sf.report import build_report, write_report
from marl_sf.train import parse_args
from marl_sf.utils.io import check_writable

log = logging.getLogger("marl_sf")


def load_policies(cfg, env_spec: EnvSpec, device):
    """Policies for envs of ``env_spec`` with the weights of their ``cfg.load_checkpoint_kind`` checkpoints.

    Raises:
        FileNotFoundError: a policy has no checkpoint (the experiment was never trained).
    """
    specs, models = build_policies(cfg, env_spec, device)
    paths = []
    for spec, model in zip(specs, models, strict=True):
        path = find_checkpoint(experiment_dir(cfg), spec.policy_id, cfg.load_checkpoint_kind)
        if path is None:
            raise FileNotFoundError(
                f"no {cfg.load_checkpoint_kind} checkpoint in {checkpoint_dir(experiment_dir(cfg), spec.policy_id)}: "
                f"train first (python -m marl_sf.train --env={cfg.env} --experiment={cfg.experiment}) "
                "or check --train_dir and --experiment"
            )
        model.load_state_dict(load_checkpoint(path, device)["learner"]["model"])
        model.eval()
        paths.append(path)
    return specs, models, paths


def evaluate(cfg, specs, models, envs, num_episodes: int, deterministic: bool, seed: int):
    """Play until ``num_episodes`` episodes finish; returns per-agent returns and lengths, each ``[N, A]``.

    The first ``num_episodes`` episodes to finish are kept (with E envs in parallel). Closes ``envs``.
    """
    device = next(models[0].parameters()).device
    storages = build_storages(cfg, specs, models, len(envs), 1, device)
    runner = InProcessEnvRunner(envs, uses_env_state(specs), env_name=cfg.env)
    returns, lengths = [], []
    try:
        sampler = Sampler(cfg, runner, specs, models, storages, seed=seed)
        while len(returns) < num_episodes:
            stats = sampler.collect(deterministic=deterministic)
            returns.extend(stats.episode_returns)
            lengths.extend(stats.episode_lengths)
            for st in storages:
                st.carry_last_step()
    finally:
        runner.close()
    return np.stack(returns[:num_episodes]), np.stack(lengths[:num_episodes])


def enjoy(cfg) -> int:
    """Evaluate the experiment's policies for ``cfg.max_num_episodes`` episodes and write the report.

    Writes ``<experiment>/eval/report.json`` and ``report.md`` and prints the table. Returns 0. Checkpoints
    are read as weights only (``marl_sf.checkpoint.load_weights_file``).

    Raises:
        FileNotFoundError: no checkpoint to evaluate.
        UnsafeCheckpointError: a checkpoint would run code when unpickled (nothing in it has run).
        OSError: the report folder cannot be written (checked before any episode is played).
        NonFiniteError: an env returned a NaN or inf.
    """
    seed_everything(cfg.eval_seed)
    torch.set_num_threads(cfg.torch_threads)
    device = resolve_device(cfg)
    envs = make_envs(cfg, max(1, min(cfg.num_envs, cfg.max_num_episodes)))
    env_spec = read_env_spec(envs[0])
    try:
        specs, models, paths = load_policies(cfg, env_spec, device)
        check_writable(experiment_dir(cfg) / "eval", "the evaluation report")
    except Exception:
        for env in envs:
            env.close()
        raise
    returns, lengths = evaluate(cfg, specs, models, envs, cfg.max_num_episodes, cfg.eval_deterministic, cfg.eval_seed)
    agent_policy = agent_policies(specs)
    meta = {
        "env": cfg.env,
        "experiment": cfg.experiment,
        "checkpoint": ", ".join(str(p) for p in paths),
        "settings": {
            "max_num_episodes": cfg.max_num_episodes,
            "deterministic": cfg.eval_deterministic,
            "load_checkpoint_kind": cfg.load_checkpoint_kind,
            "eval_seed": cfg.eval_seed,
            "critic_input": cfg.critic_input,
            "actor_critic_share_weights": cfg.actor_critic_share_weights,
            "policy_mapping": cfg.policy_mapping,
        },
    }
    report = build_report(list(env_spec.agent_names), agent_policy, returns, lengths, meta)
    print(write_report(report, experiment_dir(cfg) / "eval"))
    return 0


def main() -> int:
    """``python -m marl_sf.enjoy``."""
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(message)s", datefmt="%H:%M:%S")
    return enjoy(parse_args(evaluation=True))


if __name__ == "__main__":
    sys.exit(main())
