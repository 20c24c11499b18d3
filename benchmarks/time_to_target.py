"""Wall time until a run's training return first reaches a target, read from its tensorboardX summaries.

    python benchmarks/time_to_target.py --target=-14 train_dir/simple_spread_mappo train_dir/spread_serial

For each experiment folder: the per-agent mean training episode return of policy 0
(``policy_0/episode_return``; every agent's with a shared policy), averaged over a sliding window of
``--window`` logged iterations to smooth out single noisy ones; the first agent-step count where it reaches
``--target``; and the wall time to that point (agent-steps divided by the run's average agent-steps/s up to
there, ``perf/agent_steps_per_sec``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from marl_sf.utils.summary_reader import read_scalars


def time_to_target(exp_dir: Path, target: float, window: int) -> tuple[int, float] | None:
    """``(agent-steps, seconds)`` when the smoothed per-agent training return first reaches ``target``, or None."""
    per_agent = dict(read_scalars(exp_dir / ".summary", "policy_0/episode_return"))  # mean over policy 0's agents
    fps = dict(read_scalars(exp_dir / ".summary", "perf/agent_steps_per_sec"))
    steps = sorted(per_agent)
    values = np.array([per_agent[s] for s in steps])
    for i in range(window - 1, len(steps)):
        if values[i - window + 1 : i + 1].mean() >= target:
            step = steps[i]
            return step, step / fps[step]
    return None


def main() -> int:
    """Print the time to the target for each experiment folder."""
    p = argparse.ArgumentParser(
        description=__doc__, allow_abbrev=False, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("experiments", nargs="+", type=Path)
    p.add_argument("--target", type=float, default=-14.0, help="per-agent mean training episode return")
    p.add_argument("--window", type=int, default=5, help="logged iterations averaged")
    args = p.parse_args()
    for exp in args.experiments:
        hit = time_to_target(exp, args.target, args.window)
        shown = "not reached" if hit is None else f"{hit[0]:,} agent-steps, {hit[1]:.0f} s"
        print(f"{exp}: {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
