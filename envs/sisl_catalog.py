"""PettingZoo's sisl family: ``sisl_multiwalker`` (continuous control, Box actions) and ``sisl_pursuit``.

multiwalker_v9: walkers carry a package (``[31]`` observations, ``Box(4)`` torques in [-1, 1]); a walker that
falls ends the episode for everyone by default. pursuit_v5: pursuers chase evaders on a grid, each seeing a
``[7, 7, 3]`` float patch (flattened by the MLP encoder), ``Discrete(5)`` moves. The default critics read every
agent's observation joined (``joint_obs``). multiwalker_v9's own ``state()`` fails once its episode has ended (the
fallen walkers' bodies are destroyed), so ``sisl_multiwalker`` is served without a global state. Needs ``Box2D``
(multiwalker).
"""

from __future__ import annotations

import argparse

from pettingzoo.utils import BaseParallelWrapper

from marl_sf.envs.pettingzoo_catalog import LONG_EPISODE_RECIPE, make_pettingzoo_env
from marl_sf.envs.registry import recipe_defaults, register_env

SISL_ENVS = {
    "sisl_multiwalker": ("pettingzoo.sisl.multiwalker_v9", 500),
    "sisl_pursuit": ("pettingzoo.sisl.pursuit_v5", 500),
}


class WithoutState(BaseParallelWrapper):
    """A ParallelEnv served without its global state (``state_space`` None): for an env whose ``state()`` cannot
    be called at every step and episode end."""

    state_space = None

    def state(self):
        """Raises ``ValueError``: this env is served without a global state."""
        raise ValueError(f"{type(self.env).__name__} is served without a global state: use --critic_input=joint_obs")


def _sisl_maker(module_path: str, default_cycles: int):
    def make(full_env_name, cfg=None, env_config=None, render_mode=None):
        cycles = cfg.get("pz_max_cycles", default_cycles) if cfg is not None else default_cycles
        env = make_pettingzoo_env(module_path, render_mode=render_mode, max_cycles=cycles)
        return WithoutState(env) if full_env_name == "sisl_multiwalker" else env

    return make


def add_sisl_args(env: str, p: argparse.ArgumentParser, evaluation: bool = False) -> None:
    """The episode length."""
    p.add_argument("--pz_max_cycles", type=int, default=SISL_ENVS[env][1], help="episode steps at most")


SISL_RECIPE = {**LONG_EPISODE_RECIPE, "critic_input": "joint_obs"}
"""One shared policy, separate actor and critic, the critic on the joined observations."""


for _name, (_module, _cycles) in SISL_ENVS.items():
    register_env(_name, _sisl_maker(_module, _cycles), add_sisl_args, recipe_defaults(SISL_RECIPE))
