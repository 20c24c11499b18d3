"""Agent-steps/s of the Ray path next to the single-machine default, measured in one run.

    python benchmarks/ray_throughput.py --env=mpe_simple_spread --bench_seconds=40

For each layout, (b) sampling only (inference and env stepping, no learning: on Ray a ``ray.put`` of the weights
and the rollouts through the object store each time) and (c) full training, as in ``benchmarks/throughput.py``:
the single-machine default (env worker processes), ``--distributed=ray --num_samplers=1`` and ``=2``, and
``--num_samplers=2 --max_policy_lag=1`` (sampling overlaps the update). (a) is the raw env stepping random actions
in as many processes as the default uses. Prints the ratios to the default (the overhead of the Ray path) and to
the raw env. Any marl_sf option (``--num_envs``...) applies to every layout.
"""

from __future__ import annotations

import sys
import tempfile

from throughput import RawEnvProcesses, SamplerOnly, measure, training_rate

from marl_sf.algo.runners import resolve_num_workers
from marl_sf.train import parse_args

LAYOUTS = {
    "single machine (env workers)": [],
    "ray, 1 sampler actor": ["--distributed=ray", "--num_samplers=1"],
    "ray, 2 sampler actors": ["--distributed=ray", "--num_samplers=2"],
    "ray, 2 sampler actors, --max_policy_lag=1": ["--distributed=ray", "--num_samplers=2", "--async_rl=True"],
}


def main() -> int:
    """Measure every layout and print the table."""
    argv, seconds = sys.argv[1:], 30.0
    for arg in list(argv):
        if arg.startswith("--bench_seconds="):
            seconds = float(arg.split("=", 1)[1])
            argv.remove(arg)
    rows = {}
    with tempfile.TemporaryDirectory() as train_dir:
        base = [f"--train_dir={train_dir}", "--progress_bar=False", "--restart_behavior=overwrite",
                "--save_plots=False", *argv]  # fmt: skip
        cfg = parse_args([*base, "--experiment=bench_raw"])
        processes = max(1, resolve_num_workers(cfg))
        raw = measure(RawEnvProcesses(cfg, processes), seconds)
        for name, extra in LAYOUTS.items():
            sampling = measure(SamplerOnly(parse_args([*base, *extra, "--experiment=bench_sampling"])), seconds)
            training = training_rate(parse_args([*base, *extra, "--experiment=bench_training"]), seconds)
            rows[name] = (sampling, training)
    default_sampling, default_training = rows["single machine (env workers)"]
    print(f"env {cfg.env}: num_envs={cfg.num_envs} in all, rollout={cfg.rollout}; raw env in {processes} processes")
    print("| layout | sampling agent-steps/s | ratio to default | training agent-steps/s | ratio to default |")
    print("|---|---|---|---|---|")
    print(f"| raw env, random actions | {raw:,.0f} | {raw / default_sampling:.2f} | | |")
    for name, (sampling, training) in rows.items():
        print(f"| {name} | {sampling:,.0f} | {sampling / default_sampling:.2f} | {training:,.0f} | "
              f"{training / default_training:.2f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
