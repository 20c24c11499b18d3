"""The experiment folder: where it is (strictly inside ``--train_dir``) and what ``--restart_behavior`` does to an
existing one. Its lock is ``marl_sf.utils.experiment_lock``."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import torch

from marl_sf.cfg.arguments import experiment_dir

log = logging.getLogger("marl_sf")


def inside_train_dir(cfg) -> Path:
    """The experiment folder, checked to lie strictly inside ``--train_dir`` once symlinks are resolved.

    Raises:
        ValueError: a bad ``--experiment`` name, or a folder that resolves outside ``--train_dir`` (or to it).
    """
    exp_dir = experiment_dir(cfg)
    root, target = Path(cfg.train_dir).resolve(), exp_dir.resolve()
    if target == root or not target.is_relative_to(root):
        raise ValueError(
            f"experiment folder {exp_dir} resolves to {target}, which is not inside --train_dir={root}: "
            "refusing to touch it (a symlink out of the train dir?); choose another --experiment"
        )
    return exp_dir


def prepare_experiment_dir(cfg) -> Path:
    """Apply ``--restart_behavior`` to an existing experiment folder, create it and draw the seed if unset.

    resume: keep it (checkpoints are loaded); restart: rename it to ``<name>_old_<time>``; overwrite: delete it.
    Only a folder strictly inside ``--train_dir`` is renamed or deleted. ``config.json`` is written later, by
    ``save_config``, once the run has been validated.

    Raises:
        ValueError: a bad ``--experiment`` name or a folder outside ``--train_dir`` (nothing is touched).
    """
    exp_dir = inside_train_dir(cfg)
    if exp_dir.exists() and cfg.restart_behavior != "resume":
        if cfg.restart_behavior == "restart":
            old = exp_dir.with_name(f"{exp_dir.name}_old_{time.strftime('%Y%m%d_%H%M%S')}")
            exp_dir.rename(old)
            log.info("restart: previous experiment moved to %s", old)
        else:
            shutil.rmtree(exp_dir)
    exp_dir.mkdir(parents=True, exist_ok=True)
    if cfg.seed is None:
        cfg.seed = int(torch.randint(0, 2**31 - 1, ()).item())
    return exp_dir
