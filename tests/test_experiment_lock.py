"""One writer per experiment: a second training run on a running experiment stops at once naming the running
process, touching nothing; a lock left by a killed run is taken over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from marl_sf.utils.experiment_lock import ExperimentLock, ExperimentLockedError

pytestmark = pytest.mark.slow

TRAIN = [sys.executable, "-m", "marl_sf.train", "--env=mpe_simple_spread", "--experiment=locked", "--device=cpu",
         "--num_workers=0", "--num_envs=2", "--batch_size=150", "--progress_bar=False",
         "--save_plots=False"]  # fmt: skip


def _start_training(train_dir: Path, *argv: str) -> subprocess.Popen:
    """A training run in its own process, returned once it has written its config (it holds the lock then)."""
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy"}
    proc = subprocess.Popen([*TRAIN, f"--train_dir={train_dir}", *argv], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.time() + 120
    while not (train_dir / "locked" / "config.json").exists():
        assert proc.poll() is None and time.time() < deadline, proc.stderr.read() if proc.poll() is not None else ""
        time.sleep(0.2)
    return proc


def _files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_ino for p in folder.rglob("*") if p.is_file()}


def test_a_second_run_on_a_running_experiment_stops_at_once_and_touches_nothing(tmp_path):
    first = _start_training(tmp_path, "--train_for_seconds=60", "--save_every_sec=1")
    try:
        before = sorted(p.name for p in tmp_path.iterdir())
        config = (tmp_path / "locked" / "config.json").read_bytes()
        started = time.time()
        second = subprocess.run([*TRAIN, f"--train_dir={tmp_path}", "--restart_behavior=overwrite"],
                                capture_output=True, text=True, timeout=120)  # fmt: skip
        assert second.returncode == 1
        assert f"is being trained by pid {first.pid}" in second.stderr and "Traceback" not in second.stderr
        assert time.time() - started < 30  # at startup, before any env or model is built
        assert sorted(p.name for p in tmp_path.iterdir()) == before  # not renamed, not deleted
        assert (tmp_path / "locked" / "config.json").read_bytes() == config
        assert first.poll() is None  # the first run goes on
        deadline = time.time() + 120  # readers take no lock: evaluation reads the running experiment
        while not list((tmp_path / "locked").glob("checkpoint_p0/checkpoint_*.pth")) and time.time() < deadline:
            time.sleep(0.2)
        enjoy = [sys.executable, "-m", "marl_sf.enjoy", "--env=mpe_simple_spread", "--experiment=locked",
                 f"--train_dir={tmp_path}", "--device=cpu", "--max_num_episodes=2", "--num_envs=1"]  # fmt: skip
        evaluation = subprocess.run(enjoy, capture_output=True, text=True, timeout=120)
        assert evaluation.returncode == 0, evaluation.stderr[-2000:]
        assert first.poll() is None
    finally:
        first.send_signal(signal.SIGINT)
        assert first.wait(timeout=120) == 2  # interrupted: it saved its checkpoint and released the lock
    assert (tmp_path / ".locked.lock").read_text() == ""
    lock = ExperimentLock(tmp_path, "locked")
    lock.acquire()  # free again
    lock.release()


def test_a_lock_left_by_a_killed_run_is_taken_over(tmp_path):
    first = _start_training(tmp_path, "--train_for_seconds=60")
    first.kill()  # no cleanup at all: the lock file still names it
    first.wait(timeout=60)
    assert f"pid {first.pid}" in (tmp_path / ".locked.lock").read_text()
    second = subprocess.run([*TRAIN, f"--train_dir={tmp_path}", "--train_for_env_steps=300"], capture_output=True,
                            text=True, timeout=300)  # fmt: skip
    assert second.returncode == 0, second.stderr
    assert f"took over the lock of experiment 'locked' from pid {first.pid}" in second.stderr


def test_the_lock_is_per_process_and_names_its_holder(tmp_path):
    lock = ExperimentLock(tmp_path, "exp")
    lock.acquire()
    try:
        code = ("import sys; from marl_sf.utils.experiment_lock import ExperimentLock as L; "
                f"L({str(tmp_path)!r}, 'exp').acquire()")  # fmt: skip
        other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert other.returncode != 0 and ExperimentLockedError.__name__ in other.stderr
        assert f"pid {os.getpid()}" in other.stderr
    finally:
        lock.release()


def test_a_second_lock_in_the_same_process_is_refused_and_releasing_it_keeps_the_first(tmp_path):
    first = ExperimentLock(tmp_path, "exp")
    first.acquire()
    try:
        with pytest.raises(ExperimentLockedError, match=f"pid {os.getpid()}"):
            ExperimentLock(tmp_path, "exp").acquire()  # POSIX locks alone would let this one through
        code = f"from marl_sf.utils.experiment_lock import ExperimentLock as L; L({str(tmp_path)!r}, 'exp').acquire()"
        other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert other.returncode != 0  # the refused second object did not release the first's lock
    finally:
        first.release()
