"""The engine's envs: ``cfg.env`` as a contract env, with the episode progress of a time-aware critic.

``EnvFactory`` is how a run makes its envs. It holds the registered maker itself and the decisions the main
process made (whether the critic sees the episode's progress), so an env worker started with ``spawn``, which
has neither the main process' registrations nor its model factory, builds the same envs.
"""

from __future__ import annotations

import logging
import pickle
from dataclasses import dataclass
from typing import Any

from marl_sf.envs.episode_progress import EPISODE_PROGRESS_KEY, declared_time_limit, with_episode_progress
from marl_sf.envs.registry import MakeEnvFunc, registry_entry, to_contract_env
from marl_sf.envs.spec import EnvSpec
from marl_sf.models.encoder import make_default_encoder
from marl_sf.models.factory import global_model_factory

log = logging.getLogger("marl_sf")


@dataclass(frozen=True)
class EnvFactory:
    """Makes contract envs of one registered env; picklable when ``make_env_func`` is (it is pickled by
    reference: a module-level function or class).

    Attributes:
        env_name: the registered name (``--env``).
        make_env_func: its registered maker, ``(full_env_name, cfg=None, env_config=None, render_mode=None)``.
        time_aware: wrap each env in ``EpisodeProgressObs`` when it declares a time limit (see
            ``time_aware_critic``).
    """

    env_name: str
    make_env_func: MakeEnvFunc
    time_aware: bool

    def __call__(self, cfg, env_config: Any = None, render_mode: str | None = None) -> Any:
        """A contract env (``marl_sf.envs.registry.to_contract_env``), with episode progress where decided."""
        raw = self.make_env_func(self.env_name, cfg, env_config, render_mode)  # positional, as Sample Factory calls it
        env = to_contract_env(raw, self.env_name)
        limit = declared_time_limit(env) if self.time_aware else None
        if limit is None:
            return env
        return with_episode_progress(env, limit)

    def check_picklable(self, why: str) -> None:
        """Raise when the factory cannot be sent to another process.

        Raises:
            ValueError: ``make_env_func`` does not pickle (a lambda, a closure, a function defined inside
                another); the message names the env, ``why`` it must pickle and the fix.
        """
        try:
            pickle.dumps(self.make_env_func)
        except (pickle.PicklingError, AttributeError, TypeError) as exc:
            raise ValueError(
                f"the maker registered for env {self.env_name!r} ({self.make_env_func!r}) cannot be pickled, which "
                f"{why}: register a module-level function or class (not a lambda or closure), or use "
                f"--worker_start_method=fork ({exc})"
            ) from None


def time_aware_critic(cfg) -> bool:
    """Whether the critic sees the episode's progress where the env declares a time limit: ``--time_aware_critic``
    with the built-in actor-critic and encoders (a registered encoder or actor-critic gets exactly the env's
    observations). Decided in the main process, from its model factory."""
    factory = global_model_factory()
    built_in = factory.make_actor_critic_func is None and factory.make_encoder_func is make_default_encoder
    return bool(cfg.time_aware_critic and built_in)


def env_factory(cfg) -> EnvFactory:
    """The ``EnvFactory`` of ``cfg.env`` as this process has it registered.

    Raises:
        ValueError: unknown env name (``registry_entry``).
    """
    return EnvFactory(cfg.env, registry_entry(cfg.env).make_env_func, time_aware_critic(cfg))


def make_env(cfg, env_config: Any = None, render_mode: str | None = None) -> Any:
    """``cfg.env`` built by its registered maker and adapted to the contract; wrapped in ``EpisodeProgressObs``
    when the critic is time-aware and the env declares a time limit. Every env of a run (trainer, env workers,
    evaluation) is made by ``env_factory(cfg)``, so the policies' observation spaces agree.

    Raises:
        ValueError: unknown env name (``registry_entry``).
    """
    return env_factory(cfg)(cfg, env_config=env_config, render_mode=render_mode)


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
