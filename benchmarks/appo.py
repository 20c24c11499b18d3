"""APPO (``--async_rl``) against synchronous PPO, the raw env and Sample Factory 2.1.1, in one run.

    python benchmarks/appo.py --env=mpe_simple_spread --num_workers=2 --bench_seconds=60 --sf_steps=600000
    python benchmarks/appo.py --env=mpe_simple_spread --num_workers=2 --learning_steps=400000 --seeds=3

Throughput (``--bench_seconds`` > 0): agent-steps/s of (a) the raw env stepping random actions in as many processes
as marl_sf's env workers, (b) marl_sf training with ``--async_rl=False`` and (c) with ``--async_rl=True``, each a full
training run of ``--bench_seconds / --bench_rounds`` seconds in ``--bench_rounds`` alternating rounds; and (d) Sample
Factory 2.1.1's APPO on the same task (``../shared/peers/run_sf.sh``, ``--sf_steps`` agent-steps, wall time of its
training command) when ``--sf_steps`` > 0 and its venv exists.

Learning (``--learning_steps`` > 0): for ``--seeds`` seeds each, the mean per-agent episode return of the last 100
training episodes after ``--learning_steps`` agent-steps of: sync, async (lag 1), async with ``--max_policy_lag=8``
with V-trace off and on; mean and 95% t-interval over seeds. Any other marl_sf option applies to every run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import RawEnvProcesses, interleaved_rates  # noqa: E402

from marl_sf.algo.runners import resolve_num_workers  # noqa: E402
from marl_sf.train import Trainer, parse_args  # noqa: E402

PEERS = Path(__file__).resolve().parents[2] / "shared" / "peers"
T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571}  # Student's t, two-sided 95%, by degrees of freedom
VARIANTS = {
    "sync (--async_rl=False)": ["--async_rl=False"],
    "async, lag 1": ["--async_rl=True", "--max_policy_lag=1"],
    "async, lag 8, V-trace off": ["--async_rl=True", "--max_policy_lag=8", "--with_vtrace=False"],
    "async, lag 8, V-trace on": ["--async_rl=True", "--max_policy_lag=8", "--with_vtrace=True"],
}


class TrainingRun:
    """A meter for ``interleaved_rates``: a fresh training run of the given seconds each round."""

    def __init__(self, argv: list[str]):
        self.argv, self.round = argv, 0

    def steps_for(self, seconds: float) -> tuple[int, float]:
        self.round += 1
        cfg = parse_args([*self.argv, f"--experiment=bench_{abs(hash(tuple(self.argv)))}_{self.round}"])
        cfg.train_for_seconds, cfg.train_for_env_steps = seconds, 10**12
        trainer = Trainer(cfg)
        trainer.train()
        return trainer.agent_steps, seconds


def sample_factory_rate(steps: int) -> float | None:
    """Agent-steps/s of Sample Factory 2.1.1 APPO on simple_spread (``run_sf.sh``), or None without its venv."""
    if not (Path(os.environ.get("PEERS_ROOT", "/tmp/peers")) / "venv_sf").exists():
        print("(no Sample Factory venv: bash ../shared/peers/setup_venvs.sh sf)")
        return None
    out = subprocess.run(["bash", str(PEERS / "run_sf.sh"), "--parallel", str(steps)], env={**os.environ,
                         "SKIP_EVAL": "1"}, capture_output=True, text=True, check=True).stdout  # fmt: skip
    wall = float(re.search(r"train_wall_s=([\d.]+)", out).group(1))
    return steps / wall


def interval(values: list[float]) -> str:
    """``mean [lo, hi]`` with a 95% t-interval over the values."""
    v = np.asarray(values, dtype=float)
    half = T_975.get(len(v) - 1, 1.96) * v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else float("nan")
    return f"{v.mean():.2f} [{v.mean() - half:.2f}, {v.mean() + half:.2f}]"


def final_return(argv: list[str]) -> float:
    """Mean per-agent episode return of the last 100 training episodes of one run."""
    trainer = Trainer(parse_args(argv))
    trainer.train()
    return trainer.logger.mean_agent_return()


def _option(argv: list[str], name: str, default: float) -> float:
    for arg in list(argv):
        if arg.startswith(f"--{name}="):
            argv.remove(arg)
            return float(arg.split("=", 1)[1])
    return default


def main() -> int:
    argv = sys.argv[1:]
    seconds, rounds = _option(argv, "bench_seconds", 60.0), int(_option(argv, "bench_rounds", 2))
    sf_steps, learning_steps = int(_option(argv, "sf_steps", 0)), int(_option(argv, "learning_steps", 0))
    seeds = int(_option(argv, "seeds", 3))
    with tempfile.TemporaryDirectory() as train_dir:
        base = [f"--train_dir={train_dir}", "--progress_bar=False", "--save_plots=False", *argv]
        cfg = parse_args([*base, "--experiment=probe"])
        if seconds > 0:
            processes = max(1, resolve_num_workers(cfg))
            meters = [RawEnvProcesses(cfg, processes), TrainingRun([*base, "--async_rl=False"]),
                      TrainingRun([*base, "--async_rl=True"])]  # fmt: skip
            raw, sync, asyn = interleaved_rates(meters, seconds, rounds)
            sf = sample_factory_rate(sf_steps) if sf_steps > 0 else None
            print(f"env {cfg.env}, {processes} env processes, num_envs={cfg.num_envs}; {rounds} alternating rounds "
                  f"of {seconds / rounds:.0f} s")  # fmt: skip
            print("| measurement | agent-steps/s | of raw env | x Sample Factory |")
            print("|---|---|---|---|")
            for name, rate in (("raw env, random actions", raw), ("marl_sf --async_rl=False", sync),
                               ("marl_sf --async_rl=True", asyn), ("Sample Factory 2.1.1 APPO", sf)):  # fmt: skip
                if rate is not None:
                    vs_sf = f"{rate / sf:.2f}" if sf else "-"
                    print(f"| {name} | {rate:,.0f} | {rate / raw:.2f} | {vs_sf} |")
        if learning_steps > 0:
            print(f"\nper-agent return, last 100 training episodes after {learning_steps:,} agent-steps, {seeds} seeds")
            print("| variant | mean [95% t-interval] | seeds |")
            print("|---|---|---|")
            for v, (name, extra) in enumerate(VARIANTS.items()):
                values = [final_return([*base, *extra, f"--seed={s}", f"--experiment=learn_{v}_{s}",
                                        f"--train_for_env_steps={learning_steps}"]) for s in range(seeds)]  # fmt: skip
                print(f"| {name} | {interval(values)} | {', '.join(f'{v:.2f}' for v in values)} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
