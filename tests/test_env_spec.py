"""The env spec: read once from a contract env, its optional attributes defaulted in one place, frozen."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest

from marl_sf.envs.registry import create_env
from marl_sf.envs.spec import read_env_spec
from tests.contract_envs import ValuesEnv


class BareEnv:
    """Only what the contract requires of the spec: agents and their (shared) spaces."""

    num_agents = 2
    observation_space = gym.spaces.Dict({"obs": gym.spaces.Box(-1.0, 1.0, (3,), np.float32)})
    action_space = gym.spaces.Discrete(3)


def test_an_env_declaring_nothing_optional_gets_the_contract_defaults():
    env = BareEnv()
    spec = read_env_spec(env)
    assert spec.num_agents == 2 and spec.agent_names == ("agent_0", "agent_1")
    assert spec.agent_observation_spaces == (env.observation_space,) * 2
    assert spec.agent_action_spaces == (env.action_space,) * 2
    assert spec.state_space is None and spec.max_episode_steps is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.num_agents = 3


def test_declared_names_groups_state_and_time_limit_are_read():
    assert read_env_spec(ValuesEnv()).agent_names == ("left", "right")
    env = create_env("mpe_simple_speaker_listener")
    try:
        spec = read_env_spec(env)
    finally:
        env.close()
    assert spec.agent_names == ("speaker_0", "listener_0")
    speaker, listener = spec.agent_observation_spaces
    assert speaker["obs"].shape == (3,) and listener["obs"].shape == (11,)  # each its own; transport: padded
    assert spec.observation_space["obs"].shape == (11,)
    assert spec.state_space is not None and spec.max_episode_steps == 25


def test_per_agent_lists_of_the_wrong_length_are_a_clear_error():
    env = ValuesEnv()
    env.agent_names = ["only_one"]
    with pytest.raises(ValueError, match=r"ValuesEnv.agent_names has 1 entries but the env has num_agents=2"):
        read_env_spec(env)
