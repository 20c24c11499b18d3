"""The engine's envs: ``cfg.env`` as a contract env, with the episode progress of a time-aware critic."""

from __future__ import annotations

import logging
from typing import Any

from marl_sf.envs.episode_progress import EPISODE_PROGRESS_KEY, EpisodeProgressObs, declared_time_limit
from marl_sf.envs.registry import create_env
from marl_sf.envs.spec import EnvSpec
from marl_sf.models.encoder import make_default_encoder
from marl_sf.models.factory import global_model_factory

log = logging.getLogger("marl_sf")


def time_aware_limit(cfg, env: Any) -> int | None:
    """The time limit the critic's episode progress is measured against, or None for no progress input.

    It is the env's declared ``max_episode_steps`` with ``--time_aware_critic`` on, when the actor-critic and its
    encoders are the built-in ones (a registered encoder or actor-critic gets exactly the env's observations).
    """
    factory = global_model_factory()
    built_in = factory.make_actor_critic_func is None and factory.make_encoder_func is make_default_encoder
    return declared_time_limit(env) if cfg.time_aware_critic and built_in else None


def make_env(cfg, env_config: Any = None, render_mode: str | None = None) -> Any:
    """``cfg.env`` built by its registered maker and adapted to the contract (``create_env``); wrapped in
    ``EpisodeProgressObs`` when ``time_aware_limit`` gives a limit. Every env of a run (trainer, env workers,
    evaluation) is made here, so the policies' observation spaces agree.

    Raises:
        ValueError: unknown env name (``create_env``).
    """
    env = create_env(cfg.env, cfg=cfg, env_config=env_config, render_mode=render_mode)
    limit = time_aware_limit(cfg, env)
    return EpisodeProgressObs(env, limit) if limit is not None else env


def log_critic_time_input(cfg, env_spec: EnvSpec) -> None:
    """Say once per run whether the critic sees the episode's progress, and why not when it does not."""
    if EPISODE_PROGRESS_KEY in env_spec.observation_space.spaces:
        log.info("time-aware critic: the critic also sees the episode's progress t / %d", env_spec.max_episode_steps)
    elif cfg.time_aware_critic and env_spec.max_episode_steps is None:
        log.info(
            "the critic sees no episode progress: %r declares no max_episode_steps (give the env that attribute "
            "if its episodes end at a time limit)",
            cfg.env,
        )
