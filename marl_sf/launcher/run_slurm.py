"""The ``slurm`` backend: one sbatch script per experiment in ``--slurm_workdir``, submitted with ``sbatch``
(``--slurm_print_only``: written and listed, not submitted), and ``scancel.sh`` that cancels the submitted jobs.

A script is ``--slurm_sbatch_template`` (a file; default ``SBATCH_TEMPLATE``) with ``string.Template`` fields (any
other ``$NAME``, such as ``$HOME``, is left for the shell):
``$NAME``, ``$CMD`` (the experiment's command), ``$LOG``, ``$CPU``, ``$GPU``, ``$TIMEOUT``, ``$PARTITION`` (an
``#SBATCH --partition`` line or nothing) and ``$WORKDIR`` (the folder the launcher ran in).
"""

from __future__ import annotations

import argparse
import logging
import shlex
import shutil
import subprocess
from pathlib import Path
from string import Template

from marl_sf.launcher.run_description import RunDescription
from marl_sf.launcher.summary import RunResult
from marl_sf.utils.io import atomic_write

log = logging.getLogger(__name__)

SBATCH_TEMPLATE = """#!/bin/bash
#SBATCH --job-name=$NAME
#SBATCH --output=$LOG
#SBATCH --cpus-per-task=$CPU
#SBATCH --gres=gpu:$GPU
#SBATCH --time=$TIMEOUT
$PARTITION
cd $WORKDIR
$CMD
"""


def add_slurm_args(parser: argparse.ArgumentParser) -> None:
    """The backend's options (Sample Factory's names)."""
    parser.add_argument("--slurm_gpus_per_job", default=1, type=int, help="GPUs per job")
    parser.add_argument("--slurm_cpus_per_gpu", default=14, type=int, help="CPUs per GPU of a job")
    parser.add_argument("--slurm_print_only", default=False, type=_str2bool, help="write the scripts, do not submit")
    parser.add_argument("--slurm_workdir", default="slurm_jobs", help="where the scripts and job outputs go")
    parser.add_argument("--slurm_partition", default=None, help="the partition (#SBATCH --partition)")
    parser.add_argument("--slurm_sbatch_template", default=None, help="a template file (see the module docstring)")
    parser.add_argument("--slurm_timeout", default="0", help="job time limit (#SBATCH --time; 0: none)")


def _str2bool(value: str) -> bool:
    return str(value).lower() in ("1", "true", "yes", "y")


def run_slurm(description: RunDescription, args) -> list[RunResult]:
    """Write (and unless ``--slurm_print_only`` submit) one sbatch script per experiment.

    Raises:
        FileNotFoundError: ``sbatch`` is not on the PATH (use ``--slurm_print_only=True`` to only write the
            scripts), or the template file does not exist.
        RuntimeError: ``sbatch`` refused a script (its message included).
    """
    workdir = Path(args.slurm_workdir).resolve()
    if not args.slurm_print_only and shutil.which("sbatch") is None:
        raise FileNotFoundError("sbatch is not on the PATH: run on the cluster's login node, or write the scripts "
                                "only with --slurm_print_only=True")  # fmt: skip
    template = Template(Path(args.slurm_sbatch_template).read_text() if args.slurm_sbatch_template else SBATCH_TEMPLATE)
    partition = f"#SBATCH --partition={args.slurm_partition}" if args.slurm_partition else ""
    results, job_ids = [], []
    for spec in description.generate_experiments(args.train_dir):
        script = workdir / f"sbatch_{spec.name}.sh"
        job_log = workdir / f"{spec.name}-%j.out"
        text = template.safe_substitute(NAME=spec.name, CMD=spec.command, LOG=job_log, PARTITION=partition,
                                   CPU=args.slurm_cpus_per_gpu * max(1, args.slurm_gpus_per_job),
                                   GPU=args.slurm_gpus_per_job, TIMEOUT=args.slurm_timeout,
                                   WORKDIR=shlex.quote(str(Path.cwd())))  # fmt: skip
        atomic_write(script, lambda f, text=text: f.write(text), mode="w")
        if args.slurm_print_only:
            log.info("wrote %s (not submitted)", script)
        else:
            job_ids.append(_submit(script))
            log.info("submitted %s as job %s", script, job_ids[-1])
        results.append(RunResult(spec.name, spec.command, None, 0.0, str(job_log)))
    if job_ids:
        cancel = f"scancel {' '.join(job_ids)}\n"
        atomic_write(workdir / "scancel.sh", lambda f: f.write(cancel), mode="w")
        log.info("cancel them all with: bash %s", workdir / "scancel.sh")
    return results


def _submit(script: Path) -> str:
    """``sbatch --parsable script``; the job id."""
    done = subprocess.run(["sbatch", "--parsable", str(script)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"sbatch refused {script}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip().split(";")[0]
