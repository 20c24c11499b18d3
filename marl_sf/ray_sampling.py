"""``--distributed=ray``: sampling in Ray actors, learning in this process (RLlib's env-runner layout).

Each of ``--num_samplers`` actors runs marl_sf's own ``Sampler`` on its share of the envs (``--num_envs / N``: env
workers, envs in the actor or one vectorized env) with a copy of every policy, and returns whole rollouts: one
``RolloutStorage.tensors()`` dict per policy, ``[T, E_s, A_p, ...]``. The learner writes sampler i's rollout into env
rows ``[i * E_s, (i + 1) * E_s)`` of its own storages, so one update sees the same ``[T, E, A_p]`` rollout as on one
machine, and publishes the new weights with one ``ray.put`` per update.

Synchronous by default (``--async_rl=False``): every rollout comes from the current weights. With
``--async_rl=True`` the samplers collect the next rollout while the learner updates, with the weights one
version old (a lag of 1, within any ``--max_policy_lag``: the bounded policy lag of Sample Factory's APPO; PPO's ratio
uses the behaviour policy's stored log probabilities). Every rollout carries the policy version it was collected with.

A sampler actor that dies (its process killed, its node lost) is restarted by Ray (``--sampler_max_restarts``); its
rollout is lost, counted (``distributed/lost_rollouts``) and logged, and it collects again with the current weights
on fresh env seeds. Ray pickles what crosses processes; nothing from a checkpoint or another untrusted file is
unpickled here.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import time

from marl_sf.algo.env_runner import check_split
from marl_sf.algo.sampler import RolloutStats
from marl_sf.ray_actor import Registrations, SamplerResult, SamplerWorker, sampler_cfg
from marl_sf.selfplay.remote import pool_view, to_episode_results
from marl_sf.utils.extras import require
from marl_sf.utils.rng import continued_seed

log = logging.getLogger("marl_sf")


def check_ray_cfg(cfg) -> None:
    """Check the ``--distributed=ray`` options against the rest of the config (nothing to check without it).

    Raises:
        ValueError: fewer than 1 sampler, ``--num_envs`` not divisible by ``--num_samplers`` (or a sampler's share
            by its env groups) or ``--num_learners > 1`` (not combined with Ray samplers yet); the message gives the
            fix.
        ImportError: Ray is not installed (``pip install marl-sf[ray]``).
    """
    if cfg.distributed != "ray":
        return
    n = cfg.num_samplers
    if n < 1:
        raise ValueError(f"--num_samplers={n}: give 1 or more sampler actors")
    if cfg.num_envs % n:
        raise ValueError(f"--num_envs={cfg.num_envs} does not split over --num_samplers={n}: give a multiple of {n}")
    actor = sampler_cfg(cfg)  # each actor's envs split into its env groups (and its env workers, if any)
    try:
        check_split(actor.num_envs, actor.worker_num_splits, max(actor.num_workers, 1))
    except ValueError as exc:
        raise ValueError(f"each of the {n} sampler actors steps --num_envs / --num_samplers = {actor.num_envs} envs, "
                         f"and {exc}") from None  # fmt: skip
    if cfg.num_learners > 1:
        raise ValueError("--distributed=ray with --num_learners > 1 is not supported yet: choose one of the two")
    require("ray", "ray", "--distributed=ray")


def start_ray(cfg) -> bool:
    """Join ``--ray_address`` or start a local Ray instance with a CPU per sampler at least; returns whether this
    call started Ray (and so shuts it down at the end). The process keeps its own SIGTERM handler (``ray.init``
    installs one that exits at once), so SIGTERM still ends the run with a checkpoint."""
    import ray

    if ray.is_initialized():
        return False
    sigterm = signal.getsignal(signal.SIGTERM)
    try:
        if cfg.ray_address:
            ray.init(address=cfg.ray_address, logging_level=logging.WARNING)
            log.info("ray: joined the cluster at %s (%s)", cfg.ray_address, ray.cluster_resources())
        else:  # "local": a new instance even when RAY_ADDRESS points at a cluster
            cpus = max(os.cpu_count() or 1, math.ceil(cfg.num_samplers * cfg.sampler_num_cpus))
            ray.init(address="local", num_cpus=cpus, include_dashboard=False, logging_level=logging.WARNING)
            log.info("ray: started a local instance with %d CPUs", cpus)
    finally:
        signal.signal(signal.SIGTERM, sigterm)
    return True


class RaySampler:
    """The learner's side of ``--distributed=ray``: ``collect()`` fills the learner's storages from the sampler
    actors' rollouts and returns the merged ``RolloutStats``, as ``Sampler.collect`` does on one machine.

    Args:
        cfg: config (``num_samplers``, ``async_rl``, ``sampler_*``, ``ray_address``).
        specs, models, storages: the learner's policies, their models (whose weights are published) and rollout
            storages (``[T, E, A_p]``, E = ``--num_envs``).
        agent_steps: agent-steps trained before (a resumed run); env seeds continue from them.
        league: with self-play, the learner's ``League``: its pools are sent to the samplers before each rollout
            (``marl_sf.selfplay.remote``) and the games they finish come back in ``RolloutStats.match_results``.

    Raises:
        ValueError, ImportError: see ``check_ray_cfg``.
    """

    def __init__(self, cfg, specs, models, storages, agent_steps: int = 0, league=None):
        import ray

        check_ray_cfg(cfg)
        self.cfg, self.specs, self.models, self.storages = cfg, specs, models, storages
        self.league, self.pool = league, None  # self-play: the learner's league, and its view sent this collect
        self.snapshot_refs: dict[str, object] = {}  # each pool snapshot's weights in the object store, by name
        self.agent_steps, self.version, self.weights, self.pending = agent_steps, -1, None, None
        self.training_steps = agent_steps
        self.lost, self.envs_each = 0, cfg.num_envs // cfg.num_samplers
        self.deaths = [0] * cfg.num_samplers  # per actor, over the run (Ray's max_restarts counts the same)
        self.actors, self.pids = [], []
        self.started_ray = start_ray(cfg)
        try:
            worker = ray.remote(SamplerWorker).options(
                num_cpus=cfg.sampler_num_cpus, num_gpus=cfg.sampler_num_gpus, max_restarts=cfg.sampler_max_restarts,
                max_task_retries=0, scheduling_strategy="SPREAD",
            )  # fmt: skip
            actor_cfg, regs = sampler_cfg(cfg), Registrations.capture(cfg)
            self.actors = [worker.remote(actor_cfg, i, regs) for i in range(cfg.num_samplers)]
            for i, where in enumerate(self._started([a.info.remote() for a in self.actors])):
                self.pids.append(where["pid"])
                log.info("sampler actor %d: pid %d on node %s, %d envs", i, where["pid"], where["node_id"],
                         self.envs_each)  # fmt: skip
        except BaseException:
            self.close()
            raise

    def _started(self, refs: list) -> list:
        """``ray.get(refs)`` of the actors' first answers, within ``2 * --worker_timeout_sec``.

        Raises:
            TimeoutError: the actors did not start: the cluster cannot place them (the message gives what they ask
                for and what it has) or they hang while starting.
        """
        import ray
        from ray.exceptions import GetTimeoutError

        timeout = 2 * self.cfg.worker_timeout_sec
        try:
            return ray.get(refs, timeout=timeout)
        except GetTimeoutError:
            raise TimeoutError(
                f"the {len(refs)} sampler actors did not start within {timeout:.0f} s (2 x --worker_timeout_sec): each "
                f"asks for {self.cfg.sampler_num_cpus} CPUs and {self.cfg.sampler_num_gpus} GPUs "
                f"(--sampler_num_cpus, --sampler_num_gpus) and the cluster has {ray.cluster_resources()}"
            ) from None

    def collect(self) -> RolloutStats:
        """One rollout from every sampler, merged into the storages (sampler i: env rows ``i * E_s`` on).

        Raises:
            RuntimeError: a sampler actor died more than ``--sampler_max_restarts`` times, or does not come back.
        """
        self._publish()
        if self.league is not None:  # the opponents of the episodes that start in this collect
            self.pool = pool_view(self.league, self.snapshot_refs)
        if self.pending is None:
            self.pending = [self._submit(i) for i in range(len(self.actors))]
        results = [self._result(i, ref) for i, ref in enumerate(self.pending)]
        self.pending = None
        if self.cfg.async_rl:  # the next rollouts run during the update, on these (pre-update) weights
            self.pending = [self._submit(i) for i in range(len(self.actors))]
        stats = self._merge(results)
        self.agent_steps += stats.agent_steps
        return stats

    def set_training_info(self, agent_steps: int) -> None:
        """The run's agent-steps so far, sent with the next collect to each actor's ``Sampler.set_training_info``."""
        self.training_steps = agent_steps

    def _publish(self) -> None:
        """Put the current weights in Ray's object store, once for all actors."""
        import ray

        self.version += 1
        weights = {s.policy_id: {k: v.cpu() for k, v in m.state_dict().items()} for s, m in zip(self.specs,
                   self.models, strict=True)}  # fmt: skip
        self.weights = ray.put(weights)

    def _submit(self, i: int):
        """Ask actor i for a rollout of the current weights; its envs' seeds (used when the actor builds its envs,
        at its first collect) continue from the agent-steps so far and its deaths, so a restart draws fresh ones."""
        seed = continued_seed(self.cfg.seed, self.agent_steps, self.deaths[i])
        seed = None if seed is None else seed + i * self.envs_each
        return self.actors[i].collect.remote(self.weights, self.version, seed, self.pool, self.training_steps)

    def _result(self, i: int, ref) -> SamplerResult:
        """Sampler i's rollout; when the actor died, count the lost rollout, wait for Ray's restart of it and
        collect again."""
        import ray
        from ray.exceptions import RayActorError

        while True:
            try:
                result = ray.get(ref)
                break
            except RayActorError as exc:
                self.lost, self.deaths[i] = self.lost + 1, self.deaths[i] + 1
                why = " ".join(str(exc).split())[:200]
                log.warning("sampler actor %d died: its rollout is lost (%d lost in this run); collecting again on "
                            "the actor Ray restarts (%s)", i, self.lost, why)  # fmt: skip
                if self.deaths[i] > self.cfg.sampler_max_restarts:
                    raise RuntimeError(f"sampler actor {i} died {self.deaths[i]} times, more than "
                                       "--sampler_max_restarts: giving up (look for what kills it in the Ray "
                                       "logs)") from None  # fmt: skip
                self._wait_restarted(i)
                ref = self._submit(i)
        if result.pid != self.pids[i]:  # also an actor restarted while it had no rollout to lose
            log.warning("sampler actor %d restarted: pid %d -> %d", i, self.pids[i], result.pid)
            self.pids[i] = result.pid
        return result

    def _wait_restarted(self, i: int) -> None:
        """Wait until actor i answers again (Ray restarts it, on another node if its node is gone), up to
        ``2 * --worker_timeout_sec``.

        Raises:
            RuntimeError: it does not answer in that time.
        """
        import ray
        from ray.exceptions import GetTimeoutError, RayActorError

        deadline = time.time() + 2 * self.cfg.worker_timeout_sec
        while time.time() < deadline:
            try:
                ray.get(self.actors[i].info.remote(), timeout=max(deadline - time.time(), 0.1))
                return
            except (RayActorError, GetTimeoutError):
                time.sleep(0.5)
        raise RuntimeError(
            f"sampler actor {i} did not come back within {2 * self.cfg.worker_timeout_sec:.0f} s of its death "
            "(2 x --worker_timeout_sec): the cluster may have no room left for it"
        )

    def _merge(self, results: list[SamplerResult]) -> RolloutStats:
        stats = RolloutStats()
        for res in results:
            rows = slice(res.index * self.envs_each, (res.index + 1) * self.envs_each)
            for st, tensors in zip(self.storages, res.tensors, strict=True):
                st.write_envs({k: v.to(st.values.device) for k, v in tensors.items()}, rows)
            stats.agent_steps += res.stats.agent_steps
            stats.episode_returns.extend(res.stats.episode_returns)
            stats.episode_lengths.extend(res.stats.episode_lengths)
            stats.episode_env_ids.extend(rows.start + e for e in res.stats.episode_env_ids)
            stats.match_results.extend(to_episode_results(res.stats.match_results, rows.start))
        lag = self.version - min(res.version for res in results)
        stats.scalars = {"distributed/lost_rollouts": float(self.lost), "version_diff": float(lag)}
        return stats

    def close(self) -> None:
        """Stop the actors (their envs closed when they answer within 5 s; killed either way) and shut Ray down
        when this run started it."""
        import ray

        try:
            closing = [actor.close.remote() for actor in self.actors]
            ray.wait(closing, num_returns=len(closing), timeout=5)  # an actor busy or dead is killed all the same
            for actor in self.actors:
                ray.kill(actor, no_restart=True)
        finally:
            if self.started_ray:
                ray.shutdown()
