"""Env workers never outlive the trainer: SIGKILL, SIGTERM, Ctrl-C of the trainer and a worker hung in native
code all end with no process left behind (real processes, real signals); the serial mode's watchdog."""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from examples.custom_env import CueMatchEnv
from marl_sf.algo.env_workers import stop_workers
from marl_sf.algo.watchdog import EnvHangError
from marl_sf.checkpoint import find_checkpoint
from marl_sf.envs.registry import register_env
from marl_sf.train import Trainer

pytestmark = pytest.mark.slow  # real processes and clusters, or a subprocess per command

ROOT = Path(__file__).resolve().parents[1]


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _start(tmp_path: Path, env: str, *extra: str) -> subprocess.Popen:
    """A trainer of ``env`` with 2 env workers (4 envs), in its own session (process group)."""
    cmd = [sys.executable, "-m", "tests.proc_envs", f"--env={env}", "--experiment=life", f"--train_dir={tmp_path}"]
    cmd += ["--device=cpu", "--progress_bar=False", "--num_workers=2", "--num_envs=4", "--rollout=8"]
    cmd += ["--batch_size=64", "--train_for_env_steps=100000000", *extra]
    env_vars = {**os.environ, "SDL_VIDEODRIVER": "dummy"}
    return subprocess.Popen(
        cmd, cwd=ROOT, env=env_vars, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip


def _worker_pids(tmp_path: Path, trainer: subprocess.Popen, timeout: float = 120.0) -> list[int]:
    """The pids of the trainer's 2 env workers, once both have built their envs (and the run is training)."""
    deadline = time.time() + timeout
    summary = tmp_path / "life" / ".summary"
    while time.time() < deadline and trainer.poll() is None:
        pids = [int(p.name) for p in (tmp_path / "pids").glob("*")] if (tmp_path / "pids").exists() else []
        workers = [p for p in pids if p != trainer.pid]
        if len(workers) == 2 and summary.exists() and any(summary.glob("events.*")):
            time.sleep(1.0)  # the logger is the last thing the trainer builds: it is in its loop now
            return workers
        time.sleep(0.2)
    trainer.kill()
    raise AssertionError(f"the workers did not start: {trainer.communicate()[1][-3000:]}")


def _assert_gone(pids: list[int], within: float = 10.0) -> None:
    deadline = time.time() + within
    while any(_alive(p) for p in pids) and time.time() < deadline:
        time.sleep(0.1)
    assert not [p for p in pids if _alive(p)], "env workers outlived the trainer"


@pytest.fixture
def cleanup():
    """Kill whatever a failed test left running (the trainer's whole process group)."""
    started = []
    yield started.append
    for proc in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the group of the session the trainer leads


def test_no_worker_survives_a_sigkill_of_the_trainer(tmp_path, cleanup):
    trainer = _start(tmp_path, "pid_cue")
    cleanup(trainer)
    workers = _worker_pids(tmp_path, trainer)
    trainer.kill()  # SIGKILL: no handler, no close(), no atexit
    trainer.wait(timeout=30)
    _assert_gone(workers)


@pytest.mark.parametrize("how", ["sigterm", "ctrl_c_to_the_group", "ctrl_c_async"])
def test_sigterm_and_ctrl_c_save_a_checkpoint_and_leave_no_process(tmp_path, cleanup, how):
    trainer = _start(tmp_path, "pid_cue", *(["--async_rl=True"] if how == "ctrl_c_async" else []))
    cleanup(trainer)
    workers = _worker_pids(tmp_path, trainer)
    if how == "sigterm":
        trainer.send_signal(signal.SIGTERM)
    else:
        os.killpg(trainer.pid, signal.SIGINT)  # what a terminal does on Ctrl-C: the trainer and its workers
    _, err = trainer.communicate(timeout=120)
    assert trainer.returncode == 2, err[-3000:]
    assert "interrupted: saving a checkpoint" in err
    assert find_checkpoint(tmp_path / "life", 0) is not None
    _assert_gone(workers)


def test_a_worker_hung_in_native_code_ignoring_sigterm_does_not_hang_the_run(tmp_path, cleanup):
    trainer = _start(tmp_path, "native_hang", "--worker_timeout_sec=2")
    cleanup(trainer)
    workers = _worker_pids(tmp_path, trainer)
    try:  # hangs forever without the kill escalation (multiprocessing's exit-time join waits on the worker)
        _, err = trainer.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("the trainer did not exit: it is blocked on the hung worker")
    assert trainer.returncode == 1, err[-3000:]
    assert "env worker 1 (env_ids [1, 3]) did not answer within 2 s and was killed" in err
    assert find_checkpoint(tmp_path / "life", 0) is not None
    _assert_gone(workers)


def _stubborn_worker(conn) -> None:
    """A process that blocks SIGTERM, never reads its pipe and sleeps in libc."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    conn.send("ready")
    ctypes.CDLL(None).sleep(600)


def test_stopping_workers_escalates_to_sigkill_when_sigterm_is_blocked():
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_stubborn_worker, args=(child,), daemon=True)
    proc.start()
    assert parent.recv() == "ready"
    stop_workers([proc], [parent], grace=0.5, term_grace=0.5)  # what ProcessEnvRunner.close() does
    assert not proc.is_alive() and proc.exitcode == -signal.SIGKILL


class NativeSleepEnv(CueMatchEnv):
    """Sleeps in libc (native code, GIL released) for 5 s on its 3rd step: past the test's 1 s timeout."""

    def __init__(self):
        super().__init__()
        self.steps = 0

    def step(self, actions):
        self.steps += 1
        if self.steps == 3:
            ctypes.CDLL(None).sleep(5)
        return super().step(actions)


def test_serial_mode_watchdog_interrupts_a_hung_env_and_the_run_saves(make_cfg):
    register_env("native_sleep", lambda n, cfg=None, env_config=None, render_mode=None: NativeSleepEnv())
    argv = ["--env=native_sleep", "--experiment=serial_hang", "--serial_mode=True", "--num_envs=2", "--rollout=8"]
    trainer = Trainer(make_cfg(*argv, "--batch_size=32", "--worker_timeout_sec=1", "--train_for_seconds=60"))
    with pytest.raises(EnvHangError, match=r"env group 0 \(env_ids \[0\]\) step ran longer than "
                       r"--worker_timeout_sec=1 s and was interrupted"):  # fmt: skip
        trainer.train()
    assert find_checkpoint(trainer.exp_dir, 0) is not None
