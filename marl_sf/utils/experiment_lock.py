"""One writer per experiment: a training run holds a lock on its experiment for as long as it runs.

The lock is ``<train_dir>/.<experiment>.lock``, beside the experiment folder (so that ``--restart_behavior`` may rename
or delete the folder under it), taken with a POSIX record lock (``fcntl.lockf``): the kernel releases it when the
holder exits in any way, a ``kill -9`` included, and processes the holder forks (env workers) do not inherit it. The
file names the holder (pid, host, start time) for the error a second run gets; a clean exit empties it, so a lock
file that still names a holder when its lock is free was left by a run that died, and the next run takes it over
with a log line. Readers (``enjoy``, ``plot``, the tournament) take no lock: every file a run writes is replaced
atomically. Network file systems that do not support POSIX locks are not protected.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import time
from pathlib import Path

log = logging.getLogger(__name__)

_HELD: dict[tuple[int, int], str] = {}  # (device, inode) of the lock files this process holds -> the holder


class ExperimentLockedError(RuntimeError):
    """Another process is training this experiment; the message names it and the ways out."""


class ExperimentLock:
    """The lock of experiment ``experiment`` in ``train_dir`` (see the module docstring).

    Args:
        train_dir: ``--train_dir``.
        experiment: ``--experiment`` (a validated name).
    """

    def __init__(self, train_dir: str | Path, experiment: str):
        self.path = Path(train_dir) / f".{experiment}.lock"
        self.experiment = experiment
        self.fd: int | None = None
        self.key: tuple[int, int] | None = None

    def acquire(self) -> None:
        """Take the lock, or fail at once.

        Raises:
            ExperimentLockedError: another process, or another lock object of this process, holds it (its pid,
                host and start time are in the message).
            OSError: ``train_dir`` cannot be created or the lock file written.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        key = _file_key(self.path)
        if key in _HELD:  # POSIX locks belong to the process: the kernel would not refuse a second holder here,
            # and no descriptor of the file may be opened and closed (closing any releases the process's lock)
            raise ExperimentLockedError(
                f"experiment {self.experiment!r} is being trained by {_HELD[key]}, this process (lock "
                f"{self.path}): close the other Trainer first, or train under another --experiment"
            )
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read(fd)
            os.close(fd)
            raise ExperimentLockedError(
                f"experiment {self.experiment!r} is being trained by {holder or 'another process'} (lock "
                f"{self.path}): wait for that run to end or stop it, or train under another --experiment"
            ) from None
        try:
            left = _read(fd)
            if left:
                log.warning("took over the lock of experiment %r from %s, which ended without releasing it",
                            self.experiment, left)  # fmt: skip
            os.ftruncate(fd, 0)
            holder = f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}"
            os.pwrite(fd, holder.encode(), 0)
        except BaseException:
            os.close(fd)  # releases the lock
            raise
        self.fd, self.key = fd, _file_key(self.path)
        _HELD[self.key] = holder

    def release(self) -> None:
        """Empty the lock file and release the lock (a no-op when not held)."""
        if self.fd is None:
            return
        fd, self.fd = self.fd, None
        _HELD.pop(self.key, None)
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing the descriptor releases the process's lock

    def __del__(self):
        """A lock object dropped without ``release`` (a ``Trainer`` never closed) releases its lock."""
        self.release()


def _file_key(path: Path) -> tuple[int, int] | None:
    """The lock file's (device, inode), None while it does not exist; read without opening it."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def _read(fd: int) -> str:
    """The holder named in the lock file ("" when empty)."""
    return os.pread(fd, 4096, 0).decode(errors="replace").strip()
