"""What a launcher run did: one line per experiment (exit code, seconds, log), as a table and ``summary.json``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from marl_sf.utils.io import atomic_write


@dataclass
class RunResult:
    """How one experiment of a run ended.

    Attributes:
        name: the experiment's name.
        command: its command line.
        returncode: the process's exit code (0: done; 2: interrupted; other: failed; None: not run, e.g. submitted
            to Slurm).
        seconds: wall time, seconds (0 when not run here).
        log: its output file.
    """

    name: str
    command: str
    returncode: int | None
    seconds: float
    log: str


def write_summary(run_dir: Path, backend: str, results: list[RunResult]) -> str:
    """Write ``<run_dir>/summary.json`` and return the table (Markdown) of ``results``."""
    data = {"backend": backend, "experiments": [asdict(r) for r in results]}
    atomic_write(run_dir / "summary.json", lambda f: json.dump(data, f, indent=2), mode="w")
    lines = ["| experiment | ended | seconds | log |", "|---|---|---|---|"]
    for r in results:
        ended = {None: "submitted", 0: "done", 2: "interrupted"}.get(r.returncode, f"FAILED ({r.returncode})")
        lines.append(f"| {r.name} | {ended} | {r.seconds:.0f} | {r.log} |")
    failed = sum(r.returncode not in (None, 0) for r in results)
    lines.append(f"\n{len(results)} experiments, {failed} failed; {run_dir / 'summary.json'}")
    return "\n".join(lines)
