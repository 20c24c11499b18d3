"""Full configs for tests that build models or their parts without a run (runs use the ``make_cfg`` fixture)."""

from __future__ import annotations

from marl_sf.cfg.arguments import parse_full_cfg, parse_sf_args
from marl_sf.utils.attr_dict import AttrDict


def full_cfg(**overrides) -> AttrDict:
    """Every declared option at its default (no env's own defaults: the env named is not registered), then
    ``overrides``.

    Raises:
        KeyError: an override names no declared option (a typo would otherwise test nothing).
    """
    argv = ["--env=no_registered_env", "--device=cpu"]
    parser, _ = parse_sf_args(argv)
    cfg = parse_full_cfg(parser, argv)
    unknown = sorted(set(overrides) - set(cfg))
    if unknown:
        raise KeyError(f"full_cfg: {unknown} are not declared options")
    cfg.update(overrides)
    return cfg


TICTACTOE_POOL_ARGS = ("--env=classic_tictactoe", "--opponent_prob=1.0", "--num_envs=4", "--rollout=16",
                       "--batch_size=128", "--num_epochs=1")  # fmt: skip
"""A small tictactoe run whose self-play games go to the opponent pool (tictactoe's own default plays none)."""
