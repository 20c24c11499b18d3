"""``python -m marl_sf.envs``: list the registered envs with their agents, spaces and global state."""

from __future__ import annotations

import sys

from marl_sf.envs.registry import create_env, env_registry


def describe(name: str) -> str:
    """One line per env: agents, one agent's observation and action space, the global state's space."""
    env = create_env(name)
    try:
        agents = getattr(env, "agent_names", [f"agent_{i}" for i in range(env.num_agents)])
        state = getattr(env, "state_space", None)
        return (
            f"{name}: {env.num_agents} agents {agents}\n  observation {env.observation_space}\n"
            f"  action {env.action_space}\n  state {state if state is not None else 'none'}"
        )
    finally:
        env.close()


def main() -> int:
    """Print every registered env."""
    for name in sorted(env_registry()):
        print(describe(name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
