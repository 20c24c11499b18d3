"""Throughput of one registered env: raw env vs marl_sf sampling vs marl_sf training, measured in one run.

    python benchmarks/throughput.py --env=mpe_simple_spread --num_workers=2 --bench_seconds=30
    python benchmarks/throughput.py --env=vmas_simple_spread --num_envs=1024 --vmas_continuous_actions=False

Prints agent-steps/s (one agent acting once is one step) for (a) the raw env stepping random actions in as
many processes as marl_sf uses for envs (a vectorized env: the raw simulator stepping ``--num_envs`` envs on
its device, see ``raw_vector_env_rate``), (b) marl_sf sampling only (inference, no learning), (c) marl_sf
training, and the ratios b/a and c/a. Any marl_sf option (``--num_envs``, ``--critic_input``...) applies.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import tempfile
import time

import gymnasium as gym
import torch

from marl_sf.envs.registry import create_env, registry_entry
from marl_sf.envs.spec import read_env_spec
from marl_sf.experiment import make_vector_env, probe_env_spec, resolve_num_workers
from marl_sf.train import Trainer, parse_args


def _raw_env_steps(cfg, seconds: float, seed: int) -> int:
    """Agent-steps one process makes in ``seconds`` on the env as registered (before marl_sf's adapter)."""
    env = registry_entry(cfg.env).make_env_func(cfg.env, cfg=cfg, env_config=None)
    is_parallel = hasattr(env, "possible_agents")
    steps, deadline = 0, time.time() + seconds
    if is_parallel:
        env.reset(seed=seed)
        while time.time() < deadline:
            if not env.agents:
                env.reset()
            steps += len(env.agents)
            env.step({a: env.action_space(a).sample() for a in env.agents})
    else:  # a contract env (lists, auto-reset)
        env = create_env(cfg.env, cfg=cfg)
        env.reset(seed=seed)
        while time.time() < deadline:
            env.step([env.action_space.sample() for _ in range(env.num_agents)])
            steps += env.num_agents
    env.close()
    return steps


def raw_vector_env_rate(cfg, seconds: float) -> float:
    """(a) for a vectorized env: agent-steps/s of the raw env stepping ``--num_envs`` envs with random actions on
    its device, in this process. For VMAS that is ``vmas`` itself, without marl_sf's adapter: the finished envs are
    reset in one call when all are done, else one ``reset_at`` each (as a VMAS user would)."""
    env = make_vector_env(cfg, cfg.num_envs)
    raw = env  # unwrap marl_sf's wrappers (episode progress, VmasEnv) down to the vmas env, if there is one
    while not type(raw).__module__.startswith("vmas") and hasattr(raw, "env"):
        raw = raw.env
    is_vmas = type(raw).__module__.startswith("vmas")
    if not is_vmas:
        raw = env
    spec = read_env_spec(env)
    device = getattr(env, "device", torch.device("cpu"))

    def random_actions():
        if isinstance(spec.action_space, gym.spaces.Discrete):
            per_agent = [torch.randint(0, int(s.n), (cfg.num_envs,), device=device) for s in spec.agent_action_spaces]
        else:
            per_agent = [torch.rand(cfg.num_envs, s.shape[0], device=device) * 2 - 1 for s in spec.agent_action_spaces]
        return per_agent if is_vmas else torch.stack(per_agent, dim=1)

    env.reset(seed=0)
    steps, deadline = 0, time.time() + seconds
    while time.time() < deadline:
        result = raw.step(random_actions())
        steps += cfg.num_envs * spec.num_agents
        if is_vmas:
            done = result[2] | result[3]
            if bool(done.all()):
                raw.reset()
            else:
                for i in torch.nonzero(done).flatten().tolist():
                    raw.reset_at(i, return_observations=False)
    if device.type == "cuda":
        torch.cuda.synchronize()
    env.close()
    return steps / seconds


def raw_env_rate(cfg, processes: int, seconds: float) -> float:
    """(a) agent-steps/s of ``processes`` processes stepping the raw env with random actions."""
    with mp.get_context("fork").Pool(processes) as pool:
        steps = pool.starmap(_raw_env_steps, [(cfg, seconds, i) for i in range(processes)])
    return sum(steps) / seconds


def sampling_rate(cfg, seconds: float) -> float:
    """(b) agent-steps/s of marl_sf's sampler alone: env stepping plus batched inference, no learning."""
    trainer = Trainer(cfg)
    try:
        trainer.sampler.collect()  # warm-up
        steps, start = 0, time.time()
        while time.time() - start < seconds:
            steps += trainer.sampler.collect().agent_steps
            for st in trainer.storages:
                st.carry_last_step()
        return steps / (time.time() - start)
    finally:
        trainer.close()


def training_rate(cfg, seconds: float) -> float:
    """(c) agent-steps/s of a full training run of ``seconds``."""
    cfg.train_for_seconds, cfg.train_for_env_steps = seconds, 10**12
    trainer = Trainer(cfg)
    start = time.time()
    trainer.train()
    return trainer.agent_steps / (time.time() - start)


def main() -> int:
    """Measure (a), (b), (c) and print the table."""
    argv = sys.argv[1:]
    seconds = 20.0
    for arg in list(argv):
        if arg.startswith("--bench_seconds="):
            seconds = float(arg.split("=", 1)[1])
            argv.remove(arg)
    with tempfile.TemporaryDirectory() as train_dir:
        base = [f"--train_dir={train_dir}", "--progress_bar=False", "--restart_behavior=overwrite", *argv]
        cfg = parse_args([*base, "--experiment=bench_sampling"])
        vectorized = probe_env_spec(cfg).vectorized
        processes = max(1, resolve_num_workers(cfg)) if not vectorized else 1
        raw = raw_vector_env_rate(cfg, seconds) if vectorized else raw_env_rate(cfg, processes, seconds)
        sampling = sampling_rate(cfg, seconds)
        training = training_rate(parse_args([*base, "--experiment=bench_training"]), seconds)
    where = "one vectorized env in the main process" if vectorized else f"{processes} env process(es)"
    print(f"env {cfg.env}: {where}, num_envs={cfg.num_envs}, critic_input={cfg.critic_input}")
    print("| measurement | agent-steps/s | ratio to raw env |")
    print("|---|---|---|")
    print(f"| (a) raw env, random actions | {raw:,.0f} | 1.00 |")
    print(f"| (b) marl_sf sampling only | {sampling:,.0f} | {sampling / raw:.2f} |")
    print(f"| (c) marl_sf training | {training:,.0f} | {training / raw:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
