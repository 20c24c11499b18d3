"""Checkpoints: atomic writes, the last K kept plus the best, one folder per policy; loaded as weights only.

Layout (as Sample Factory's): ``<experiment>/checkpoint_p<policy_id>/checkpoint_<train_step>_<agent_steps>.pth``,
``best_<train_step>_<agent_steps>_<metric>.pth`` and, with ``--save_milestones_sec``,
``milestones/checkpoint_<train_step>_<agent_steps>.pth`` (never deleted).

Format ``CHECKPOINT_FORMAT`` (2): a ``torch.save`` zip of nested dicts and lists of tensors, numbers, strings
and None; the config is a JSON string (``cfg_json`` / ``saved_cfg``). Every checkpoint, pool snapshot and
tournament ``.pth`` is read by ``load_weights_file`` with ``torch.load(weights_only=True)``: a file that asks
the unpickler for anything else (a class, a function: code) is refused before anything in it runs.
"""

from __future__ import annotations

import io
import json
import pickle
import re
from pathlib import Path
from typing import Any

import torch

from marl_sf.utils.finite import non_finite_tensors
from marl_sf.utils.io import atomic_write, describe_os_error, os_error

CHECKPOINT_FORMAT = 2


class UnsafeCheckpointError(RuntimeError):
    """A checkpoint or pool file asks to run code when unpickled (a class or function reference): refused."""


class CheckpointWriteError(OSError):
    """A checkpoint could not be written (no space left, permission denied, I/O error); ``errno`` is the cause's."""


def cfg_json(cfg) -> str:
    """The config as the JSON string a checkpoint keeps (values JSON cannot hold are kept as their ``str``)."""
    return json.dumps(dict(cfg), sort_keys=True, default=str)


def saved_cfg(state: dict[str, Any]) -> dict[str, Any]:
    """The config a checkpoint or snapshot was saved with (``{}`` when it has none)."""
    cfg = state.get("cfg")
    return json.loads(cfg) if isinstance(cfg, str) else dict(cfg or {})


def checkpoint_dir(exp_dir: Path, policy_id: int) -> Path:
    """``<experiment>/checkpoint_p<policy_id>``."""
    return Path(exp_dir) / f"checkpoint_p{policy_id}"


def write_weights_file(path: Path, state: dict[str, Any]) -> None:
    """Atomically ``torch.save`` ``state`` to ``path`` (serialized in memory first, so that a failed write
    surfaces as the operating system's error, not as torch's).

    Raises:
        CheckpointWriteError: the file cannot be written; the message names it and the reason.
    """
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    try:
        atomic_write(path, lambda f: f.write(data))
    except OSError as exc:
        message = f"cannot write checkpoint to {path}: {describe_os_error(exc)}"
        raise os_error(exc, message, CheckpointWriteError) from None


def checkpoint_name(state: dict[str, Any]) -> str:
    """``<train_step>_<agent_steps>`` of a checkpoint state, the part every checkpoint file name shares."""
    return f"{state['train_step']:09d}_{state['agent_steps']}"


def save_checkpoint(
    exp_dir: Path, policy_id: int, state: dict[str, Any], keep: int, best_metric: float | None = None
) -> Path:
    """Atomically write ``state`` as the latest checkpoint (and, when ``best_metric`` is given, as the best, see
    ``save_best_checkpoint``).

    Keeps the ``keep`` newest regular checkpoints and the single best one.

    Raises:
        CheckpointWriteError: a file cannot be written (see ``write_weights_file``).
    """
    folder = checkpoint_dir(exp_dir, policy_id)
    path = folder / f"checkpoint_{checkpoint_name(state)}.pth"
    write_weights_file(path, state)
    for old in sorted(folder.glob("checkpoint_*.pth"))[:-keep]:
        old.unlink(missing_ok=True)
    if best_metric is not None:
        save_best_checkpoint(exp_dir, policy_id, state, best_metric)
    return path


def save_best_checkpoint(exp_dir: Path, policy_id: int, state: dict[str, Any], best_metric: float) -> Path:
    """Atomically write ``state`` as the policy's best checkpoint, ``best_<train_step>_<agent_steps>_<metric>.pth``
    (the metric with 3 decimals), then delete the previous best: there is one best file, never none once written.

    Raises:
        CheckpointWriteError: the file cannot be written (the previous best is kept).
    """
    folder = checkpoint_dir(exp_dir, policy_id)
    best = folder / f"best_{checkpoint_name(state)}_{best_metric:.3f}.pth"
    write_weights_file(best, state)
    for old in folder.glob("best_*.pth"):
        if old != best:
            old.unlink(missing_ok=True)
    return best


def milestone_dir(exp_dir: Path, policy_id: int) -> Path:
    """``<experiment>/checkpoint_p<policy_id>/milestones``."""
    return checkpoint_dir(exp_dir, policy_id) / "milestones"


def save_milestone(exp_dir: Path, policy_id: int, state: dict[str, Any]) -> Path:
    """Atomically write ``state`` as a milestone, ``milestones/checkpoint_<train_step>_<agent_steps>.pth``
    (``--save_milestones_sec``); milestones are never deleted (``--keep_checkpoints`` counts only the latest
    checkpoints) and never loaded by a resume (``find_checkpoint`` looks at the latest and best ones only).

    Raises:
        CheckpointWriteError: the file cannot be written.
    """
    path = milestone_dir(exp_dir, policy_id) / f"checkpoint_{checkpoint_name(state)}.pth"
    write_weights_file(path, state)
    return path


def find_checkpoint(exp_dir: Path, policy_id: int, kind: str = "latest") -> Path | None:
    """Path of the latest (or best) checkpoint of a policy, or None when there is none."""
    pattern = "best_*.pth" if kind == "best" else "checkpoint_*.pth"
    found = sorted(checkpoint_dir(exp_dir, policy_id).glob(pattern))
    return found[-1] if found else None


def load_weights_file(path: Path, device: torch.device | str, what: str = "checkpoint") -> Any:
    """``torch.load(path, weights_only=True)``: tensors, numbers, strings, lists and dicts only.

    Raises:
        UnsafeCheckpointError: the file references a class or function (it would run code when unpickled);
            nothing in it has run.
        RuntimeError: the file is not a readable ``torch.save`` file (truncated, corrupt, not ours).
    """
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"unsupported global: (?:GLOBAL )?(\S+)", str(exc), re.IGNORECASE)
        if found is None:
            raise RuntimeError(_corrupt(what, path, exc)) from None
        raise UnsafeCheckpointError(
            f"{what} {path} asks to call {found.group(1)} when unpickled: marl_sf refuses to unpickle code from "
            "a checkpoint (torch.load(weights_only=True)); only weights are loaded, and nothing in the file "
            "ran. Do not use a file of unknown origin; one saved by an older marl_sf (checkpoint format 1, "
            "pickled objects) cannot be loaded: retrain it"
        ) from None
    except Exception as exc:
        raise RuntimeError(_corrupt(what, path, exc)) from exc


def _corrupt(what: str, path: Path, exc: Exception) -> str:
    detail = str(exc).split("\n")[-1] if isinstance(exc, pickle.UnpicklingError) else str(exc)
    return (
        f"{what} {path} is corrupt or unreadable ({type(exc).__name__}: {detail[:300]}); delete it to fall "
        "back to the previous one, or train with --restart_behavior=restart"
    )


def load_checkpoint(path: Path, device: torch.device) -> dict[str, Any]:
    """Load a checkpoint onto ``device`` (weights only, see ``load_weights_file``).

    Raises:
        UnsafeCheckpointError: the file would run code when unpickled.
        RuntimeError: the file cannot be read as a marl_sf checkpoint (truncated, corrupt, not ours), or its
            weights hold NaN or inf.
    """
    state = load_weights_file(path, device)
    if not isinstance(state, dict) or "learner" not in state:
        raise RuntimeError(f"{path} is not a marl_sf checkpoint (no 'learner' entry)")
    bad = non_finite_tensors(state["learner"])
    if bad:
        raise RuntimeError(
            f"checkpoint {path} holds non-finite values ({', '.join(bad[:5])}): delete it to fall back to the "
            "previous one"
        )
    return state
