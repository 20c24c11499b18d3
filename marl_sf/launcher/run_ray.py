"""The ``ray`` backend: each experiment of the run as a Ray task running its command on a node of the cluster
(``--ray_address``; none: a local Ray instance). The nodes need the same code and virtual env, and a ``--train_dir``
they all see (a shared file system) for the results to come together."""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import subprocess
import time

from marl_sf.launcher.run_description import RunDescription, RunSpec
from marl_sf.launcher.summary import RunResult
from marl_sf.utils.extras import require

log = logging.getLogger(__name__)


def add_ray_args(parser: argparse.ArgumentParser) -> None:
    """The backend's options."""
    parser.add_argument("--ray_address", default=None, help="the cluster's address (ray start --head prints it); "
                        "none: start a local instance")  # fmt: skip
    parser.add_argument("--ray_cpus_per_run", default=1.0, type=float, help="CPUs Ray reserves for each experiment")
    parser.add_argument("--ray_gpus_per_run", default=0.0, type=float, help="GPUs Ray reserves for each experiment")


def _run_command(argv: list[str], log_path: str, env_vars: dict[str, str] | None) -> tuple[int, float]:
    """On a Ray worker: run one experiment's command, its output to ``log_path``; ``(exit code, seconds)``."""
    started = time.time()
    env = {**os.environ, **{str(k): str(v) for k, v in (env_vars or {}).items()}}
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    with open(log_path, "w") as out:
        try:
            code = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, env=env).returncode
        except OSError as e:  # the command cannot start: a failed run, reported as such
            out.write(f"could not start {shlex.join(argv)}: {e}\n")
            code = 127
    return code, time.time() - started


def run_ray(description: RunDescription, args) -> list[RunResult]:
    """Run every experiment of ``description`` as a Ray task; Ray places them as the reserved resources allow.

    Raises:
        MissingExtraError: Ray is not installed (``pip install 'marl-sf[ray]'``).
    """
    ray = require("ray", "ray", "--backend=ray")
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=args.ray_address, include_dashboard=False, log_to_driver=False)
    task = ray.remote(num_cpus=args.ray_cpus_per_run, num_gpus=args.ray_gpus_per_run)(_run_command)
    logs = description.run_dir(args.train_dir) / "logs"
    try:
        specs: list[RunSpec] = list(description.generate_experiments(args.train_dir))
        refs = {}
        for spec in specs:
            spec.train_dir.mkdir(parents=True, exist_ok=True)
            log.info("submitting %s: %s", spec.name, spec.command)
            refs[task.remote(spec.argv, str((logs / f"{spec.name}.log").resolve()), spec.env_vars)] = spec
        results = {}
        waiting = list(refs)
        while waiting:
            done, waiting = ray.wait(waiting, num_returns=1)
            spec = refs[done[0]]
            try:
                code, seconds = ray.get(done[0])
            except Exception as e:  # noqa: BLE001 - a crashed worker or node: that experiment failed, the rest go on
                log.error("%s: its Ray task failed: %s", spec.name, e)
                code, seconds = -1, 0.0
            results[spec.name] = RunResult(spec.name, spec.command, code, seconds, str(logs / f"{spec.name}.log"))
            log.log(logging.INFO if code == 0 else logging.ERROR, "%s ended with exit code %d after %.0f s",
                    spec.name, code, seconds)  # fmt: skip
        return [results[s.name] for s in specs]
    finally:
        if started_here:
            ray.shutdown()
