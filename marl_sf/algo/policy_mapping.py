"""Agent -> policy mapping: which policy acts for each agent of an env.

Built-ins: ``shared`` (every agent uses policy 0: parameter sharing) and ``per_agent`` (agent i uses
policy i). Each policy owns its spaces, rollout storage, learner and checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym


@dataclass
class PolicySpec:
    """One policy's place in the env.

    Attributes:
        policy_id: index of the policy.
        agent_indices: positions (in the env's agent order) of the agents it controls, ``A_p`` of them.
        obs_space: the model's observation space (the agents' Dict space, plus ``"state"`` for a
            centralized critic).
        action_space: the agents' action space.
    """

    policy_id: int
    agent_indices: list[int]
    obs_space: gym.spaces.Dict
    action_space: gym.Space


def agent_policy_ids(mapping: str, num_agents: int) -> list[int]:
    """The policy id of each of ``num_agents`` agents under the named mapping.

    Raises:
        ValueError: an unknown mapping name.
    """
    if mapping == "shared":
        return [0] * num_agents
    if mapping == "per_agent":
        return list(range(num_agents))
    raise ValueError(f"unknown policy_mapping {mapping!r}; choose 'shared' or 'per_agent'")


def build_policy_specs(cfg, env) -> list[PolicySpec]:
    """One ``PolicySpec`` per policy of ``cfg.policy_mapping`` for a contract ``env``.

    Raises:
        ValueError: ``critic_input=state`` on an env without ``state_space``.
    """
    obs_space = env.observation_space
    if cfg.critic_input == "state":
        state_space = getattr(env, "state_space", None)
        if state_space is None:
            raise ValueError(
                f"--critic_input=state needs an env with a global state (state_space and state()); "
                f"{cfg.env!r} has none: use --critic_input=local"
            )
        obs_space = gym.spaces.Dict({**obs_space.spaces, "state": state_space})
    ids = agent_policy_ids(cfg.policy_mapping, env.num_agents)
    return [
        PolicySpec(pid, [i for i, p in enumerate(ids) if p == pid], obs_space, env.action_space)
        for pid in sorted(set(ids))
    ]
