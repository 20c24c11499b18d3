"""A training entry point for tests that signal or kill real trainer processes: ``python -m tests.proc_envs``.

Envs (``CueMatchEnv`` underneath) record the pid of the process that built them in ``<train_dir>/pids/<pid>``,
so a test can find every env worker process:

* ``pid_cue``: a plain cue game;
* ``native_hang``: the env with env_id 1 blocks SIGTERM and sleeps in libc (native code) on its 3rd step.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
from pathlib import Path

from examples.custom_env import CueMatchEnv
from marl_sf.envs.registry import register_env
from marl_sf.train import parse_args, run_rl


class PidCueEnv(CueMatchEnv):
    """Writes ``<train_dir>/pids/<pid>`` when built; ``hang``: env 1 hangs in native code on its 3rd step."""

    def __init__(self, cfg, env_id: int, hang: bool = False):
        super().__init__()
        self.env_id, self.hang, self.steps = env_id, hang, 0
        folder = Path(cfg.train_dir) / "pids"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / str(os.getpid())).touch()

    def step(self, actions):
        self.steps += 1
        if self.hang and self.env_id == 1 and self.steps == 3:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # terminate() cannot stop it
            ctypes.CDLL(None).sleep(600)
        return super().step(actions)


def register_proc_envs() -> None:
    """Register ``pid_cue`` and ``native_hang``."""
    register_env("pid_cue", lambda n, cfg=None, env_config=None, render_mode=None: PidCueEnv(cfg, env_config.env_id))
    register_env(
        "native_hang",
        lambda n, cfg=None, env_config=None, render_mode=None: PidCueEnv(cfg, env_config.env_id, hang=True),
    )


def main() -> int:
    """Train one of the envs above with the command-line options."""
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(message)s", datefmt="%H:%M:%S")
    register_proc_envs()
    return run_rl(parse_args())


if __name__ == "__main__":
    sys.exit(main())
