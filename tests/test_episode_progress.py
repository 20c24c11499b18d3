"""The time-aware critic: episode progress from the env's declared time limit, seen by the critic only."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from examples.custom_env import CueMatchEnv
from marl_sf.algo.env_factory import make_env
from marl_sf.envs.episode_progress import EPISODE_PROGRESS_KEY, EpisodeProgressObs, declared_time_limit
from marl_sf.envs.registry import create_env, register_env
from marl_sf.envs.spec import read_env_spec
from marl_sf.experiment import build_policies
from marl_sf.models.encoder import make_default_encoder
from marl_sf.models.factory import global_model_factory
from marl_sf.train import Trainer

MPE = "pz:mpe2.simple_reference_v3"  # 25-step episodes (max_cycles), then truncation


def test_adapters_declare_the_time_limit_of_their_env():
    register_env("user_cartpole", lambda *a, cfg=None, env_config=None, render_mode=None: gym.make("CartPole-v1"))
    register_env("user_cue", lambda *a, cfg=None, env_config=None, render_mode=None: CueMatchEnv(num_agents=2))
    assert declared_time_limit(create_env("user_cartpole")) == 500  # gymnasium TimeLimit
    assert declared_time_limit(create_env(MPE)) == 25  # PettingZoo max_cycles
    assert declared_time_limit(create_env("pz:pettingzoo.classic.tictactoe_v3")) is None  # ends by the rules
    assert declared_time_limit(create_env("user_cue")) is None  # declares none


def test_progress_counts_env_steps_and_reaches_one_at_the_time_limit():
    env = EpisodeProgressObs(create_env(MPE), 25)
    assert env.observation_space[EPISODE_PROGRESS_KEY] == gym.spaces.Box(0.0, 1.0, (1,), np.float32)
    obs, _ = env.reset(seed=0)
    assert [o[EPISODE_PROGRESS_KEY][0] for o in obs] == [0.0, 0.0]
    for t in range(1, 26):
        obs, _, terminated, truncated, infos = env.step([env.action_space.sample() for _ in range(env.num_agents)])
        if t < 25:
            assert obs[0][EPISODE_PROGRESS_KEY][0] == pytest.approx(t / 25)
    assert truncated == [True, True] and terminated == [False, False]
    assert [i["final_obs"][EPISODE_PROGRESS_KEY][0] for i in infos] == [1.0, 1.0]
    assert [o[EPISODE_PROGRESS_KEY][0] for o in obs] == [0.0, 0.0]  # the next episode's first observation
    assert set(obs[0]) == set(env.observation_space.spaces)


def test_progress_is_added_per_agent_space_for_agent_groups():
    env = EpisodeProgressObs(create_env("pz:mpe2.simple_speaker_listener_v4"), 25)
    assert [EPISODE_PROGRESS_KEY in s.spaces for s in env.agent_observation_spaces] == [True, True]
    assert [s["obs"].shape for s in env.agent_observation_spaces] == [(3,), (11,)]


def test_progress_only_with_the_option_a_declared_limit_and_built_in_encoders(make_cfg):
    assert isinstance(make_env(make_cfg(f"--env={MPE}")), EpisodeProgressObs)
    assert not isinstance(make_env(make_cfg(f"--env={MPE}", "--time_aware_critic=False")), EpisodeProgressObs)
    assert not isinstance(make_env(make_cfg("--env=mpe_simple_spread")), EpisodeProgressObs)  # recipe: off
    assert not isinstance(make_env(make_cfg("--env=pz:pettingzoo.classic.tictactoe_v3")), EpisodeProgressObs)
    global_model_factory().register_encoder_factory(lambda cfg, space: make_default_encoder(cfg, space))
    assert not isinstance(make_env(make_cfg(f"--env={MPE}")), EpisodeProgressObs)  # a user's encoder


@pytest.mark.parametrize("shared", [True, False])
def test_the_actor_ignores_episode_progress_and_the_critic_reads_it(make_cfg, shared):
    cfg = make_cfg(f"--env={MPE}", f"--actor_critic_share_weights={shared}")
    specs, models = build_policies(cfg, read_env_spec(make_env(cfg)), torch.device("cpu"))
    model = models[0]
    obs = {k: torch.as_tensor(np.stack([s.sample() for _ in range(4)])).float() for k, s in specs[0].obs_space.items()}
    rnn = torch.zeros(4, model.rnn_state_size())
    early = model({**obs, EPISODE_PROGRESS_KEY: torch.zeros(4, 1)}, rnn)
    late = model({**obs, EPISODE_PROGRESS_KEY: torch.ones(4, 1)}, rnn)
    assert torch.equal(early["action_logits"], late["action_logits"])
    assert not torch.allclose(early["values"], late["values"])


@pytest.mark.parametrize("workers", [0, 2])
def test_rollouts_carry_the_progress_from_env_workers_to_storage(make_cfg, workers):
    cfg = make_cfg(f"--env={MPE}", "--experiment=progress", f"--num_workers={workers}", "--num_envs=4", "--rollout=30")
    trainer = Trainer(cfg)
    try:
        trainer.sampler.collect()
        progress = trainer.storages[0].obs[EPISODE_PROGRESS_KEY][..., 0]  # [T + 1, E, A]
        expected = torch.tensor([t % 25 / 25 for t in range(31)])[:, None, None].expand_as(progress)
        assert torch.allclose(progress, expected)  # every env: 0, 1/25, ..., 24/25, then 0 after the reset
    finally:
        trainer.close()
