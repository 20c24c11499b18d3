"""How a run ended (Sample Factory's ``ExperimentStatus``), the framework's logger and a small epsilon."""

from __future__ import annotations

import enum
import logging

log = logging.getLogger("marl_sf")
"""The logger every marl_sf module writes to (Sample Factory's ``log``)."""

EPS = 1e-8
"""A small positive number for divisions (Sample Factory's ``EPS``)."""


class ExperimentStatus(enum.IntEnum):
    """Exit codes of ``run_rl``, ``enjoy`` and the command-line entry points: 0 success, 1 failure (an error line
    says why), 2 interrupted (Ctrl-C or SIGTERM; the checkpoint is saved)."""

    SUCCESS = 0
    FAILURE = 1
    INTERRUPTED = 2
