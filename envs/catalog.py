"""Built-in envs: ``mpe_simple_spread`` (PettingZoo MPE, from the ``mpe2`` package)."""

from __future__ import annotations

import argparse

import numpy as np
from pettingzoo.utils.wrappers import BaseParallelWrapper

from marl_sf.envs.registry import recipe_defaults, register_env
from marl_sf.utils.attr_dict import AttrDict
from marl_sf.utils.types import str2bool


def make_mpe_simple_spread(full_env_name: str, cfg=None, env_config=None, render_mode: str | None = None):
    """simple_spread_v3 as a ParallelEnv with N, local_ratio, max_cycles, continuous_actions from ``cfg``.

    Built from ``raw_env`` without PettingZoo's OrderEnforcing and AssertOutOfBounds wrappers: the
    adapter always resets before stepping and samples actions from the action space, so the two checks are
    skipped (their cost: docs/results.md, "Measurements behind the catalog").
    """
    from mpe2 import simple_spread_v3
    from pettingzoo.utils.conversions import aec_to_parallel

    cfg = cfg or AttrDict()
    raw = simple_spread_v3.raw_env(
        N=cfg.get("mpe_N", 3),
        local_ratio=cfg.get("mpe_local_ratio", 0.5),
        max_cycles=cfg.get("mpe_max_cycles", 25),
        continuous_actions=cfg.get("mpe_continuous_actions", False),
        render_mode=render_mode,
    )
    return StateFromObservations(aec_to_parallel(raw))


class StateFromObservations(BaseParallelWrapper):
    """Serves an MPE env's ``state()`` from the observations its last step returned.

    mpe2's ``SimpleEnv.state()`` is the concatenation of every agent's observation, in ``possible_agents``
    order, so it is served from the step's observations instead of being computed again.
    Only valid while every agent is in the episode, as in simple_spread (agents never leave early).
    """

    def reset(self, seed=None, options=None):
        """Reset and keep the observations."""
        obs, infos = self.env.reset(seed=seed, options=options)
        self._last_obs = obs
        return obs, infos

    def step(self, actions):
        """Step and keep the observations."""
        result = self.env.step(actions)
        self._last_obs = result[0]
        return result

    def state(self) -> np.ndarray:
        """``[sum of obs dims]`` float32, equal to ``env.state()``."""
        return np.concatenate([self._last_obs[a] for a in self.env.possible_agents]).astype(np.float32)


def add_mpe_simple_spread_args(_env: str, p: argparse.ArgumentParser, evaluation: bool = False) -> None:
    """simple_spread's own options (its keyword arguments, prefixed ``mpe_``)."""
    p.add_argument("--mpe_N", default=3, type=int, help="number of agents and landmarks")
    p.add_argument("--mpe_local_ratio", default=0.5, type=float, help="weight of the local (collision) reward")
    p.add_argument("--mpe_max_cycles", default=25, type=int, help="steps per episode (then truncation)")
    p.add_argument("--mpe_continuous_actions", default=False, type=str2bool, help="Box actions instead of Discrete(5)")


MPE_RECIPE = dict(
    critic_input="state",
    actor_critic_share_weights=False,
    rollout=25,
    num_envs=32,
    batch_size=1200,
    num_epochs=10,
    learning_rate=7e-4,
    lr_schedule="linear_decay",
    gamma=0.99,
    gae_lambda=0.95,
    exploration_loss_coeff=0.01,
    value_bootstrap=True,
    time_aware_critic=False,
)
"""MAPPO for 25-step MPE episodes: separate actor and critic networks, a state critic, full-episode rollouts,
linearly decaying learning rate (results on simple_spread: README "Results"). No agent-step cap of its own (the
default 10M): a run bounded by ``--train_for_seconds`` uses all of its time, the learning rate decaying over it."""


SIMPLE_SPREAD_RECIPE = {**MPE_RECIPE, "exploration_loss_coeff": 0.02}
"""``MPE_RECIPE`` with twice the entropy bonus, so that the agent-specific critic (``--critic_input=state_local``)
does not collapse the policy's entropy (the runs: docs/results.md, "Measurements behind the catalog")."""


register_env(
    "mpe_simple_spread",
    make_mpe_simple_spread,
    add_mpe_simple_spread_args,
    recipe_defaults(SIMPLE_SPREAD_RECIPE),
)
