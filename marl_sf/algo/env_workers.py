"""Env worker processes: each steps a group of envs into shared-memory buffers; only small commands and
replies cross process boundaries (no arrays are pickled per step).

Workers start with ``fork`` or ``spawn`` (``--worker_start_method``). Either way they get what they need
explicitly: the env factory (``marl_sf.algo.env_factory.EnvFactory``: the registered maker, pickled by reference,
and the main process' decisions) and the shared buffers' tensors (shared, not copied, when pickled), so a
spawned worker builds the same envs without the registrations the main process made at run time.

Faults end the run cleanly: an exception in a worker comes back with its traceback, a worker that dies or
does not answer within ``--worker_timeout_sec`` is reported by index and env ids, and ``close()`` stops every
worker (terminating, then killing, those that do not exit). Workers die with the main process, however it dies:
they hold no copy of its pipe ends, arm ``PR_SET_PDEATHSIG`` on Linux (else watch their parent pid), and take
SIGTERM's default action. Shared memory is released with the last reference to it.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
import traceback
import weakref

import numpy as np
import torch

from marl_sf.algo.env_factory import EnvFactory, env_factory
from marl_sf.algo.env_runner import EnvGroup, StepBuffers, check_split, split_rows
from marl_sf.envs.spec import EnvSpec
from marl_sf.utils.attr_dict import AttrDict

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


class EnvWorkerError(RuntimeError):
    """An env worker failed: raised in the main process with the worker's own traceback."""


class SharedArrays:
    """An ``Alloc`` for ``StepBuffers.allocate``: zeroed arrays in shared memory (numpy views of torch shared
    tensors, freed with the last reference), remembering the tensors in allocation order so that a worker
    rebuilds the same arrays with ``replay``."""

    def __init__(self):
        self.tensors: list[tuple[torch.Tensor, tuple[int, ...], str]] = []

    def __call__(self, shape: tuple[int, ...], dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        tensor = torch.zeros(int(np.prod(shape)) * dtype.itemsize, dtype=torch.uint8).share_memory_()
        self.tensors.append((tensor, tuple(shape), dtype.str))
        return _view(tensor, shape, dtype)


def _view(tensor: torch.Tensor, shape: tuple[int, ...], dtype) -> np.ndarray:
    """The ``[shape]`` array of ``dtype`` over a flat uint8 tensor's memory."""
    return tensor.numpy().view(np.dtype(dtype)).reshape(shape)


def replay(tensors: list[tuple[torch.Tensor, tuple[int, ...], str]]):
    """An ``Alloc`` handing out views of ``tensors`` (``SharedArrays.tensors``) in order: called in the same order
    by ``StepBuffers.allocate`` with the same spec, it rebuilds the main process' buffers over the same memory."""
    remaining = iter(tensors)

    def alloc(shape, dtype) -> np.ndarray:
        tensor, saved_shape, saved_dtype = next(remaining)
        if saved_shape != tuple(shape) or saved_dtype != np.dtype(dtype).str:  # a different spec or allocation order
            raise RuntimeError(f"shared buffer {saved_shape} {saved_dtype} replayed as {tuple(shape)} {dtype}")
        return _view(tensor, shape, dtype)

    return alloc


def die_with_parent(parent_pid: int, use_pdeathsig: bool) -> None:
    """Make this worker die when the process that started it dies, however it dies (SIGKILL included).

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` when the worker was started from the parent's main thread (the
    kernel sends the signal when the *thread* that forked exits). Elsewhere, or when prctl is unavailable: a
    daemon thread that exits the worker once ``os.getppid()`` changes. Either way, a parent already gone exits now.
    """
    armed = False
    if use_pdeathsig and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)
    if not armed:
        threading.Thread(target=_watch_parent, args=(parent_pid,), name="parent-watch", daemon=True).start()


def _watch_parent(parent_pid: int) -> None:
    """Exit this process as soon as its parent is no longer ``parent_pid`` (it was re-parented: the parent died)."""
    while os.getppid() == parent_pid:
        time.sleep(0.5)
    os._exit(1)


def _worker_main(
    worker_index: int, splits: list[slice], cfg, make: EnvFactory, shared: dict, with_state: bool, conn, spawn: dict
) -> None:
    """Worker loop: build one env group per split (``splits[g]``: its buffer rows in group g) with ``make``, then
    answer ``reset``/``step g``/``close`` commands until told to stop, or until the main process goes away.

    ``shared``: ``env_spec``, ``num_envs`` and ``tensors`` (``SharedArrays.tensors``), from which the worker rebuilds
    the shared ``StepBuffers``. ``spawn``: ``parent_pid``, ``use_pdeathsig`` and ``parent_conns`` (with fork, the
    main process' ends of every pipe made so far, inherited: closed here, so that the main process' death closes
    this worker's pipe; empty with spawn, which inherits none).
    """
    for inherited in spawn["parent_conns"]:
        inherited.close()
    die_with_parent(spawn["parent_pid"], spawn["use_pdeathsig"])
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the trainer's handler: terminate() must stop a worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the main process stops workers
    torch.set_num_threads(1)
    groups = []
    try:
        alloc = replay(shared["tensors"])
        buffers = StepBuffers.allocate(shared["env_spec"], shared["num_envs"], with_state, alloc)
        for rows in splits:
            envs = [
                make(cfg, env_config=AttrDict(worker_index=worker_index, vector_index=i, env_id=r))
                for i, r in enumerate(range(rows.start, rows.stop))
            ]
            groups.append(EnvGroup(envs, buffers, rows, with_state, cfg.env))
        conn.send(("ok", None))
        while True:
            try:
                command, arg = conn.recv()
            except EOFError:  # the main process closed its end, or died: nothing to report to
                break
            if command == "close":
                break
            if command == "reset":
                for group in groups:
                    group.reset(arg)
            else:
                groups[arg].step()
            conn.send(("ok", None))
    except Exception:
        with contextlib.suppress(OSError):
            conn.send(("error", traceback.format_exc()))
    finally:
        for group in groups:
            group.close()
        conn.close()


def stop_workers(processes: list, conns: list, grace: float = 5.0, term_grace: float = 2.0) -> None:
    """Ask every worker to stop; terminate (SIGTERM) those still running after ``grace`` seconds, kill (SIGKILL)
    those still running ``term_grace`` seconds later (a worker blocking SIGTERM in native code); reap them all.
    Returns within about ``grace + 2 * term_grace`` seconds whatever the workers do."""
    for conn in conns:
        with contextlib.suppress(BrokenPipeError, OSError):  # a worker that failed has closed its end
            conn.send(("close", None))
    for stop, wait in ((None, grace), ("terminate", term_grace), ("kill", term_grace)):
        alive = [p for p in processes if p.is_alive()]
        if not alive:
            break
        for proc in alive:
            if stop is not None:
                getattr(proc, stop)()
        deadline = time.monotonic() + wait
        for proc in alive:
            proc.join(timeout=max(deadline - time.monotonic(), 0.0))
    for conn in conns:
        conn.close()


class ProcessEnvRunner:
    """Steps ``num_envs`` envs in ``num_workers`` processes over shared-memory ``StepBuffers``.

    The envs form ``num_splits`` groups of contiguous buffer rows (``--worker_num_splits``); each worker steps
    an equal, contiguous share of every group, so while the sampler runs inference on one group every worker
    is stepping its share of another (double buffering).

    Args:
        cfg: the config (``env``, ``worker_timeout_sec``, ``worker_start_method``).
        env_spec: the envs' shape, to size the buffers.
        num_envs: E, a multiple of ``num_workers * num_splits``.
        num_workers: worker processes.
        with_state: also keep ``env.state()`` in the buffers.
        num_splits: env groups.

    Raises:
        ValueError: E does not divide among the workers and groups.
        EnvWorkerError: a worker failed to build its envs.
        ValueError: ``--worker_start_method=spawn`` with an env maker that does not pickle (see
            ``EnvFactory.check_picklable``).
    """

    def __init__(self, cfg, env_spec: EnvSpec, num_envs: int, num_workers: int, with_state: bool, num_splits: int = 1):
        check_split(num_envs, num_splits, num_workers)
        self.timeout = cfg.worker_timeout_sec
        self.num_splits = num_splits
        make = env_factory(cfg)
        if cfg.worker_start_method == "spawn":
            make.check_picklable("--worker_start_method=spawn needs (spawned env workers are sent the maker)")
        shared_arrays = SharedArrays()
        self.spec = env_spec
        self.buffers = StepBuffers.allocate(env_spec, num_envs, with_state, shared_arrays)
        self.tensors = self.buffers.as_tensors()  # the sampler's torch view of the shared buffers
        shared = {"env_spec": env_spec, "num_envs": num_envs, "tensors": shared_arrays.tensors}
        per_worker = num_envs // (num_splits * num_workers)  # envs of one worker in one group
        groups = [split_rows(num_envs, num_splits, g) for g in range(num_splits)]
        # worker w steps rows [start + w * per_worker, start + (w + 1) * per_worker) of every group
        worker_splits = [
            [slice(rows.start + w * per_worker, rows.start + (w + 1) * per_worker) for rows in groups]
            for w in range(num_workers)
        ]
        self.env_ids = [[r for rows in splits for r in range(rows.start, rows.stop)] for splits in worker_splits]
        ctx = mp.get_context(cfg.worker_start_method)
        forked = cfg.worker_start_method == "fork"
        self.conns, self.processes = [], []
        # stops the workers on close() or garbage collection, and at interpreter exit (registered below, after
        # multiprocessing's own exit handler, so it runs first: that one would join a worker ignoring SIGTERM forever)
        self._finalizer = weakref.finalize(self, stop_workers, self.processes, self.conns)
        self._finalizer.atexit = False
        use_pdeathsig = threading.current_thread() is threading.main_thread()
        for w, splits in enumerate(worker_splits):
            parent, child = ctx.Pipe()
            inherited = [*self.conns, parent] if forked else []
            spawn = {"parent_pid": os.getpid(), "use_pdeathsig": use_pdeathsig, "parent_conns": inherited}
            args = (w, splits, cfg, make, shared, with_state, child, spawn)
            proc = ctx.Process(target=_worker_main, args=args, daemon=True)
            proc.start()
            child.close()
            self.conns.append(parent)
            self.processes.append(proc)
        atexit.register(self._finalizer)
        try:
            self._wait_all()
        except BaseException:
            self.close()  # no worker outlives a failed start
            raise

    def split_rows(self, split: int) -> slice:
        """The buffer rows of env group ``split``."""
        return split_rows(len(self.buffers.active), self.num_splits, split)

    def _wait_all(self) -> None:
        """Wait for every worker's reply; raise on an error, a dead worker or a timeout."""
        for w, conn in enumerate(self.conns):
            where = f"env worker {w} (env_ids {self.env_ids[w]})"
            if not conn.poll(self.timeout):
                self.processes[w].kill()  # hung: it would not answer a close either (SIGKILL reaches native code)
                raise EnvWorkerError(
                    f"{where} did not answer within {self.timeout:.0f} s and was killed: an env is hung in "
                    "reset/step (raise --worker_timeout_sec if its steps are legitimately slow)"
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

    def step_async(self, split: int, actions: torch.Tensor | np.ndarray) -> None:
        """Start stepping group ``split`` with ``actions [E_g, A, ...]``; ``wait(split)`` collects it."""
        self.tensors.actions[self.split_rows(split)].copy_(torch.as_tensor(actions))
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
        """Stop every worker: ask, terminate those still running after 5 s, kill those still running 2 s later.

        Bounded (about 9 s) whatever the workers do; a second call does nothing."""
        self._finalizer()
        atexit.unregister(self._finalizer)
