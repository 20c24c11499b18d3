"""Train on a custom env: Sample Factory's custom env template with marl_sf imports.

python examples/train_custom_env.py --env=cue_match --experiment=cue_match
"""

from __future__ import annotations

import argparse
import sys
from typing import Optional

from marl_sf.cfg.arguments import parse_full_cfg, parse_sf_args
from marl_sf.envs.registry import register_env
from marl_sf.train import run_rl

try:
    from examples.custom_env import CueMatchEnv
except ImportError:  # run as a script from examples/
    from custom_env import CueMatchEnv


def make_custom_env(full_env_name: str, cfg=None, env_config=None, render_mode: Optional[str] = None):  # noqa: UP045
    # cfg and env_config can be used to customize the env; env_config.env_id seeds each env differently
    return CueMatchEnv(num_agents=cfg.custom_num_agents, render_mode=render_mode)


def register_custom_env_envs():
    # register the env in marl_sf's global env registry; then --env=cue_match builds it
    register_env("cue_match", make_custom_env)


def add_custom_env_args(_env, p: argparse.ArgumentParser, evaluation=False):
    # extend the command line arguments here
    p.add_argument("--custom_num_agents", default=2, type=int, help="agents in the cue-matching game")


def custom_env_override_defaults(_env, parser):
    # defaults for this env; the command line still overrides them
    parser.set_defaults(
        obs_scale=1.0,
        gamma=0.9,
        learning_rate=0.001,
        lr_schedule="linear_decay",
        adam_eps=1e-5,
        rollout=8,
        num_envs=8,
        batch_size=64,
        critic_input="state",
    )


def parse_args(argv=None, evaluation=False):
    # parse the command line arguments to build the config
    parser, partial_cfg = parse_sf_args(argv=argv, evaluation=evaluation)
    add_custom_env_args(partial_cfg.env, parser, evaluation=evaluation)
    custom_env_override_defaults(partial_cfg.env, parser)
    final_cfg = parse_full_cfg(parser, argv)
    return final_cfg


def main():
    """Script entry point."""
    register_custom_env_envs()
    cfg = parse_args()

    status = run_rl(cfg)
    return status


if __name__ == "__main__":
    sys.exit(main())
