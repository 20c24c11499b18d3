"""Weights & Biases mirroring of the TensorBoard summaries (``--with_wandb``), as Sample Factory's
``sample_factory.utils.wandb_utils``: ``wandb.init(sync_tensorboard=True)`` before the ``SummaryWriter`` exists,
so that wandb's patch of tensorboardX copies every summary the run writes.

wandb is the optional extra ``pip install 'marl-sf[wandb]'``. ``WANDB_MODE=offline`` runs without a network or
an account (``wandb sync <folder>`` uploads later).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from pathlib import Path

from marl_sf.checkpoint import cfg_json
from marl_sf.utils.extras import require

log = logging.getLogger("marl_sf")

RUN_ID_FILE = "wandb_run_id.txt"  # in the experiment folder: a resumed run continues the same W&B run
INIT_TRIES = 3  # wandb.init fails now and then (network); Sample Factory tries 3 times too


def wandb_dir(cfg, exp_dir: Path) -> Path:
    """``--wandb_dir``, or ``<experiment>/wandb`` when unset (wandb writes its run folders into a ``wandb``
    folder inside it)."""
    return Path(cfg.wandb_dir) if cfg.wandb_dir else Path(exp_dir) / "wandb"


def wandb_run_id(cfg, exp_dir: Path) -> str:
    """The W&B run id of the experiment: read from ``<experiment>/wandb_run_id.txt``, or made up from the
    experiment's name and written there on its first run (an experiment moved aside by
    ``--restart_behavior=restart`` takes its file along, so the new one starts a new W&B run)."""
    path = Path(exp_dir) / RUN_ID_FILE
    if path.is_file():
        run_id = path.read_text().strip()
        if run_id:
            return run_id
    name = re.sub(r"[^\w.-]", "_", str(cfg.experiment))[:96]  # W&B ids may not hold / \ # ? % :
    run_id = f"{name}_{time.strftime('%Y%m%d_%H%M%S')}_{uuid.uuid4().hex[:6]}"
    path.write_text(run_id + "\n")
    return run_id


def init_wandb(cfg, exp_dir: Path, summary_dir: Path):
    """Start (or, resuming, continue) the W&B run that mirrors the TensorBoard summaries written in
    ``summary_dir``; call it before the run's ``SummaryWriter`` is made. The run: ``--wandb_project``,
    ``--wandb_user`` (entity), ``--wandb_group`` (default ``--env``), ``--wandb_job_type``, ``--wandb_tags``, files
    in ``wandb_dir``, the whole config as its config, id ``wandb_run_id`` with ``resume="allow"``.

    tensorboardX is patched with ``summary_dir`` as the root of the event files (without one, wandb waits 10 s
    to guess it and then mirrors only event files below the working directory); ``finish_wandb`` takes the patch
    off.

    Returns:
        the ``wandb`` run; ``finish_wandb`` ends it.

    Raises:
        MissingExtraError: wandb is not installed (``pip install 'marl-sf[wandb]'``).
        Exception: what ``wandb.init`` raised on its last of ``INIT_TRIES`` tries (no account, no network
            without ``WANDB_MODE=offline``).
    """
    wandb = require("wandb", "wandb", "--with_wandb")
    folder = wandb_dir(cfg, exp_dir)
    folder.mkdir(parents=True, exist_ok=True)
    run_id = wandb_run_id(cfg, exp_dir)
    group = cfg.wandb_group if cfg.wandb_group is not None else cfg.env
    log.info("Weights & Biases: project %s, group %s, run %s, files in %s", cfg.wandb_project, group, run_id, folder)
    Path(summary_dir).mkdir(parents=True, exist_ok=True)  # wandb starts watching it before the writer makes it
    attempt = 1
    while True:
        if wandb.patched["tensorboard"]:  # left by an earlier run of this process (wandb.finish keeps it)
            wandb.tensorboard.unpatch()
        wandb.tensorboard.patch(root_logdir=str(summary_dir))  # wandb.init(sync_tensorboard=True) keeps this one
        try:
            return wandb.init(
                project=cfg.wandb_project,
                entity=cfg.wandb_user,
                group=group,
                job_type=cfg.wandb_job_type,
                tags=list(cfg.wandb_tags or []),
                id=run_id,
                name=run_id,
                resume="allow",
                sync_tensorboard=True,
                config=json.loads(cfg_json(cfg)),
                dir=str(folder),
            )
        except Exception as exc:
            wandb.tensorboard.unpatch()  # no run: no patch left behind
            if attempt >= INIT_TRIES:
                log.error("Weights & Biases: wandb.init failed %d times: %s", INIT_TRIES, exc)
                raise
            log.warning("Weights & Biases: wandb.init failed (%s), trying again", exc)
            attempt += 1
            time.sleep(1.0)


def finish_wandb(run) -> None:
    """End the W&B run ``init_wandb`` started (after the ``SummaryWriter`` is closed, so that its last events are
    mirrored) and take off its patch of tensorboardX; None: nothing."""
    if run is None:
        return
    import wandb

    try:
        run.finish()
    finally:
        wandb.tensorboard.unpatch()
