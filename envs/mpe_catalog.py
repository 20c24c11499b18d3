"""The other MPE scenarios (from ``mpe2``), several with agent groups that have their own spaces.

| name | agents (groups) |
|---|---|
| ``mpe_simple_reference`` | agent_0, agent_1: same spaces (one shared policy) |
| ``mpe_simple_speaker_listener`` | speaker_0 (obs 3, Discrete(3)), listener_0 (obs 11, Discrete(5)) |
| ``mpe_simple_adversary`` | adversary_0 (obs 8), agent_0..1 (obs 10) |
| ``mpe_simple_tag`` | adversary_0..2 (predators, obs 16), agent_0 (prey, obs 14) |
| ``mpe_simple_push`` | adversary_0 (obs 8), agent_0 (obs 19) |
| ``mpe_simple_world_comm`` | leadadversary_0 (obs 34, Discrete(20)), adversary_0..2 (obs 34), agent_0..1 (obs 28) |

Defaults: one policy per agent group (``--policy_mapping=per_group``), MAPPO with separate actor and critic on
the env's global state, 25-step episodes, the recipe of ``mpe_simple_spread``. ``--mpe_pad_agents=True`` is
the opt-in padded mode for one shared policy (SuperSuit ``pad_observations_v0``, ``pad_action_space_v0`` and
``agent_indicator_v0``).
"""

from __future__ import annotations

import argparse

import numpy as np

from marl_sf.envs.catalog import MPE_RECIPE, StateFromObservations
from marl_sf.envs.registry import recipe_defaults, register_env
from marl_sf.selfplay.scoring import register_game_score
from marl_sf.utils.attr_dict import AttrDict
from marl_sf.utils.types import str2bool

MPE_SCENARIOS = {
    "mpe_simple_reference": "simple_reference_v3",
    "mpe_simple_speaker_listener": "simple_speaker_listener_v4",
    "mpe_simple_adversary": "simple_adversary_v3",
    "mpe_simple_tag": "simple_tag_v3",
    "mpe_simple_push": "simple_push_v3",
    "mpe_simple_world_comm": "simple_world_comm_v3",
}


def mpe_maker(module_name: str):
    """An env maker for ``mpe2.<module_name>``: ``raw_env`` (without PettingZoo's order and bounds checks, as
    ``mpe_simple_spread``) as a ParallelEnv, ``--mpe_max_cycles`` and ``--mpe_continuous_actions`` from cfg."""

    def make(full_env_name: str, cfg=None, env_config=None, render_mode: str | None = None):
        import importlib

        from pettingzoo.utils.conversions import aec_to_parallel

        cfg = cfg or AttrDict()
        module = importlib.import_module(f"mpe2.{module_name}")
        raw = module.raw_env(
            max_cycles=cfg.get("mpe_max_cycles", 25),
            continuous_actions=cfg.get("mpe_continuous_actions", False),
            render_mode=render_mode,
        )
        if cfg.get("mpe_pad_agents", False):  # one space for all: SuperSuit padding plus an agent-type indicator
            import supersuit

            padded = supersuit.pad_action_space_v0(supersuit.pad_observations_v0(raw))
            return aec_to_parallel(supersuit.agent_indicator_v0(padded, type_only=True))
        return StateFromObservations(aec_to_parallel(raw))

    return make


def add_mpe_args(_env: str, p: argparse.ArgumentParser, evaluation: bool = False) -> None:
    """The MPE scenarios' own options."""
    p.add_argument("--mpe_max_cycles", default=25, type=int, help="steps per episode (then truncation)")
    p.add_argument("--mpe_continuous_actions", default=False, type=str2bool, help="Box actions instead of Discrete")
    p.add_argument(
        "--mpe_pad_agents", default=False, type=str2bool, help="opt-in padded mode: SuperSuit pads every agent "
        "to one observation and action space and appends a one-hot agent type, so one shared policy "
        "(--policy_mapping=shared) can play every group"
    )  # fmt: skip


MPE_CATALOG_RECIPE = {**MPE_RECIPE, "batch_size": 800, "policy_mapping": "per_group"}
"""One policy per agent group; ``MPE_RECIPE`` (MAPPO on the global state), with minibatches of 800 that divide
every group's rollout (25 steps x 32 envs x 1, 2 or 3 agents)."""


def predators_catch_the_prey(side_returns: np.ndarray) -> np.ndarray:
    """simple_tag's game score: the predators (side 0, the adversaries under ``per_group``) win an episode in
    which they touch the prey at least once (their shared reward is +10 per touch), else the prey wins."""
    return np.array([1.0, 0.0]) if side_returns[0] > 0 else np.array([0.0, 1.0])


for _name, _module in MPE_SCENARIOS.items():
    register_env(_name, mpe_maker(_module), add_mpe_args, recipe_defaults(MPE_CATALOG_RECIPE))
register_game_score("mpe_simple_tag", predators_catch_the_prey)
