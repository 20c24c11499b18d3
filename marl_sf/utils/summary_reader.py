"""Read scalar summaries back from an experiment's event files (``<experiment>/.summary``).

The files are read with tensorboard's ``EventAccumulator`` (the ``viz`` extra: ``pip install -e ".[viz]"``,
which ``make setup`` installs), every point kept. A resumed run adds event files to the same folder; their
points are merged and sorted by agent-step.

    python -m marl_sf.utils.summary_reader train_dir/<experiment>/.summary policy_1/episode_return
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

Series = list[tuple[int, float]]


def _accumulator(summary_dir: str | Path):
    """A loaded ``EventAccumulator`` of ``summary_dir``, keeping every scalar.

    Raises:
        FileNotFoundError: ``summary_dir`` holds no event file.
        ImportError: tensorboard is not installed (the message gives the install command).
    """
    if not list(Path(summary_dir).glob("events.out.tfevents.*")):
        raise FileNotFoundError(f"no tensorboard event files in {summary_dir}: has the experiment trained?")
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    except ImportError as exc:
        raise ImportError('reading summaries needs tensorboard: pip install -e ".[viz]" (or make setup)') from exc
    logging.getLogger("tensorboard").setLevel(logging.WARNING)  # its per-file INFO lines are noise here
    accumulator = EventAccumulator(str(summary_dir), size_guidance={"scalars": 0})
    accumulator.Reload()
    return accumulator


def read_all_scalars(summary_dir: str | Path) -> dict[str, Series]:
    """Every scalar tag in ``summary_dir``: ``{tag: [(agent_step, value)]}``, each sorted by step.

    Raises:
        FileNotFoundError: ``summary_dir`` holds no event file.
        ImportError: tensorboard is not installed.
    """
    accumulator = _accumulator(summary_dir)
    return {
        tag: sorted((e.step, float(e.value)) for e in accumulator.Scalars(tag)) for tag in accumulator.Tags()["scalars"]
    }


def read_scalars(summary_dir: str | Path, tag: str) -> Series:
    """``[(agent_step, value)]`` of scalar ``tag`` in ``summary_dir``, sorted by step (empty for an unknown tag).

    Raises:
        FileNotFoundError: ``summary_dir`` holds no event file.
        ImportError: tensorboard is not installed.
    """
    return read_all_scalars(summary_dir).get(tag, [])


def read_scalar_events(summary_dir: str | Path, tag: str) -> list[tuple[float, int, float]]:
    """``[(wall_time, agent_step, value)]`` of scalar ``tag``, sorted by wall time (seconds since the epoch, when the
    summary was written; empty for an unknown tag).

    Raises:
        FileNotFoundError: ``summary_dir`` holds no event file.
        ImportError: tensorboard is not installed.
    """
    accumulator = _accumulator(summary_dir)
    if tag not in accumulator.Tags()["scalars"]:
        return []
    return sorted((e.wall_time, e.step, float(e.value)) for e in accumulator.Scalars(tag))


def main() -> int:
    """Print ``step value`` lines of one tag."""
    summary_dir, tag = sys.argv[1], sys.argv[2]
    for step, value in read_scalars(summary_dir, tag):
        print(step, value)
    return 0


if __name__ == "__main__":
    sys.exit(main())
