"""``python -m marl_sf.envs``: list the registered envs with their agents, spaces and global state."""

from __future__ import annotations

import sys

from marl_sf.envs.registry import create_env, env_registry


def describe(name: str) -> str:
    """An env's agents, spaces and global state; agents with their own spaces (groups) are listed by group."""
    env = create_env(name)
    try:
        agents = list(getattr(env, "agent_names", [f"agent_{i}" for i in range(env.num_agents)]))
        obs_spaces = getattr(env, "agent_observation_spaces", None) or [env.observation_space] * env.num_agents
        act_spaces = getattr(env, "agent_action_spaces", None) or [env.action_space] * env.num_agents
        groups: dict[tuple[str, str], list[str]] = {}
        for agent, obs, act in zip(agents, obs_spaces, act_spaces, strict=True):
            groups.setdefault((str(obs), str(act)), []).append(agent)
        lines = [f"{name}: {env.num_agents} agents"]
        for (obs, act), members in groups.items():
            lines.append(f"  {members}\n    observation {obs}\n    action {act}")
        state = getattr(env, "state_space", None)
        lines.append(f"  state {state if state is not None else 'none'}")
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
