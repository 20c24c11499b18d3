"""Reference returns of uniformly random play on the catalog envs, drawn as a line on the learning curves.

Source: ``python benchmarks/random_play.py --env=<name> --episodes=200`` (mean episode return per agent of a
group; ``docs/results.md`` lists them). Keys are agent groups (``marl_sf.algo.policy_mapping.group_name``);
``"*"`` applies to every agent.
"""

from __future__ import annotations

RANDOM_PLAY_RETURNS: dict[str, dict[str, float]] = {
    "mpe_simple_spread": {"*": -27.7},
    "mpe_simple_reference": {"*": -28.7},
    "mpe_simple_speaker_listener": {"*": -41.37},
    "mpe_simple_adversary": {"adversary": -28.72, "agent": 8.42},
    "butterfly_pistonball": {"*": -3.95},
}


def random_play_returns(env_name: str | None) -> dict[str, float]:
    """``{group or "*": mean episode return per agent}`` of random play on ``env_name``; empty where unknown."""
    return dict(RANDOM_PLAY_RETURNS.get(env_name or "", {}))
