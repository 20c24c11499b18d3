"""Where one training iteration's time goes: cProfile of in-process rollouts and updates.

    python benchmarks/profile_iteration.py --env=mpe_simple_spread [--iterations=8] [any marl_sf option]

Prints the wall time and the cumulative seconds in the sampler's inference (``Sampler._act``), its bookkeeping
(``Sampler._record``) and the learner (``Learner.train``). Envs step in this process (``--serial_mode=True``), so
the profile sees them too; compare two commits by running this from each, one after the other.
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import tempfile
import time

from marl_sf.train import Trainer, parse_args


def cumulative(stats: pstats.Stats, function: str) -> float:
    """Cumulative seconds of every profiled function named ``function``."""
    return sum(entry[3] for key, entry in stats.stats.items() if key[2] == function)


def main() -> int:
    """Profile ``--iterations`` rollouts and updates after one warm-up rollout."""
    argv, iterations = [], 8
    for arg in sys.argv[1:]:
        if arg.startswith("--iterations="):
            iterations = int(arg.split("=", 1)[1])
        else:
            argv.append(arg)
    with tempfile.TemporaryDirectory() as train_dir:
        cfg = parse_args([f"--train_dir={train_dir}", "--progress_bar=False", "--serial_mode=True",
                          "--experiment=profile", *argv])  # fmt: skip
        trainer = Trainer(cfg)
        try:
            trainer.sampler.collect()
            for st in trainer.storages:
                st.carry_last_step()
            profile, start = cProfile.Profile(), time.time()
            profile.enable()
            for _ in range(iterations):
                trainer.sampler.collect()
                for learner, st in zip(trainer.learners, trainer.storages, strict=True):
                    learner.train(st)
                    st.carry_last_step()
            profile.disable()
            wall = time.time() - start
        finally:
            trainer.close()
    stats = pstats.Stats(profile)
    parts = {name: cumulative(stats, name) for name in ("_act", "_record", "train")}
    print(
        f"{cfg.env}: {iterations} iterations in {wall:.2f} s; sampler inference (_act) {parts['_act']:.2f} s, "
        f"sampler bookkeeping (_record) {parts['_record']:.2f} s, learner (train) {parts['train']:.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
