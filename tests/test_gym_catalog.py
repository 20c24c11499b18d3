"""``--env=gym:<id>``: gymnasium envs of a family with a recipe get its defaults; the command line overrides them."""

from __future__ import annotations

import pytest

import tests.tuple_envs  # noqa: F401  (registers TupleMatch-v0 with gymnasium)
from marl_sf.cfg.arguments import parse_full_cfg, parse_sf_args
from marl_sf.envs.gym_catalog import LONG_HORIZON_RECIPE, family_recipe


def _cfg(*argv: str):
    parser, _ = parse_sf_args(list(argv))
    return parse_full_cfg(parser, list(argv))


@pytest.mark.parametrize("env_id", ["LunarLander-v3", "LunarLanderContinuous-v3", "BipedalWalker-v3"])
def test_box2d_landing_and_walking_get_the_long_horizon_recipe(env_id):
    cfg = _cfg(f"--env=gym:{env_id}")
    assert (cfg.gamma, cfg.gae_lambda) == (LONG_HORIZON_RECIPE["gamma"], LONG_HORIZON_RECIPE["gae_lambda"])
    assert LONG_HORIZON_RECIPE == {"gamma": 0.999, "gae_lambda": 0.98}


def test_the_command_line_overrides_a_family_recipe():
    cfg = _cfg("--env=gym:LunarLander-v3", "--gamma=0.95")
    assert cfg.gamma == 0.95 and cfg.gae_lambda == 0.98


@pytest.mark.parametrize("env_id", ["CartPole-v1", "CarRacing-v3", "TupleMatch-v0"])
def test_envs_of_no_listed_family_keep_the_generic_defaults(env_id):
    assert family_recipe(env_id) == {}
    module = "tests.tuple_envs:" if env_id == "TupleMatch-v0" else ""
    cfg = _cfg(f"--env=gym:{module}{env_id}")
    assert (cfg.gamma, cfg.gae_lambda) == (0.99, 0.95)
