"""``python -m marl_sf.envs``: list the registered envs with their agents, spaces and global state."""

from __future__ import annotations

import sys

from marl_sf.envs.registry import create_env, env_registry
from marl_sf.envs.spec import read_env_spec


def describe(name: str) -> str:
    """An env's agents, spaces and global state; agents with their own spaces (groups) are listed by group."""
    env = create_env(name)
    try:
        spec = read_env_spec(env)
        groups: dict[tuple[str, str], list[str]] = {}
        for agent, obs, act in zip(
            spec.agent_names, spec.agent_observation_spaces, spec.agent_action_spaces, strict=True
        ):
            groups.setdefault((str(obs), str(act)), []).append(agent)
        lines = [f"{name}: {spec.num_agents} agents"]
        for (obs, act), members in groups.items():
            lines.append(f"  {members}\n    observation {obs}\n    action {act}")
        lines.append(f"  state {spec.state_space if spec.state_space is not None else 'none'}")
        return "\n".join(lines)
    finally:
        env.close()


def main() -> int:
    """Print every registered env."""
    for name in sorted(env_registry()):
        print(describe(name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
