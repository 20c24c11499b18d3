"""Evaluate the custom env: Sample Factory's evaluation template with marl_sf imports.

python examples/enjoy_custom_env.py --env=cue_match --experiment=cue_match
"""

from __future__ import annotations

import sys

from marl_sf.enjoy import enjoy

try:
    from examples.train_custom_env import parse_args, register_custom_env_envs
except ImportError:  # run as a script from examples/
    from train_custom_env import parse_args, register_custom_env_envs


def main():
    """Script entry point."""
    register_custom_env_envs()
    cfg = parse_args(evaluation=True)
    status = enjoy(cfg)
    return status


if __name__ == "__main__":
    sys.exit(main())
