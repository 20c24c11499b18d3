"""Env worker processes: each steps a group of envs into shared-memory buffers; only small commands and
replies cross process boundaries (no arrays are pickled per step).

Faults end the run cleanly: an exception in a worker comes back with its traceback, a worker that dies or
does not answer within ``--worker_timeout_sec`` is reported by index and env ids, and ``close()`` stops every
worker (terminating those that do not exit). Shared memory is released with the last reference to it.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import signal
import traceback

import numpy as np
import torch

from marl_sf.algo.env_runner import EnvGroup, StepBuffers, check_split, split_rows
from marl_sf.envs.registry import create_env
from marl_sf.utils.attr_dict import AttrDict


class EnvWorkerError(RuntimeError):
    """An env worker failed: raised in the main process with the worker's own traceback."""


def _shared_alloc(shape: tuple[int, ...], dtype) -> np.ndarray:
    """A zeroed array in shared memory (a torch shared tensor's numpy view; freed with the last reference)."""
    dtype = np.dtype(dtype)
    tensor = torch.zeros(int(np.prod(shape)) * dtype.itemsize, dtype=torch.uint8).share_memory_()
    return tensor.numpy().view(dtype).reshape(shape)


def _worker_main(worker_index: int, splits: list[slice], cfg, buffers: StepBuffers, with_state: bool, conn) -> None:
    """Worker loop: build one env group per split (``splits[g]``: its buffer rows in group g), then answer
    ``reset``/``step g``/``close`` commands until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process handles Ctrl-C and closes workers
    torch.set_num_threads(1)
    groups = []
    try:
        for rows in splits:
            envs = [
                create_env(cfg.env, cfg=cfg, env_config=AttrDict(worker_index=worker_index, vector_index=i, env_id=r))
                for i, r in enumerate(range(rows.start, rows.stop))
            ]
            groups.append(EnvGroup(envs, buffers, rows, with_state))
        conn.send(("ok", None))
        while True:
            command, arg = conn.recv()
            if command == "close":
                break
            if command == "reset":
                for group in groups:
                    group.reset(arg)
            else:
                groups[arg].step()
            conn.send(("ok", None))
    except Exception:
        conn.send(("error", traceback.format_exc()))
    finally:
        for group in groups:
            group.close()
        conn.close()


class ProcessEnvRunner:
    """Steps ``num_envs`` envs in ``num_workers`` processes over shared-memory ``StepBuffers``.

    The envs form ``num_splits`` groups of contiguous buffer rows (``--worker_num_splits``); each worker steps
    an equal, contiguous share of every group, so while the sampler runs inference on one group every worker
    is stepping its share of another (double buffering).

    Args:
        cfg: the config (``env``, ``worker_timeout_sec``).
        probe_env: a contract env of the kind, to size the buffers.
        num_envs: E, a multiple of ``num_workers * num_splits``.
        num_workers: worker processes.
        with_state: also keep ``env.state()`` in the buffers.
        num_splits: env groups.

    Raises:
        ValueError: E does not divide among the workers and groups.
        EnvWorkerError: a worker failed to build its envs.
    """

    def __init__(self, cfg, probe_env, num_envs: int, num_workers: int, with_state: bool, num_splits: int = 1):
        check_split(num_envs, num_splits, num_workers)
        self.timeout = cfg.get("worker_timeout_sec", 60.0)
        self.num_splits = num_splits
        self.buffers = StepBuffers.allocate(probe_env, num_envs, with_state, _shared_alloc)
        per_worker = num_envs // (num_splits * num_workers)  # envs of one worker in one group
        groups = [split_rows(num_envs, num_splits, g) for g in range(num_splits)]
        # worker w steps rows [start + w * per_worker, start + (w + 1) * per_worker) of every group
        worker_splits = [
            [slice(rows.start + w * per_worker, rows.start + (w + 1) * per_worker) for rows in groups]
            for w in range(num_workers)
        ]
        self.env_ids = [[r for rows in splits for r in range(rows.start, rows.stop)] for splits in worker_splits]
        # fork: workers inherit the shared buffers and the env registry (envs registered at run time included)
        ctx = mp.get_context("fork")
        self.conns, self.processes = [], []
        for w, splits in enumerate(worker_splits):
            parent, child = ctx.Pipe()
            args = (w, splits, cfg, self.buffers, with_state, child)
            proc = ctx.Process(target=_worker_main, args=args, daemon=True)
            proc.start()
            child.close()
            self.conns.append(parent)
            self.processes.append(proc)
        self._wait_all()

    def split_rows(self, split: int) -> slice:
        """The buffer rows of env group ``split``."""
        return split_rows(len(self.buffers.active), self.num_splits, split)

    def _wait_all(self) -> None:
        """Wait for every worker's reply; raise on an error, a dead worker or a timeout."""
        for w, conn in enumerate(self.conns):
            where = f"env worker {w} (env_ids {self.env_ids[w]})"
            if not conn.poll(self.timeout):
                raise EnvWorkerError(
                    f"{where} did not answer within {self.timeout:.0f} s: an env is hung in reset/step "
                    "(raise --worker_timeout_sec if its steps are legitimately slow)"
                )
            try:
                status, payload = conn.recv()
            except EOFError:
                code = self.processes[w].exitcode
                raise EnvWorkerError(f"{where} died (exit code {code})") from None
            if status == "error":
                raise EnvWorkerError(f"{where} raised an exception:\n{payload}")

    def _command(self, command: str, arg=None) -> None:
        for conn in self.conns:
            conn.send((command, arg))
        self._wait_all()

    def reset(self, seed: int | None) -> StepBuffers:
        """Reset every env (row r with ``seed + r``); returns the shared buffers."""
        self._command("reset", seed)
        return self.buffers

    def step_async(self, split: int, actions: np.ndarray) -> None:
        """Start stepping group ``split`` with ``actions [E_g, A, ...]``; ``wait(split)`` collects it."""
        self.buffers.actions[self.split_rows(split)] = actions
        try:
            for conn in self.conns:
                conn.send(("step", split))
        except (BrokenPipeError, OSError):  # a worker failed on an earlier group and left: report its error
            self._wait_all()
            raise EnvWorkerError("an env worker closed its pipe without reporting an error") from None

    def wait(self, split: int) -> StepBuffers:
        """Wait for group ``split``'s step (groups are waited for in the order they were started)."""
        self._wait_all()
        return self.buffers

    def close(self) -> None:
        """Stop every worker: ask, then terminate those still running after a few seconds."""
        for conn in self.conns:
            with contextlib.suppress(BrokenPipeError, OSError):  # a worker that failed has closed its end
                conn.send(("close", None))
        for proc in self.processes:
            proc.join(timeout=5.0)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5.0)
        for conn in self.conns:
            conn.close()
