"""The PettingZoo ParallelEnv adapter: the contract on every step, states, agents that leave, mixed spaces."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from mpe2 import simple_spread_v3
from pettingzoo.test import parallel_api_test

from marl_sf.envs.pettingzoo import PettingZooParallelEnv
from marl_sf.envs.registry import create_env
from marl_sf.train import Trainer
from tests.adapter_checks import run_checked
from tests.contract_envs import EpisodeCounter
from tests.pz_envs import LeavingAgentsEnv, MixedSpacesEnv


@pytest.mark.parametrize("make", [lambda: simple_spread_v3.parallel_env(N=3, max_cycles=25), LeavingAgentsEnv])
def test_parallel_envs_keep_the_contract_through_the_adapter(make):
    assert run_checked(PettingZooParallelEnv(make()), 100) >= 1


def test_simple_spread_adapter_contract():
    env = PettingZooParallelEnv(simple_spread_v3.parallel_env(N=3, max_cycles=5))
    assert env.num_agents == 3 and env.is_multiagent
    assert env.agent_names == ["agent_0", "agent_1", "agent_2"]
    obs, infos = env.reset(seed=3)
    assert len(obs) == 3 and obs[0]["obs"].shape == (18,)
    assert all(info["is_active"] for info in infos)
    assert env.state().shape == env.state_space.shape == (54,)
    returns, counted = np.zeros(3), EpisodeCounter(infos)
    for _ in range(5):
        obs, rewards, terminated, truncated, infos = env.step([0, 1, 2])
        returns += rewards
        counted.step(rewards, terminated, truncated, infos)
    # the 5th step truncates every agent: the env reset itself and the episode's returns are what was paid
    assert truncated == [True] * 3 and terminated == [False] * 3
    assert counted.lengths == [[5, 5, 5]]
    assert counted.returns[0] == pytest.approx(returns.tolist())
    assert all("final_obs" in info and info["final_state"].shape == (54,) for info in infos)
    assert all(info["is_active"] for info in infos)  # the returned obs start the next episode


def test_agents_that_leave_get_zero_obs_zero_reward_and_are_inactive():
    env = PettingZooParallelEnv(LeavingAgentsEnv())
    obs, infos = env.reset()
    counted = EpisodeCounter(infos)
    obs, rewards, terminated, truncated, infos = env.step([0, 0, 0])
    counted.step(rewards, terminated, truncated, infos)
    assert terminated == [True, False, False]
    assert [i["is_active"] for i in infos] == [False, True, True]
    assert obs[1]["obs"].tolist() == [1.0, 1.0]
    obs, rewards, terminated, truncated, infos = env.step([0, 0, 0])
    counted.step(rewards, terminated, truncated, infos)
    assert rewards == [0.0, 1.0, 1.0]  # agent_0 has left: zero reward and zero observation
    assert np.all(obs[0]["obs"] == 0) and obs[2]["obs"].tolist() == [2.0, 2.0]
    assert [i["is_active"] for i in infos] == [False, False, True]
    obs, rewards, terminated, truncated, infos = env.step([0, 0, 0])
    counted.step(rewards, terminated, truncated, infos)
    # all have left: every flag is set (episode end), returns/lengths count only the active steps
    assert all(t or tr for t, tr in zip(terminated, truncated, strict=True))
    assert counted.returns == [[1.0, 2.0, 3.0]]
    assert counted.lengths == [[1, 2, 3]]
    assert [i["is_active"] for i in infos] == [True, True, True]  # auto-reset


def test_an_env_without_a_state_has_none_and_a_state_critic_on_it_is_a_clear_error(make_cfg):
    env = PettingZooParallelEnv(LeavingAgentsEnv())
    assert env.state_space is None
    with pytest.raises(ValueError, match="no global state: use --critic_input=joint_obs"):
        env.state()
    argv = ["--env=pz:pettingzoo.classic.tictactoe_v3", "--experiment=no_state", "--num_envs=2", "--rollout=4"]
    with pytest.raises(ValueError, match="needs an env with a global state .* use --critic_input=joint_obs"):
        Trainer(make_cfg(*argv, "--critic_input=state"))
    trainer = Trainer(make_cfg(*argv, "--critic_input=joint_obs"))  # the joined observations, from the observations
    trainer.sampler.collect()
    st = trainer.storages[0]
    torch.testing.assert_close(st.state[1], st.obs["obs"][1].flatten(1).float())  # [E, A * D], both agents' boards
    trainer.close()


def test_agents_with_different_action_spaces_share_a_transport_space_and_keep_their_own():
    env = PettingZooParallelEnv(MixedSpacesEnv())
    assert env.action_space == gym.spaces.Discrete(3)  # the buffers' layout: the largest Discrete
    assert [s.n for s in env.agent_action_spaces] == [2, 2, 3]  # each agent's own, for its group's policy


def test_aec_env_is_refused_with_a_pointer_to_parallel_env():
    with pytest.raises(TypeError, match="AEC env"):
        PettingZooParallelEnv(simple_spread_v3.env())


def test_unknown_env_lists_the_registered_ones():
    with pytest.raises(ValueError, match="unknown env 'nope'.*mpe_simple_spread"):
        create_env("nope")


def test_create_env_lifts_gymnasium_and_pettingzoo_envs():
    import gymnasium as gym

    from marl_sf.envs import register_env

    register_env("cartpole_test", lambda name, cfg=None, env_config=None, render_mode=None: gym.make("CartPole-v1"))
    env = create_env("cartpole_test")
    assert env.num_agents == 1 and not env.is_multiagent
    obs, infos = env.reset(seed=0)
    assert obs[0]["obs"].shape == (4,) and infos[0]["is_active"]
    for _ in range(600):  # CartPole ends well before: the wrapper resets by itself
        obs, rewards, term, trunc, infos = env.step([0])
        if term[0] or trunc[0]:
            assert "final_obs" in infos[0] and "episode" not in infos[0]  # returns are the engine's to count
            break
    else:
        pytest.fail("CartPole never ended")


def test_builtin_simple_spread_passes_the_api_test_and_serves_the_true_state():
    from marl_sf.envs.catalog import make_mpe_simple_spread

    parallel_api_test(make_mpe_simple_spread("mpe_simple_spread"), num_cycles=60)
    env = make_mpe_simple_spread("mpe_simple_spread")
    env.reset(seed=2)
    rng = np.random.default_rng(0)
    for _ in range(25):
        assert np.array_equal(env.state(), env.env.state())  # the cached state is mpe2's own
        env.step({a: int(rng.integers(5)) for a in env.agents})
    assert np.array_equal(env.state(), env.env.state())
