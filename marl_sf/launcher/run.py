"""``python -m marl_sf.launcher.run --run=<module> --backend=processes|ray|slurm``: run every experiment of a run
module's ``RUN_DESCRIPTION`` (docs/experiments.md), then print and save what ran and how it ended
(``<train_dir>/<run_name>/summary.json``). The exit code is 1 when an experiment failed."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from marl_sf.launcher.run_processes import add_process_args, run_processes
from marl_sf.launcher.run_ray import add_ray_args, run_ray
from marl_sf.launcher.run_slurm import add_slurm_args, run_slurm
from marl_sf.launcher.summary import write_summary
from marl_sf.utils.extras import MissingExtraError

BACKENDS = {"processes": (add_process_args, run_processes), "ray": (add_ray_args, run_ray),
            "slurm": (add_slurm_args, run_slurm)}  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The launcher's options, with the chosen backend's."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="the run module (importable), e.g. my_project.experiments.lr")
    parser.add_argument("--backend", default="processes", choices=sorted(BACKENDS))
    parser.add_argument("--train_dir", default="./train_dir", help="the runs' root folder")
    parser.add_argument("--pause_between", default=1.0, type=float, help="seconds between two starts")
    parser.add_argument("--experiment_suffix", default="", help="appended to the experiments' folder names")
    known, _ = parser.parse_known_args(argv)
    BACKENDS[known.backend][0](parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the launcher; returns 0 when every experiment ended well (or was submitted), else 1."""
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(message)s", datefmt="%H:%M:%S")
    args = parse_args(argv)
    try:
        module = importlib.import_module(args.run)
    except ImportError as e:
        print(f"launcher: cannot import the run module {args.run!r}: {e}", file=sys.stderr)
        return 1
    description = getattr(module, "RUN_DESCRIPTION", None)
    if description is None:
        print(f"launcher: {args.run} defines no RUN_DESCRIPTION (a marl_sf.launcher RunDescription)", file=sys.stderr)
        return 1
    description.experiment_suffix = args.experiment_suffix
    try:
        results = BACKENDS[args.backend][1](description, args)
    except (MissingExtraError, FileNotFoundError, RuntimeError, ValueError) as e:
        print(f"launcher: {e}", file=sys.stderr)
        return 1
    print(write_summary(description.run_dir(args.train_dir), args.backend, results))
    return int(any(r.returncode not in (None, 0) for r in results))


if __name__ == "__main__":
    sys.exit(main())
