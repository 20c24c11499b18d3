"""Throughput of one registered env: raw env vs marl_sf sampling vs marl_sf training, measured in one run.

    python benchmarks/throughput.py --env=mpe_simple_spread --num_workers=2 --bench_seconds=30
    python benchmarks/throughput.py --env=vmas_simple_spread --num_envs=1024 --vmas_continuous_actions=False

Prints agent-steps/s (one agent acting once is one step) for (a) the raw env stepping random actions in as
many processes as marl_sf uses for envs (a vectorized env: the raw simulator stepping ``--num_envs`` envs on
its device, see ``RawVectorEnv``), (b) marl_sf sampling only (inference, no learning), (c) marl_sf
training, and the ratios b/a and c/a. (a) and (b) alternate in ``--bench_rounds`` rounds (default 5) that share
``--bench_seconds``, so that a slow stretch of a noisy machine falls on both. Any marl_sf option (``--num_envs``,
``--critic_input``...) applies.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import tempfile
import time

import gymnasium as gym
import torch

from marl_sf.algo.runners import make_vector_env, resolve_num_workers
from marl_sf.envs.registry import create_env, registry_entry
from marl_sf.envs.spec import read_env_spec
from marl_sf.experiment import probe_env_spec
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


class RawVectorEnv:
    """(a) for a vectorized env: the raw env stepping ``--num_envs`` envs with random actions on its device, in this
    process. For VMAS that is ``vmas`` itself, without marl_sf's adapter: the finished envs are reset in one call
    when all are done, else one ``reset_at`` each (as a VMAS user would)."""

    def __init__(self, cfg):
        self.cfg, self.env = cfg, make_vector_env(cfg, cfg.num_envs)
        raw = self.env  # unwrap marl_sf's wrappers (episode progress, VmasEnv) down to the vmas env, if there is one
        while not type(raw).__module__.startswith("vmas") and hasattr(raw, "env"):
            raw = raw.env
        self.is_vmas = type(raw).__module__.startswith("vmas")
        self.raw = raw if self.is_vmas else self.env
        self.spec = read_env_spec(self.env)
        self.device = getattr(self.env, "device", torch.device("cpu"))
        self.env.reset(seed=0)

    def random_actions(self):
        """Per-agent ``[E, ...]`` tensors (VMAS's layout), else ``[E, A, ...]``."""
        n, spaces = self.cfg.num_envs, self.spec.agent_action_spaces
        if isinstance(self.spec.action_space, gym.spaces.Discrete):
            per_agent = [torch.randint(0, int(s.n), (n,), device=self.device) for s in spaces]
        else:
            per_agent = [torch.rand(n, s.shape[0], device=self.device) * 2 - 1 for s in spaces]
        return per_agent if self.is_vmas else torch.stack(per_agent, dim=1)

    def steps_for(self, seconds: float) -> tuple[int, float]:
        """Step for about ``seconds``; returns (agent-steps, elapsed seconds)."""
        steps, start = 0, time.time()
        while time.time() - start < seconds:
            result = self.raw.step(self.random_actions())
            steps += self.cfg.num_envs * self.spec.num_agents
            if self.is_vmas:
                done = result[2] | result[3]
                if bool(done.all()):
                    self.raw.reset()
                else:
                    for i in torch.nonzero(done).flatten().tolist():
                        self.raw.reset_at(i, return_observations=False)
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        return steps, time.time() - start

    def close(self) -> None:
        self.env.close()


class RawEnvProcesses:
    """(a) ``processes`` processes stepping the raw env with random actions."""

    def __init__(self, cfg, processes: int):
        self.cfg, self.processes = cfg, processes

    def steps_for(self, seconds: float) -> tuple[int, float]:
        """Step for ``seconds`` in each process; returns (agent-steps of all, ``seconds``)."""
        with mp.get_context("fork").Pool(self.processes) as pool:
            steps = pool.starmap(_raw_env_steps, [(self.cfg, seconds, i) for i in range(self.processes)])
        return sum(steps), seconds

    def close(self) -> None:
        pass


class SamplerOnly:
    """(b) marl_sf's sampler alone: env stepping plus batched inference, no learning."""

    def __init__(self, cfg):
        self.trainer = Trainer(cfg)
        self.trainer.sampler.collect()  # warm-up

    def steps_for(self, seconds: float) -> tuple[int, float]:
        """Collect whole rollouts for at least ``seconds``; returns (agent-steps, elapsed seconds)."""
        steps, start = 0, time.time()
        while time.time() - start < seconds:
            steps += self.trainer.sampler.collect().agent_steps
            for st in self.trainer.storages:
                st.carry_last_step()
        return steps, time.time() - start

    def close(self) -> None:
        self.trainer.close()


def interleaved_rates(meters: list, seconds: float, rounds: int) -> list[float]:
    """Agent-steps/s of each meter over ``rounds`` alternating rounds of ``seconds / rounds`` each (so that a slow
    stretch of a noisy machine falls on every meter alike)."""
    steps, elapsed = [0] * len(meters), [0.0] * len(meters)
    for _ in range(rounds):
        for i, meter in enumerate(meters):
            n, t = meter.steps_for(seconds / rounds)
            steps[i], elapsed[i] = steps[i] + n, elapsed[i] + t
    return [n / t for n, t in zip(steps, elapsed, strict=True)]


def measure(meter, seconds: float) -> float:
    """Agent-steps/s of one meter over ``seconds``, then closes it."""
    try:
        return interleaved_rates([meter], seconds, 1)[0]
    finally:
        meter.close()


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
    seconds, rounds = 20.0, 5
    for arg in list(argv):
        if arg.startswith("--bench_seconds="):
            seconds = float(arg.split("=", 1)[1])
            argv.remove(arg)
        elif arg.startswith("--bench_rounds="):
            rounds = int(arg.split("=", 1)[1])
            argv.remove(arg)
    with tempfile.TemporaryDirectory() as train_dir:
        base = [f"--train_dir={train_dir}", "--progress_bar=False", "--restart_behavior=overwrite", *argv]
        cfg = parse_args([*base, "--experiment=bench_sampling"])
        vectorized = probe_env_spec(cfg).vectorized
        processes = max(1, resolve_num_workers(cfg)) if not vectorized else 1
        meters = [RawVectorEnv(cfg) if vectorized else RawEnvProcesses(cfg, processes), SamplerOnly(cfg)]
        try:
            raw, sampling = interleaved_rates(meters, seconds, rounds)
        finally:
            for meter in meters:
                meter.close()
        training = training_rate(parse_args([*base, "--experiment=bench_training"]), seconds)
    where = "one vectorized env in the main process" if vectorized else f"{processes} env process(es)"
    print(
        f"env {cfg.env}: {where}, num_envs={cfg.num_envs}, critic_input={cfg.critic_input}; (a) and (b) in "
        f"{rounds} alternating rounds of {seconds / rounds:.1f} s each"
    )
    print("| measurement | agent-steps/s | ratio to raw env |")
    print("|---|---|---|")
    print(f"| (a) raw env, random actions | {raw:,.0f} | 1.00 |")
    print(f"| (b) marl_sf sampling only | {sampling:,.0f} | {sampling / raw:.2f} |")
    print(f"| (c) marl_sf training | {training:,.0f} | {training / raw:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
