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

from marl_sf.algo.env_runner import EnvGroup, StepBuffers
from marl_sf.envs.registry import create_env
from marl_sf.utils.attr_dict import AttrDict


class EnvWorkerError(RuntimeError):
    """An env worker failed: raised in the main process with the worker's own traceback."""


def _shared_alloc(shape: tuple[int, ...], dtype) -> np.ndarray:
    """A zeroed array in shared memory (a torch shared tensor's numpy view; freed with the last reference)."""
    dtype = np.dtype(dtype)
    tensor = torch.zeros(int(np.prod(shape)) * dtype.itemsize, dtype=torch.uint8).share_memory_()
    return tensor.numpy().view(dtype).reshape(shape)


def _worker_main(worker_index: int, env_ids: list[int], cfg, buffers: StepBuffers, with_state: bool, conn) -> None:
    """Worker loop: build the envs, then answer ``reset``/``step``/``close`` commands until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process handles Ctrl-C and closes workers
    torch.set_num_threads(1)
    group = None
    try:
        envs = [
            create_env(cfg.env, cfg=cfg, env_config=AttrDict(worker_index=worker_index, vector_index=i, env_id=env_id))
            for i, env_id in enumerate(env_ids)
        ]
        group = EnvGroup(envs, buffers, slice(env_ids[0], env_ids[-1] + 1), with_state)
        conn.send(("ok", None))
        while True:
            command, arg = conn.recv()
            if command == "close":
                break
            if command == "reset":
                group.reset(arg)
            else:
                group.step()
            conn.send(("ok", None))
    except Exception:
        conn.send(("error", traceback.format_exc()))
    finally:
        if group is not None:
            group.close()
        conn.close()


class ProcessEnvRunner:
    """Steps ``num_envs`` envs in ``num_workers`` processes over shared-memory ``StepBuffers``.

    Args:
        cfg: config (``env``, ``worker_timeout_sec``).
        probe_env: one contract env of the kind, to size the buffers (not stepped).
        num_envs: E, a multiple of ``num_workers``.
        num_workers: worker processes; worker w steps envs ``w * E / W`` to ``(w + 1) * E / W - 1``.
        with_state: workers also write ``env.state()``.

    Raises:
        ValueError: ``num_envs`` does not divide among the workers.
        EnvWorkerError: a worker failed to build its envs.
    """

    def __init__(self, cfg, probe_env, num_envs: int, num_workers: int, with_state: bool):
        if num_envs % num_workers:
            raise ValueError(
                f"--num_envs={num_envs} does not divide among --num_workers={num_workers}: "
                f"use a multiple of {num_workers}"
            )
        self.timeout = cfg.get("worker_timeout_sec", 60.0)
        self.buffers = StepBuffers.allocate(probe_env, num_envs, with_state, _shared_alloc)
        # fork: workers inherit the shared buffers and the env registry (envs registered at run time included)
        ctx = mp.get_context("fork")
        per_worker = num_envs // num_workers
        self.env_ids = [list(range(w * per_worker, (w + 1) * per_worker)) for w in range(num_workers)]
        self.conns, self.processes = [], []
        for w, ids in enumerate(self.env_ids):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker_main, args=(w, ids, cfg, self.buffers, with_state, child), daemon=True)
            proc.start()
            child.close()
            self.conns.append(parent)
            self.processes.append(proc)
        self._wait_all()

    def _wait_all(self) -> None:
        """Wait for every worker's reply; raise on an error, a dead worker or a timeout."""
        for w, conn in enumerate(self.conns):
            where = f"env worker {w} (env_ids {self.env_ids[w][0]}..{self.env_ids[w][-1]})"
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

    def step(self, actions: np.ndarray) -> StepBuffers:
        """Step with ``actions [E, A, ...]``; returns the shared buffers (valid until the next call)."""
        self.buffers.actions[...] = actions
        self._command("step")
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
