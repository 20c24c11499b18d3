"""The experiment's log file, ``<experiment>/sf_log.txt`` (``--log_to_file``), as Sample Factory's file logger.

``start_log_file`` adds a ``logging.FileHandler`` to the ``marl_sf`` logger when a run starts (data-parallel
learners: rank 0 only); ``release_log_file`` marks it released when the run closes. A released file stays
attached until the next run of this process starts, which detaches and closes it, or the process exits
(``logging.shutdown``): the lines a run logs after it closed, ``Trainer.train``'s ``done:`` line and the
learning-curve message, are in its file, and a process that trains several runs one after another (PBT, tests)
holds one file at a time, the newest run's.
"""

from __future__ import annotations

import logging
from pathlib import Path

LOG_FILE_NAME = "sf_log.txt"
LOG_FORMAT = "[%(asctime)s][%(process)05d] %(message)s"  # Sample Factory's sf_log.txt lines

log = logging.getLogger("marl_sf")


class RunLogFile(logging.FileHandler):
    """The handler of one run's ``sf_log.txt`` (appended to: a resumed run continues its predecessor's file).

    Attributes:
        released: the run that opened it has closed (``release_log_file``).
        restore_level: the ``marl_sf`` logger's own level before the file was attached, put back when it is
            detached; None: the level was not changed.
    """

    def __init__(self, path: Path):
        super().__init__(path, mode="a", encoding="utf-8")
        self.setFormatter(logging.Formatter(LOG_FORMAT))
        self.setLevel(logging.INFO)
        self.released = False
        self.restore_level: int | None = None


def start_log_file(cfg, exp_dir: Path, enabled: bool = True) -> RunLogFile | None:
    """Send the ``marl_sf`` logger's records, INFO and above, to ``<exp_dir>/sf_log.txt`` as well; returns the
    handler, or None when ``--log_to_file`` is off or ``enabled`` is False (a learner process other than rank 0).

    A file an earlier run of this process left attached is detached and closed first. While the file is attached
    the ``marl_sf`` logger lets INFO records through even when logging is not configured (its level is lowered
    to INFO; what reaches the console is still the console handlers' business).

    Raises:
        OSError: the file cannot be opened for appending.
    """
    detach_log_files()
    if not (enabled and cfg.log_to_file):
        return None
    handler = RunLogFile(Path(exp_dir) / LOG_FILE_NAME)
    if log.getEffectiveLevel() > logging.INFO:
        handler.restore_level = log.level
        log.setLevel(logging.INFO)
    log.addHandler(handler)
    return handler


def release_log_file(handler: RunLogFile | None) -> None:
    """The run that opened ``handler`` closed: flush it and mark it released (it stays attached until the next
    ``start_log_file`` of this process or the process's exit, see the module docstring). None: nothing."""
    if handler is not None:
        handler.flush()
        handler.released = True


def detach_log_files() -> None:
    """Detach and close every run log file from the ``marl_sf`` logger, putting its level back."""
    for handler in [h for h in log.handlers if isinstance(h, RunLogFile)]:
        log.removeHandler(handler)
        handler.close()
        if handler.restore_level is not None:
            log.setLevel(handler.restore_level)
