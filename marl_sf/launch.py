"""``--num_learners=N``: N learner processes under ``torch.distributed``, each training on its share of the envs.

DD-PPO's layout (Wijmans et al. 2020): every process runs marl_sf's own sampler on ``--num_envs / N`` envs and a
copy of every policy; after each rollout the learners sum their gradients (``marl_sf.algo.distributed``), so all
copies take the same step, the one a single learner would take on all N shards. Rank 0 alone writes the
experiment folder (config, checkpoints, summaries, plots).

The run starts the processes itself (forked, so env registrations made by a user script reach them; ``run_rl`` forks
before any torch work, as forking a process whose OpenMP threads have run can hang the children), or joins a
group started elsewhere: with ``RANK`` and ``WORLD_SIZE`` (and ``MASTER_ADDR`` / ``MASTER_PORT``) in the
environment, as ``torchrun`` sets them, this process is one learner of that group.
"""

from __future__ import annotations

import datetime
import logging
import multiprocessing as mp
import os
import socket
import time

import torch
import torch.distributed as dist

from marl_sf.algo.env_workers import die_with_parent
from marl_sf.selfplay.league import uses_opponents

log = logging.getLogger("marl_sf")


def check_num_learners(cfg) -> None:
    """Check ``--num_learners`` against the rest of the config.

    Raises:
        ValueError: fewer than 1 learner, ``--num_envs`` not divisible by it, or self-play opponents (their pool
            lives with a single learner for now); the message gives the fix.
    """
    n = cfg.num_learners
    if n < 1:
        raise ValueError(f"--num_learners={n}: give 1 or more learner processes")
    if n > 1 and cfg.num_envs % n:
        raise ValueError(f"--num_envs={cfg.num_envs} does not split over --num_learners={n}: give a multiple of {n}")
    if n > 1 and uses_opponents(cfg):
        raise ValueError("--num_learners > 1 does not train against opponent pools yet: use one learner for self-play")


def joined_group() -> bool:
    """Whether ``torchrun`` (or another launcher) made this process one learner of a group (``RANK`` and
    ``WORLD_SIZE`` set)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def learner_cfg(cfg, world_size: int):
    """The config one of ``world_size`` learner processes runs: its share of the envs, envs stepped in the process
    itself unless ``--num_workers`` asks for env workers (the learner processes already use the cores)."""
    cfg.num_envs //= world_size
    if cfg.num_workers < 0:
        cfg.num_workers = 0
    return cfg


def run_learners(cfg, train_one) -> int:
    """Run ``train_one(cfg)`` in ``cfg.num_learners`` processes joined by a gloo (CPU) or nccl (GPU) group;
    returns rank 0's status, or the first non-zero exit code when a learner fails (the others are stopped).

    ``train_one`` is called with the process group initialized and returns an exit status.
    """
    if joined_group():
        return _as_learner(cfg, train_one, int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]))
    port = _free_port()
    ctx = mp.get_context("fork")
    procs = []
    for rank in range(cfg.num_learners):
        env = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank),
               "WORLD_SIZE": str(cfg.num_learners)}  # fmt: skip
        args = (cfg, train_one, env, os.getpid())
        procs.append(ctx.Process(target=_child, args=args, name=f"learner-{rank}"))
    for p in procs:
        p.start()
    log.info("learner processes: %d (torch.distributed, %s)", len(procs), _backend(cfg))
    try:
        return _wait(procs)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join(timeout=10)


def _child(cfg, train_one, env: dict, parent_pid: int) -> None:
    die_with_parent(parent_pid, use_pdeathsig=True)  # no learner outlives the run's process
    os.environ.update(env)
    raise SystemExit(_as_learner(cfg, train_one, int(env["RANK"]), int(env["WORLD_SIZE"])))


def _as_learner(cfg, train_one, rank: int, world_size: int) -> int:
    timeout = datetime.timedelta(seconds=max(60.0, cfg.worker_timeout_sec))  # a lost peer ends the collectives
    if _backend(cfg) == "nccl":  # one GPU per learner on its machine (torchrun sets LOCAL_RANK)
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", rank)) % torch.cuda.device_count())
    dist.init_process_group(_backend(cfg), rank=rank, world_size=world_size, timeout=timeout)
    try:
        # one seed for all (rank 0's, drawn there when unset): the same weights and the same minibatch draws
        seed = torch.tensor(cfg.seed if cfg.seed is not None else int(torch.randint(0, 2**31 - 1, ())))
        seed = seed.cuda() if _backend(cfg) == "nccl" else seed  # nccl moves device tensors only
        dist.broadcast(seed, src=0)
        cfg.seed = int(seed)
        return train_one(learner_cfg(cfg, world_size))
    finally:
        dist.destroy_process_group()


STOP_GRACE_SEC = 30.0
"""Seconds the other learners get, after one failed, to end on their own (a lost peer breaks their next collective;
rank 1 then writes the exit checkpoint in rank 0's place) before they are terminated."""


def _wait(procs: list) -> int:
    """Wait for every learner; when one fails, the others end on their own or are terminated after
    ``STOP_GRACE_SEC`` (a SIGTERM sooner could cut short the exit checkpoint that rank 1 writes in a dead rank 0's
    place). Returns rank 0's exit code, or the failure's."""
    remaining = list(procs)
    while remaining:
        for p in list(remaining):
            p.join(timeout=0.5)
            if p.exitcode is None:
                continue
            remaining.remove(p)
            if p.exitcode != 0 and not (p is procs[0] and p.exitcode == 2):
                log.error("%s exited with code %s: the other learner processes stop (terminated after %.0f s)",
                          p.name, p.exitcode, STOP_GRACE_SEC)  # fmt: skip
                deadline = time.monotonic() + STOP_GRACE_SEC
                for other in remaining:
                    other.join(timeout=max(0.0, deadline - time.monotonic()))
                    if other.is_alive():
                        other.terminate()
                return p.exitcode
    return procs[0].exitcode


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (not Linux): ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def _backend(cfg) -> str:
    return "nccl" if cfg.device == "gpu" and torch.cuda.is_available() else "gloo"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
