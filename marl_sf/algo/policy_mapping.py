"""Agent -> policy mapping: which policy acts for each agent of an env, and what each policy's model sees.

Built-ins: ``auto`` (the default: one policy for all agents that have the same spaces, so parameter sharing
wherever the spaces allow it), ``shared`` (every agent uses policy 0: parameter sharing), ``per_agent`` (agent i
uses policy i), ``per_group`` (one policy per agent-name prefix) and ``self_play`` (like shared; opponents come
from a pool); users add theirs with ``register_policy_mapping``. Each policy owns its spaces, rollout storage,
learner and checkpoints.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from marl_sf.envs.spec import EnvSpec
from marl_sf.models.critic_input import CriticInput, critic_input


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
        critic_input: the ``--critic_input`` name (``marl_sf.models.critic_input``).
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

    @property
    def critic(self) -> CriticInput:
        """The critic-input kind: what is stored per env and how the critic's rows are made from it."""
        return critic_input(self.critic_input)


PolicyMappingFn = Callable[[str, int], int]

_MAPPINGS: dict[str, PolicyMappingFn] = {}


def register_policy_mapping(name: str, fn: PolicyMappingFn) -> None:
    """Register ``fn(agent_name, agent_index) -> policy_id`` as ``--policy_mapping=<name>`` (documented global
    registry, like the env registry; registering a name again replaces it).

    Raises:
        ValueError: ``name`` is a built-in mapping; TypeError: ``fn`` is not callable.
    """
    if name in BUILTIN_MAPPINGS:
        raise ValueError(f"{name!r} is a built-in policy mapping; register yours under another name")
    if not callable(fn):
        raise TypeError(f"register_policy_mapping({name!r}, fn): fn must be callable as fn(agent_name, agent_index)")
    _MAPPINGS[name] = fn


def registered_policy_mappings() -> dict[str, PolicyMappingFn]:
    """The policy mappings registered with ``register_policy_mapping``, by name (the live mapping)."""
    return _MAPPINGS


def group_name(agent_name: str) -> str:
    """An agent's group: its name without the trailing ``_<index>`` (``adversary_0`` -> ``adversary``)."""
    head, _, tail = agent_name.rpartition("_")
    return head if head and tail.isdigit() else agent_name


def _by_spaces(agent_spaces: list) -> list[int]:
    """One id per distinct ``(observation space, action space)``, in order of first appearance."""
    distinct: list = []
    for spaces in agent_spaces:
        if spaces not in distinct:
            distinct.append(spaces)
    return [distinct.index(spaces) for spaces in agent_spaces]


def _per_group(names: list[str]) -> list[int]:
    groups = list(dict.fromkeys(group_name(n) for n in names))  # in order of first appearance
    return [groups.index(group_name(n)) for n in names]


BUILTIN_MAPPINGS = ("auto", "shared", "per_agent", "per_group", "self_play")


def agent_policy_ids(
    mapping: str, agent_names: list[str], num_policies: int = -1, agent_spaces: list | None = None
) -> list[int]:
    """The policy id of each agent under the named mapping.

    ``auto``: agents with equal ``agent_spaces`` entries (``(obs space, action space)`` pairs; all alike when
    None) share a policy; ``shared`` and ``self_play``: every agent plays policy 0; ``per_agent``: agent i plays
    policy i;
    ``per_group``: one policy per group of agent names (``group_name``); other names: registered mappings.

    Raises:
        ValueError: an unknown mapping name, a mapping that leaves an agent out (returns None), an id
            outside ``[0, num_policies)`` (``num_policies > 0``) or negative, or a policy id in that range
            that no agent plays.
    """
    if mapping == "auto":
        ids = _by_spaces(agent_spaces) if agent_spaces is not None else [0] * len(agent_names)
    elif mapping in ("shared", "self_play"):
        ids = [0] * len(agent_names)
    elif mapping == "per_agent":
        ids = list(range(len(agent_names)))
    elif mapping == "per_group":
        ids = _per_group(agent_names)
    elif mapping in _MAPPINGS:
        ids = [_MAPPINGS[mapping](name, i) for i, name in enumerate(agent_names)]
        for name, pid in zip(agent_names, ids, strict=True):
            if pid is None:
                raise ValueError(f"policy mapping {mapping!r} leaves agent {name!r} out (returned None): every "
                                 "agent needs a policy id")  # fmt: skip
        ids = [int(pid) for pid in ids]
    else:
        known = [*BUILTIN_MAPPINGS, *sorted(_MAPPINGS)]
        raise ValueError(
            f"unknown --policy_mapping={mapping!r}; choose one of {known} or register yours with "
            "marl_sf.register_policy_mapping(name, fn)"
        )
    limit = num_policies if num_policies > 0 else max(ids) + 1
    for name, pid in zip(agent_names, ids, strict=True):
        if not 0 <= pid < limit:
            raise ValueError(
                f"policy mapping {mapping!r} maps agent {name!r} to unknown policy id {pid}: ids must be in "
                f"[0, {limit}) (--num_policies={num_policies})"
            )
    unused = sorted(set(range(limit)) - set(ids))
    if unused:
        raise ValueError(
            f"policy mapping {mapping!r} leaves policies {unused} without agents (agents: {agent_names}); "
            f"lower --num_policies or map an agent to each policy"
        )
    return ids


def agent_policies(specs: list[PolicySpec]) -> list[int]:
    """Each agent's policy id, ``[A]``, from the policies' agent indices."""
    agent_policy = [0] * specs[0].num_env_agents
    for spec in specs:
        for i in spec.agent_indices:
            agent_policy[i] = spec.policy_id
    return agent_policy


def check_critic_only_keys(cfg, obs_space: gym.spaces.Dict) -> None:
    """Check ``--critic_only_obs_keys`` against the env's observation keys.

    Raises:
        ValueError: a key the observations do not have, a reserved key, or no key left for the actor.
    """
    hidden = list(cfg.critic_only_obs_keys or [])
    keys = list(obs_space.spaces)
    for k in hidden:
        if k in ("action_mask", "state") or k not in keys:
            raise ValueError(
                f"--critic_only_obs_keys names {k!r}, which is not an observation key of {cfg.env!r} "
                f"(keys: {keys}; action_mask and state cannot be hidden)"
            )
    if not [k for k in keys if k not in hidden and k != "action_mask"]:
        raise ValueError(f"--critic_only_obs_keys={hidden} hides every observation key of {cfg.env!r} from the actor")


def policy_spaces(env_spec: EnvSpec, agent_indices: list[int], policy_id: int, mapping: str):
    """The observation and action space of a policy's agents (each agent's own, not the padded transport).

    Raises:
        ValueError: the policy's agents have different spaces; the message names them and the fix.
    """
    obs_spaces, act_spaces, names = (
        env_spec.agent_observation_spaces,
        env_spec.agent_action_spaces,
        env_spec.agent_names,
    )
    first = agent_indices[0]
    for i in agent_indices[1:]:
        if obs_spaces[i] != obs_spaces[first] or act_spaces[i] != act_spaces[first]:
            raise ValueError(
                f"--policy_mapping={mapping} gives policy {policy_id} agents with different spaces: {names[first]!r} "
                f"({obs_spaces[first]}, {act_spaces[first]}) and {names[i]!r} ({obs_spaces[i]}, {act_spaces[i]}). "
                "Use --policy_mapping=per_group (one policy per agent group) or a mapping that keeps each "
                "policy's agents alike"
            )
    return obs_spaces[first], act_spaces[first]


def build_policy_specs(cfg, env_spec: EnvSpec) -> list[PolicySpec]:
    """One ``PolicySpec`` per policy of ``cfg.policy_mapping`` for an env of ``env_spec``; each policy gets its
    agents' own spaces (agent groups), never the padded transport spaces.

    Raises:
        ValueError: see ``CriticInput.stored_space``, ``agent_policy_ids``, ``policy_spaces`` and
            ``check_critic_only_keys``.
    """
    num_agents = env_spec.num_agents
    critic = critic_input(cfg.critic_input)
    stored = critic.stored_space(cfg, env_spec)
    space_pairs = list(zip(env_spec.agent_observation_spaces, env_spec.agent_action_spaces, strict=True))  # [A]
    ids = agent_policy_ids(cfg.policy_mapping, list(env_spec.agent_names), cfg.num_policies, space_pairs)
    add_agent_id = cfg.add_agent_id
    specs = []
    for pid in sorted(set(ids)):
        agents = [i for i, p in enumerate(ids) if p == pid]
        obs_space, action_space = policy_spaces(env_spec, agents, pid, cfg.policy_mapping)
        check_critic_only_keys(cfg, obs_space)
        spaces = dict(obs_space.spaces)
        if add_agent_id:
            spaces["agent_id"] = gym.spaces.Box(0.0, 1.0, (num_agents,), np.float32)
        state_space = critic.model_space(stored, obs_space, num_agents)
        if state_space is not None:
            spaces["state"] = state_space
        specs.append(PolicySpec(pid, agents, num_agents, gym.spaces.Dict(spaces), action_space, stored,
                                cfg.critic_input, add_agent_id))  # fmt: skip
    return specs
