"""``--distributed=ray``: sampling in Ray actors, learning in this process (RLlib's env-runner layout).

Each of ``--num_samplers`` actors runs marl_sf's own ``Sampler`` on its share of the envs (``--num_envs / N``: env
workers, envs in the actor or one vectorized env) with a copy of every policy, and returns whole rollouts: one
``RolloutStorage.tensors()`` dict per policy, ``[T, E_s, A_p, ...]``. The learner writes sampler i's rollout into env
rows ``[i * E_s, (i + 1) * E_s)`` of its own storages, so one update sees the same ``[T, E, A_p]`` rollout as on one
machine, and publishes the new weights with one ``ray.put`` per update.

Synchronous by default (``--max_policy_lag=0``): every rollout comes from the current weights. With
``--max_policy_lag=1`` the samplers collect the next rollout while the learner updates, with the weights one
version old (the bounded policy lag of Sample Factory's APPO; PPO's ratio uses the behaviour policy's stored log
probabilities). Every rollout carries the policy version it was collected with.

A sampler actor that dies (its process killed, its node lost) is restarted by Ray (``--sampler_max_restarts``); its
rollout is lost, counted (``distributed/lost_rollouts``) and logged, and it collects again with the current weights
on fresh env seeds. Ray pickles what crosses processes; nothing from a checkpoint or another untrusted file is
unpickled here.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import os
from dataclasses import dataclass, field

import torch

from marl_sf.algo.policy_mapping import registered_policy_mappings
from marl_sf.algo.sampler import RolloutStats, Sampler
from marl_sf.envs.registry import EnvRegistryEntry, env_registry
from marl_sf.models.factory import global_model_factory
from marl_sf.selfplay.league import uses_opponents
from marl_sf.utils.rng import continued_seed

log = logging.getLogger("marl_sf")

_MODEL_FUNCS = ("make_encoder_func", "make_model_core_func", "make_decoder_func", "make_actor_critic_func")


def check_ray_cfg(cfg) -> None:
    """Check the ``--distributed=ray`` options against the rest of the config (nothing to check without it).

    Raises:
        ValueError: fewer than 1 sampler, ``--num_envs`` not divisible by ``--num_samplers``, self-play opponents
            or ``--num_learners > 1`` (not combined with Ray samplers yet); the message gives the fix.
        ImportError: Ray is not installed (``pip install marl-sf[ray]``).
    """
    if cfg.distributed != "ray":
        return
    n = cfg.num_samplers
    if n < 1:
        raise ValueError(f"--num_samplers={n}: give 1 or more sampler actors")
    if cfg.num_envs % n:
        raise ValueError(f"--num_envs={cfg.num_envs} does not split over --num_samplers={n}: give a multiple of {n}")
    if uses_opponents(cfg):
        raise ValueError("--distributed=ray does not train against opponent pools yet: self-play runs in one process")
    if cfg.num_learners > 1:
        raise ValueError("--distributed=ray with --num_learners > 1 is not supported yet: choose one of the two")
    try:
        import ray  # noqa: F401
    except ImportError as exc:
        raise ImportError("--distributed=ray needs Ray: pip install 'marl-sf[ray]'") from exc


@dataclass
class Registrations:
    """What a user registered in the driver process and a sampler actor needs: the entry of ``cfg.env``, the model
    factory's callables and the policy mappings. Ray ships them to the actors (cloudpickle: functions defined in a
    script travel by value), so a registered env or model trains on a cluster without code changes."""

    env_name: str
    env_entry: EnvRegistryEntry | None
    model_funcs: dict = field(default_factory=dict)
    policy_mappings: dict = field(default_factory=dict)

    @classmethod
    def capture(cls, cfg) -> Registrations:
        """This process's registrations for ``cfg.env``."""
        factory = global_model_factory()
        return cls(
            cfg.env,
            env_registry().get(cfg.env),
            {name: getattr(factory, name) for name in _MODEL_FUNCS},
            dict(registered_policy_mappings()),
        )

    def apply(self) -> None:
        """Register them in this process (a sampler actor)."""
        if self.env_entry is not None:
            env_registry()[self.env_name] = self.env_entry
        factory = global_model_factory()
        for name, func in self.model_funcs.items():
            setattr(factory, name, func)
        registered_policy_mappings().update(self.policy_mappings)


def sampler_cfg(cfg):
    """The config one of ``--num_samplers`` actors runs: its share of the envs; envs stepped in the actor itself
    unless ``--num_workers`` asks for env workers."""
    cfg = copy.deepcopy(cfg)
    cfg.num_envs //= cfg.num_samplers
    if cfg.num_workers < 0:
        cfg.num_workers = 0
    return cfg


@dataclass
class SamplerResult:
    """One sampler actor's rollout: ``tensors`` (one ``RolloutStorage.tensors()`` dict per policy, CPU), its stats
    (env ids local to the actor) and the policy ``version`` it was collected with."""

    index: int
    version: int
    stats: RolloutStats
    tensors: list[dict[str, torch.Tensor]]


class SamplerWorker:
    """The work of one sampler actor (``ray.remote`` wraps this class): marl_sf's ``Sampler`` on ``cfg.num_envs``
    envs with a copy of every policy, built at the first ``collect`` (so that a restarted actor starts on the seed
    it is given then)."""

    def __init__(self, cfg, index: int, registrations: Registrations):
        logging.basicConfig(level=logging.WARNING, format="[%(asctime)s] %(message)s", datefmt="%H:%M:%S")
        registrations.apply()
        self.cfg, self.index, self.version = cfg, index, None
        self.sampler: Sampler | None = None

    def info(self) -> dict:
        """``{"pid", "node_id"}``: where this actor runs."""
        import ray

        return {"pid": os.getpid(), "node_id": ray.get_runtime_context().get_node_id()}

    def collect(self, weights: dict, version: int, seed: int | None) -> SamplerResult:
        """Load ``weights`` (``{policy_id: model state_dict}``) unless ``version`` is loaded already, collect one
        rollout and return it; the envs are reset with ``seed`` (env e: ``seed + e``) the first time."""
        if self.sampler is None:
            self.sampler = self._build(seed)
        if version != self.version:
            for spec, model in zip(self.sampler.specs, self.sampler.models, strict=True):
                model.load_state_dict(weights[spec.policy_id])
            self.version = version
        stats = self.sampler.collect()
        tensors = [{k: v.cpu().clone() for k, v in st.tensors().items()} for st in self.sampler.storages]
        for st in self.sampler.storages:
            st.carry_last_step()
        return SamplerResult(self.index, version, stats, tensors)

    def _build(self, seed: int | None) -> Sampler:
        from marl_sf.experiment import (
            build_policies,
            build_storages,
            make_env_runner,
            probe_env_spec,
            resolve_num_workers,
            seed_everything,
        )

        cfg = self.cfg
        if seed is not None:
            seed_everything(seed)
        torch.set_num_threads(cfg.torch_threads)
        use_gpu = cfg.sampler_num_gpus > 0 and torch.cuda.is_available()
        device = torch.device("cuda" if use_gpu else "cpu")
        env_spec = probe_env_spec(cfg)
        specs, models = build_policies(cfg, env_spec, device)
        storages = build_storages(cfg, specs, models, cfg.num_envs, cfg.rollout, device)
        runner = make_env_runner(cfg, specs, cfg.num_envs, env_spec, resolve_num_workers(cfg, env_spec))
        try:
            return Sampler(cfg, runner, specs, models, storages, seed)
        except BaseException:
            runner.close()
            raise

    def close(self) -> None:
        """Stop the envs (and their worker processes)."""
        if self.sampler is not None:
            self.sampler.close()


def start_ray(cfg) -> bool:
    """Join ``--ray_address`` or start a local Ray instance with a CPU per sampler at least; returns whether this
    call started Ray (and so shuts it down at the end)."""
    import ray

    if ray.is_initialized():
        return False
    if cfg.ray_address:
        ray.init(address=cfg.ray_address, logging_level=logging.WARNING)
        log.info("ray: joined the cluster at %s (%s)", cfg.ray_address, ray.cluster_resources())
    else:
        cpus = max(os.cpu_count() or 1, math.ceil(cfg.num_samplers * cfg.sampler_num_cpus))
        ray.init(num_cpus=cpus, include_dashboard=False, logging_level=logging.WARNING)
        log.info("ray: started a local instance with %d CPUs", cpus)
    return True


class RaySampler:
    """The learner's side of ``--distributed=ray``: ``collect()`` fills the learner's storages from the sampler
    actors' rollouts and returns the merged ``RolloutStats``, as ``Sampler.collect`` does on one machine.

    Args:
        cfg: config (``num_samplers``, ``max_policy_lag``, ``sampler_*``, ``ray_address``).
        specs, models, storages: the learner's policies, their models (whose weights are published) and rollout
            storages (``[T, E, A_p]``, E = ``--num_envs``).
        agent_steps: agent-steps trained before (a resumed run); env seeds continue from them.

    Raises:
        ValueError, ImportError: see ``check_ray_cfg``.
    """

    def __init__(self, cfg, specs, models, storages, agent_steps: int = 0):
        import ray

        check_ray_cfg(cfg)
        self.cfg, self.specs, self.models, self.storages = cfg, specs, models, storages
        self.agent_steps, self.version, self.weights, self.pending = agent_steps, -1, None, None
        self.lost, self.envs_each = 0, cfg.num_envs // cfg.num_samplers
        self.started_ray = start_ray(cfg)
        try:
            worker = ray.remote(SamplerWorker).options(
                num_cpus=cfg.sampler_num_cpus, num_gpus=cfg.sampler_num_gpus, max_restarts=cfg.sampler_max_restarts,
                max_task_retries=0, scheduling_strategy="SPREAD",
            )  # fmt: skip
            actor_cfg, regs = sampler_cfg(cfg), Registrations.capture(cfg)
            self.actors = [worker.remote(actor_cfg, i, regs) for i in range(cfg.num_samplers)]
            for i, where in enumerate(ray.get([a.info.remote() for a in self.actors])):
                log.info("sampler actor %d: pid %d on node %s, %d envs", i, where["pid"], where["node_id"],
                         self.envs_each)  # fmt: skip
        except BaseException:
            self.close()
            raise

    def collect(self) -> RolloutStats:
        """One rollout from every sampler, merged into the storages (sampler i: env rows ``i * E_s`` on)."""
        self._publish()
        if self.pending is None:
            self.pending = [self._submit(i) for i in range(len(self.actors))]
        results = [self._result(i, ref) for i, ref in enumerate(self.pending)]
        self.pending = None
        if self.cfg.max_policy_lag > 0:  # the next rollouts run during the update, on these (pre-update) weights
            self.pending = [self._submit(i) for i in range(len(self.actors))]
        stats = self._merge(results)
        self.agent_steps += stats.agent_steps
        return stats

    def _publish(self) -> None:
        """Put the current weights in Ray's object store, once for all actors."""
        import ray

        self.version += 1
        weights = {s.policy_id: {k: v.cpu() for k, v in m.state_dict().items()} for s, m in zip(self.specs,
                   self.models, strict=True)}  # fmt: skip
        self.weights = ray.put(weights)

    def _submit(self, i: int):
        seed = continued_seed(self.cfg.seed, self.agent_steps)
        seed = None if seed is None else seed + i * self.envs_each
        return self.actors[i].collect.remote(self.weights, self.version, seed)

    def _result(self, i: int, ref) -> SamplerResult:
        """Sampler i's rollout; when the actor died, count the lost rollout and collect again on its restart.

        Raises:
            RuntimeError: sampler i died ``--sampler_max_restarts`` + 1 times in a row (Ray stopped restarting it).
        """
        import ray
        from ray.exceptions import RayActorError

        for _ in range(self.cfg.sampler_max_restarts + 1):
            try:
                return ray.get(ref)
            except RayActorError as exc:
                self.lost += 1
                why = " ".join(str(exc).split())[:200]
                log.warning("sampler actor %d died: its rollout is lost (%d lost in this run); collecting again on "
                            "the actor Ray restarts (%s)", i, self.lost, why)  # fmt: skip
                ref = self._submit(i)
        raise RuntimeError(
            f"sampler actor {i} died {self.cfg.sampler_max_restarts + 1} times in a row: giving up (raise "
            "--sampler_max_restarts, or look for what kills it in the Ray logs)"
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
        lag = self.version - min(res.version for res in results)
        stats.scalars = {"distributed/lost_rollouts": float(self.lost), "distributed/policy_lag": float(lag)}
        return stats

    def close(self) -> None:
        """Stop the actors (and their envs); shut Ray down when this run started it."""
        import ray
        from ray.exceptions import RayError

        for actor in getattr(self, "actors", []):
            with contextlib.suppress(RayError):  # a dead or hung actor is killed below all the same
                ray.get(actor.close.remote(), timeout=5)
            ray.kill(actor, no_restart=True)
        if self.started_ray:
            ray.shutdown()
