"""What runs inside a ``--distributed=ray`` sampler actor (``marl_sf.ray_sampling`` drives them).

``SamplerWorker`` is marl_sf's own ``Sampler`` on the actor's share of the envs with a copy of every policy;
``Registrations`` carries the user's registered env, models and policy mappings from the driver to the actor.
"""

from __future__ import annotations

import copy
import logging
import os
from dataclasses import dataclass, field

import torch

from marl_sf.algo.policy_mapping import agent_policies, registered_policy_mappings
from marl_sf.algo.sampler import RolloutStats, Sampler
from marl_sf.envs.registry import EnvRegistryEntry, env_registry
from marl_sf.experiment import build_run, make_sampler
from marl_sf.models.actor_critic import create_actor_critic
from marl_sf.models.factory import global_model_factory
from marl_sf.selfplay.remote import RemoteLeague
from marl_sf.selfplay.scoring import registered_game_scores
from marl_sf.selfplay.scripted import registered_scripted_policies

_MODEL_FUNCS = ("make_encoder_func", "make_model_core_func", "make_decoder_func", "make_actor_critic_func")


@dataclass
class Registrations:
    """What a user registered in the driver process and a sampler actor needs: the entry of ``cfg.env``, the model
    factory's callables, the policy mappings, the scripted policies and the game scores. Ray ships them to the
    actors (cloudpickle: functions defined in a script travel by value), so a registered env or model trains on a
    cluster without code changes."""

    env_name: str
    env_entry: EnvRegistryEntry | None
    model_funcs: dict = field(default_factory=dict)
    policy_mappings: dict = field(default_factory=dict)
    scripted_policies: dict = field(default_factory=dict)
    game_scores: dict = field(default_factory=dict)

    @classmethod
    def capture(cls, cfg) -> Registrations:
        """This process's registrations for ``cfg.env``."""
        factory = global_model_factory()
        return cls(
            cfg.env,
            env_registry().get(cfg.env),
            {name: getattr(factory, name) for name in _MODEL_FUNCS},
            dict(registered_policy_mappings()),
            dict(registered_scripted_policies()),
            dict(registered_game_scores()),
        )

    def apply(self) -> None:
        """Register them in this process (a sampler actor)."""
        if self.env_entry is not None:
            env_registry()[self.env_name] = self.env_entry
        factory = global_model_factory()
        for name, func in self.model_funcs.items():
            setattr(factory, name, func)
        registered_policy_mappings().update(self.policy_mappings)
        registered_scripted_policies().update(self.scripted_policies)
        registered_game_scores().update(self.game_scores)


def sampler_cfg(cfg):
    """The config one of ``--num_samplers`` actors runs: its share of the envs; envs stepped in the actor itself
    unless ``--num_workers`` asks for env workers; ``--device=gpu`` when the actor reserves a GPU
    (``--sampler_num_gpus``), so that its policies and a vectorized env's tensors go there, else the CPU."""
    cfg = copy.deepcopy(cfg)
    cfg.num_envs //= cfg.num_samplers
    if cfg.num_workers < 0:
        cfg.num_workers = 0
    cfg.device = "gpu" if cfg.sampler_num_gpus > 0 else "cpu"
    return cfg


@dataclass
class SamplerResult:
    """One sampler actor's rollout: ``tensors`` (one ``RolloutStorage.tensors()`` dict per policy, CPU), its stats
    (env ids local to the actor) and the policy ``version`` it was collected with."""

    index: int
    version: int
    stats: RolloutStats
    tensors: list[dict[str, torch.Tensor]]
    pid: int


class SamplerWorker:
    """The work of one sampler actor (``ray.remote`` wraps this class): marl_sf's ``Sampler`` on ``cfg.num_envs``
    envs with a copy of every policy, built at the first ``collect`` (so that a restarted actor starts on the seed
    it is given then)."""

    def __init__(self, cfg, index: int, registrations: Registrations):
        logging.basicConfig(level=logging.WARNING, format="[%(asctime)s] %(message)s", datefmt="%H:%M:%S")
        registrations.apply()
        self.cfg, self.index, self.version = cfg, index, None
        self.sampler: Sampler | None = None
        self.collected = False  # a rollout is in the storages (its slot T starts the next one)
        self.league: RemoteLeague | None = None  # self-play: the opponents' side of the learner's league

    def info(self) -> dict:
        """``{"pid", "node_id"}``: where this actor runs."""
        import ray

        return {"pid": os.getpid(), "node_id": ray.get_runtime_context().get_node_id()}

    def collect(
        self, weights: dict, version: int, seed: int | None, pool=None, training_steps: int = 0
    ) -> SamplerResult:
        """Load ``weights`` (``{policy_id: model state_dict}``) unless ``version`` is loaded already, collect one
        rollout and return it; the envs are reset with ``seed`` (env e: ``seed + e``) the first time. With
        self-play, ``pool`` is the learner's ``PoolView`` (``marl_sf.selfplay.remote``): the opponents of the
        episodes that start are drawn from it, and finished games come back by player name. ``training_steps``: the
        run's agent-steps so far (``Sampler.set_training_info``)."""
        if self.sampler is None:
            self.sampler = self._build(seed, pool)
        elif pool is not None:
            self.league.update(pool)
        if version != self.version:
            for spec, model in zip(self.sampler.specs, self.sampler.models, strict=True):
                model.load_state_dict(weights[spec.policy_id])
            self.version = version
        if self.collected:  # the last rollout was serialized when its collect returned: start from its slot T
            for st in self.sampler.storages:
                st.carry_last_step()
        self.sampler.set_training_info(training_steps)
        stats = self.sampler.collect()
        self.collected = True
        if self.league is not None:
            stats.match_results = self.league.named(stats.match_results)
        tensors = [{k: v.cpu() for k, v in st.tensors().items()} for st in self.sampler.storages]  # no copy on CPU
        return SamplerResult(self.index, version, stats, tensors, os.getpid())

    def _build(self, seed: int | None, pool) -> Sampler:
        cfg = self.cfg
        run = build_run(cfg, seed, num_envs=cfg.num_envs, rollout=cfg.rollout)
        specs, models, storages, device = run.specs, run.models, run.storages, run.device
        opponents = None
        if pool is not None:

            def make_model(spec):
                return create_actor_critic(cfg, spec.obs_space, spec.action_space).to(device)

            self.league = RemoteLeague(cfg, specs, agent_policies(specs), cfg.num_envs, seed, make_model)
            self.league.update(pool)
            opponents = self.league.opponents(storages)
        return make_sampler(cfg, specs, models, storages, run.env_spec, seed, opponents)

    def close(self) -> None:
        """Stop the envs (and their worker processes)."""
        if self.sampler is not None:
            self.sampler.close()
