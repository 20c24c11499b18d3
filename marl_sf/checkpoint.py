"""Checkpoints: atomic writes, the last K kept plus the best, one folder per policy.

Layout (as Sample Factory's): ``<experiment>/checkpoint_p<policy_id>/checkpoint_<train_step>_<agent_steps>.pth``
and ``best_<train_step>_<agent_steps>_<metric>.pth``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from marl_sf.utils.io import atomic_write


def checkpoint_dir(exp_dir: Path, policy_id: int) -> Path:
    """``<experiment>/checkpoint_p<policy_id>``."""
    return Path(exp_dir) / f"checkpoint_p{policy_id}"


def save_checkpoint(
    exp_dir: Path, policy_id: int, state: dict[str, Any], keep: int, best_metric: float | None = None
) -> Path:
    """Atomically write ``state`` as the latest checkpoint (and, when ``best_metric`` is given, as the best).

    Keeps the ``keep`` newest regular checkpoints and the single best one.
    """
    folder = checkpoint_dir(exp_dir, policy_id)
    name = f"{state['train_step']:09d}_{state['agent_steps']}"
    path = folder / f"checkpoint_{name}.pth"
    atomic_write(path, lambda f: torch.save(state, f))
    for old in sorted(folder.glob("checkpoint_*.pth"))[:-keep]:
        old.unlink(missing_ok=True)
    if best_metric is not None:
        best = folder / f"best_{name}_{best_metric:.3f}.pth"
        atomic_write(best, lambda f: torch.save(state, f))
        for old in folder.glob("best_*.pth"):
            if old != best:
                old.unlink(missing_ok=True)
    return path


def find_checkpoint(exp_dir: Path, policy_id: int, kind: str = "latest") -> Path | None:
    """Path of the latest (or best) checkpoint of a policy, or None when there is none."""
    pattern = "best_*.pth" if kind == "best" else "checkpoint_*.pth"
    found = sorted(checkpoint_dir(exp_dir, policy_id).glob(pattern))
    return found[-1] if found else None


def load_checkpoint(path: Path, device: torch.device) -> dict[str, Any]:
    """Load a checkpoint onto ``device``.

    Raises:
        RuntimeError: the file cannot be read as a marl_sf checkpoint (truncated, corrupt, not ours).
    """
    try:
        state = torch.load(path, map_location=device, weights_only=False)
    except Exception as exc:
        raise RuntimeError(
            f"checkpoint {path} is corrupt or unreadable ({type(exc).__name__}: {exc}); "
            "delete it to fall back to the previous one, or train with --restart_behavior=restart"
        ) from exc
    if not isinstance(state, dict) or "learner" not in state:
        raise RuntimeError(f"{path} is not a marl_sf checkpoint (no 'learner' entry)")
    return state
