"""Agent -> policy mapping: which policy acts for each agent of an env, and what each policy's model sees.

Built-ins: ``shared`` (every agent uses policy 0: parameter sharing) and ``per_agent`` (agent i uses
policy i). Each policy owns its spaces, rollout storage, learner and checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np

CRITIC_INPUTS = ("local", "state", "state_local", "joint_obs")
"""``local``: own observation (IPPO); ``state``: env.state() (MAPPO); ``state_local``: state + own observation +
one-hot agent id (MAPPO's agent-specific global state); ``joint_obs``: every agent's observation joined."""


@dataclass
class PolicySpec:
    """One policy's place in the env.

    Attributes:
        policy_id: index of the policy.
        agent_indices: positions (in the env's agent order) of the agents it controls, ``A_p`` of them.
        num_env_agents: A, the env's number of agents (for one-hot agent ids).
        obs_space: the model's observation space: the agents' Dict space, plus ``"agent_id"`` (one-hot ``[A]``)
            with ``--add_agent_id`` and ``"state"`` (the critic's input) for a non-local critic.
        action_space: the agents' action space.
        global_space: what is stored once per env for the critic (``[G]``): env.state() or the joined
            observations; None for a local critic.
        critic_input: one of ``CRITIC_INPUTS``.
        add_agent_id: whether the actor sees a one-hot agent id.
    """

    policy_id: int
    agent_indices: list[int]
    num_env_agents: int
    obs_space: gym.spaces.Dict
    action_space: gym.Space
    global_space: gym.spaces.Box | None
    critic_input: str
    add_agent_id: bool


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


def _box(size: int) -> gym.spaces.Box:
    return gym.spaces.Box(-np.inf, np.inf, (size,), np.float32)


def global_space(cfg, env) -> gym.spaces.Box | None:
    """The per-env critic input stored in rollouts (``[G]``), or None for ``critic_input=local``.

    Raises:
        ValueError: an unknown critic input, or ``state``/``state_local`` on an env without ``state_space`` or
            with an image state.
    """
    if cfg.critic_input not in CRITIC_INPUTS:
        raise ValueError(f"unknown --critic_input={cfg.critic_input!r}; choose one of {CRITIC_INPUTS}")
    if cfg.critic_input == "local":
        return None
    if cfg.critic_input == "joint_obs":
        return _box(env.num_agents * gym.spaces.flatdim(env.observation_space["obs"]))
    state_space = getattr(env, "state_space", None)
    if state_space is None:
        raise ValueError(
            f"--critic_input={cfg.critic_input} needs an env with a global state (state_space and state()); "
            f"{cfg.env!r} has none: use --critic_input=joint_obs or local"
        )
    if len(state_space.shape) != 1:
        raise ValueError(
            f"--critic_input={cfg.critic_input} needs a vector global state; {cfg.env!r} has a state of shape "
            f"{state_space.shape} (an image): use --critic_input=local or joint_obs"
        )
    return state_space


def check_critic_only_keys(cfg, obs_space: gym.spaces.Dict) -> None:
    """Check ``--critic_only_obs_keys`` against the env's observation keys.

    Raises:
        ValueError: a key the observations do not have, a reserved key, or no key left for the actor.
    """
    hidden = list(cfg.get("critic_only_obs_keys", None) or [])
    keys = list(obs_space.spaces)
    for k in hidden:
        if k in ("action_mask", "state") or k not in keys:
            raise ValueError(
                f"--critic_only_obs_keys names {k!r}, which is not an observation key of {cfg.env!r} "
                f"(keys: {keys}; action_mask and state cannot be hidden)"
            )
    if not [k for k in keys if k not in hidden and k != "action_mask"]:
        raise ValueError(f"--critic_only_obs_keys={hidden} hides every observation key of {cfg.env!r} from the actor")


def build_policy_specs(cfg, env) -> list[PolicySpec]:
    """One ``PolicySpec`` per policy of ``cfg.policy_mapping`` for a contract ``env``.

    Raises:
        ValueError: see ``global_space``, ``agent_policy_ids`` and ``check_critic_only_keys``.
    """
    num_agents = env.num_agents
    check_critic_only_keys(cfg, env.observation_space)
    stored = global_space(cfg, env)
    spaces = dict(env.observation_space.spaces)
    add_agent_id = bool(cfg.get("add_agent_id", False))
    if add_agent_id:
        spaces["agent_id"] = gym.spaces.Box(0.0, 1.0, (num_agents,), np.float32)
    if stored is not None:
        size = gym.spaces.flatdim(stored)
        if cfg.critic_input == "state_local":
            size += gym.spaces.flatdim(env.observation_space["obs"]) + num_agents
        spaces["state"] = _box(size)
    ids = agent_policy_ids(cfg.policy_mapping, num_agents)
    return [
        PolicySpec(
            policy_id=pid,
            agent_indices=[i for i, p in enumerate(ids) if p == pid],
            num_env_agents=num_agents,
            obs_space=gym.spaces.Dict(spaces),
            action_space=env.action_space,
            global_space=stored,
            critic_input=cfg.critic_input,
            add_agent_id=add_agent_id,
        )
        for pid in sorted(set(ids))
    ]
