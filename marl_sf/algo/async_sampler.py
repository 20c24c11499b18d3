"""Asynchronous sampling (``--async_rl``, Sample Factory's APPO): a sampler thread collects the next rollouts with the
newest weights it has while the learner trains on earlier ones.

The thread runs marl_sf's own ``Sampler`` with copies of the policies' models and rollout storages. Each finished
rollout is copied out, tagged with the policy version (learner updates) of the weights that collected it, and queued;
``collect`` hands the oldest queued rollout to the learner's storages. A version is one update of every policy.
Rollout k is trained by update k; the thread starts it only once ``k - max_policy_lag`` updates are done and fewer
than ``--num_batches_to_accumulate`` finished rollouts wait, and loads the newest published weights first, so no
rollout is trained more than ``--max_policy_lag`` versions after the weights that collected it (``version_diff`` in
the summaries) and at most that many rollout copies are held. PPO's ratio uses the stored behaviour log-probabilities;
``--with_vtrace`` also corrects the value targets (``marl_sf.algo.vtrace``).

Torch operations and env workers' pipes release the GIL, so on a machine with spare cores the env stepping and
inference of the thread overlap the learner's update.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections import deque

import torch

from marl_sf.algo.sampler import RolloutStats, RolloutStoppedError, Sampler

log = logging.getLogger("marl_sf")


def check_async_cfg(cfg, uses_opponents: bool, num_workers: int, vectorized: bool) -> None:
    """Check that ``--async_rl`` applies to this run (``num_workers``: the env worker processes it will use).

    Raises:
        ValueError: with self-play opponents (their pool changes with the learner's updates: run synchronously), with
            ``--num_learners`` above 1 (data-parallel learners sample synchronously), or with envs stepped in this
            process (``--num_workers=0``, ``--serial_mode``: the watchdog that stops a hung env step interrupts the
            main thread only); the message says which and the fix.
    """
    if not cfg.async_rl or cfg.distributed == "ray":
        return
    if num_workers == 0 and not vectorized:
        raise ValueError("--async_rl=True steps the envs in a sampler thread, where a hung env step cannot be "
                         "interrupted: use env worker processes (--num_workers >= 1, --serial_mode=False) or "
                         "--async_rl=False")  # fmt: skip
    if uses_opponents:
        raise ValueError("--async_rl=True with opponents from a pool (self-play) is not supported: run it with "
                         "--async_rl=False")  # fmt: skip
    if cfg.num_learners > 1:
        raise ValueError("--async_rl=True with --num_learners > 1 is not supported: data-parallel learners sample "
                         "synchronously (--async_rl=False), or use --distributed=ray --async_rl=True")  # fmt: skip


class AsyncSampler:
    """A ``Sampler`` running in a thread of its own, ``--max_policy_lag`` rollouts ahead at most.

    Args:
        cfg: config (``max_policy_lag``).
        make: ``make(models, storages) -> Sampler``: builds the thread's sampler over the given model copies and
            storages (``marl_sf.experiment.make_sampler``).
        models: the learner's models; their weights are published to the thread at each ``collect``.
        storages: the learner's rollout storages, which ``collect`` fills.
    """

    def __init__(self, cfg, make, models: list[torch.nn.Module], storages: list):
        self.max_lag, self.max_ready = cfg.max_policy_lag, max(cfg.num_batches_to_accumulate, 1)
        self.join_timeout = cfg.worker_timeout_sec + 10.0
        self.models, self.storages = models, storages
        self.sampler: Sampler = make([copy.deepcopy(m) for m in models], [copy.deepcopy(st) for st in storages])
        self.cond = threading.Condition()
        self.version, self.weights = 0, self._weights()  # version: learner updates done
        self.calls = 0
        self.ready: deque = deque()  # (tensors per policy, stats, version of the weights that collected it)
        self.error: BaseException | None = None
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="marl_sf-async-sampler", daemon=True)
        self.thread.start()

    def collect(self) -> RolloutStats:
        """The next rollout (sampled actions), written into the learner's storages; publishes the learner's current
        weights first (a call follows each update). ``stats.scalars["version_diff"]``: updates between the weights
        that collected it and the current ones.

        Raises:
            whatever the sampler thread raised (an env's error, a non-finite value), re-raised here.
        """
        with self.cond:
            if self.calls > 0:
                self.version, self.weights = self.calls, self._weights()
                self.cond.notify_all()
            self.calls += 1
            while not self.ready and self.error is None:
                self.cond.wait()
            if self.error is not None:
                raise self.error
            tensors, stats, version = self.ready.popleft()
            self.cond.notify_all()
        for st, rollout in zip(self.storages, tensors, strict=True):
            st.write_envs(rollout, slice(None))
        stats.scalars = {**stats.scalars, "version_diff": float(self.version - version)}
        return stats

    def set_training_info(self, agent_steps: int) -> None:
        """``Sampler.set_training_info`` of the thread's sampler."""
        self.sampler.set_training_info(agent_steps)

    def close(self) -> None:
        """Stop the thread (at its next env step; a hung env worker is reported within ``--worker_timeout_sec``),
        then the sampler and its env workers."""
        with self.cond:
            self.stopping = True
            self.cond.notify_all()
        self.sampler.stop.set()
        self.thread.join(timeout=self.join_timeout)
        if self.thread.is_alive():
            log.warning("the sampler thread did not stop within %.0f s: closing its env workers under it",
                        self.join_timeout)  # fmt: skip
        self.sampler.close()

    def _weights(self) -> list[dict[str, torch.Tensor]]:
        """A copy of every learner model's state (weights and input statistics)."""
        return [{k: v.detach().clone() for k, v in m.state_dict().items()} for m in self.models]

    def _run(self) -> None:
        """The thread: collect rollout k once update ``k - max_policy_lag`` is done, with the newest weights."""
        loaded, k = 0, 0
        try:
            while True:
                with self.cond:
                    while not self.stopping and (k - self.version > self.max_lag or len(self.ready) >= self.max_ready):
                        self.cond.wait()
                    if self.stopping:
                        return
                    version, weights = self.version, self.weights
                if version != loaded:
                    for model, state in zip(self.sampler.models, weights, strict=True):
                        model.load_state_dict(state)
                    loaded = version
                stats = self.sampler.collect()
                tensors = [{n: t.clone() for n, t in st.tensors().items()} for st in self.sampler.storages]
                for st in self.sampler.storages:
                    st.carry_last_step()
                with self.cond:
                    self.ready.append((tensors, stats, version))
                    self.cond.notify_all()
                k += 1
        except RolloutStoppedError:
            return
        except BaseException as exc:  # noqa: BLE001 - handed to the learner's thread, which raises it
            with self.cond:
                self.error = exc
                self.cond.notify_all()
