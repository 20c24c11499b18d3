"""The ``processes`` backend: the run's experiments as local processes, at most ``--max_parallel`` at once."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import time

from marl_sf.launcher.run_description import RunDescription, RunSpec
from marl_sf.launcher.summary import RunResult

log = logging.getLogger(__name__)


def add_process_args(parser: argparse.ArgumentParser) -> None:
    """The backend's options."""
    parser.add_argument("--max_parallel", default=4, type=int, help="experiments running at once")
    parser.add_argument("--num_gpus", default=1, type=int, help="local GPUs to spread experiments over")
    parser.add_argument("--experiments_per_gpu", default=-1, type=int, help="experiments per GPU, each process "
                        "seeing one GPU (CUDA_VISIBLE_DEVICES); -1: every process sees every GPU")  # fmt: skip


def run_processes(description: RunDescription, args) -> list[RunResult]:
    """Run every experiment of ``description``; a failing one is reported and the others go on.

    Each experiment's output goes to ``<run dir>/logs/<experiment>.log``.

    Returns:
        one ``RunResult`` per experiment, in the run's order.
    """
    pending = list(description.generate_experiments(args.train_dir))
    order = [spec.name for spec in pending]  # the run's order, for the results
    logs = description.run_dir(args.train_dir) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    running: list[tuple[RunSpec, subprocess.Popen, float, int | None]] = []
    results: dict[str, RunResult] = {}
    capacity = args.max_parallel
    if args.experiments_per_gpu > 0:
        capacity = min(capacity, args.experiments_per_gpu * args.num_gpus)
    while pending or running:
        while pending and len(running) < capacity:
            spec = pending.pop(0)
            gpu = _least_busy_gpu([g for *_, g in running], args) if args.experiments_per_gpu > 0 else None
            try:
                running.append((spec, _start(spec, logs, gpu), time.time(), gpu))
            except OSError as e:  # the command cannot start: reported like a failed run, the others go on
                (logs / f"{spec.name}.log").write_text(f"could not start {spec.command}: {e}\n")
                results[spec.name] = RunResult(spec.name, spec.command, 127, 0.0, str(logs / f"{spec.name}.log"))
                log.error("%s could not start: %s", spec.name, e)
                continue
            time.sleep(args.pause_between)
        still = []
        for spec, proc, started, gpu in running:
            if proc.poll() is None:
                still.append((spec, proc, started, gpu))
                continue
            results[spec.name] = RunResult(spec.name, spec.command, proc.returncode, time.time() - started,
                                           str(logs / f"{spec.name}.log"))  # fmt: skip
            level = logging.INFO if proc.returncode == 0 else logging.ERROR
            log.log(level, "%s ended with exit code %d after %.0f s", spec.name, proc.returncode,
                    results[spec.name].seconds)  # fmt: skip
        running = still
        time.sleep(0.2)
    return [results[name] for name in order]


def _start(spec: RunSpec, logs, gpu: int | None) -> subprocess.Popen:
    env = {**os.environ, **{str(k): str(v) for k, v in (spec.env_vars or {}).items()}}
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = str(gpu)
    spec.train_dir.mkdir(parents=True, exist_ok=True)
    log.info("starting %s: %s", spec.name, spec.command)
    with open(logs / f"{spec.name}.log", "w") as out:  # the child keeps its own descriptor
        return subprocess.Popen(spec.argv, stdout=out, stderr=subprocess.STDOUT, env=env)


def _least_busy_gpu(busy: list[int | None], args) -> int:
    """The GPU running the fewest of our experiments (capacity is checked by the caller)."""
    return min(range(args.num_gpus), key=lambda g: busy.count(g))
