"""Multi-agent gymnasium envs of the Tuple convention (LBF, RWARE, ma-gym) taken as they are: through
``register_env`` and ``--env=gym:<module>:<id>``, with auto-reset, time limits as truncation, agent groups, and clear
errors for envs that break the convention. The env is written here (``tests/tuple_envs.py``)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import tests.tuple_envs  # noqa: F401  (registers TupleMatch-v0 with gymnasium)
from marl_sf.cfg.arguments import parse_full_cfg, parse_sf_args
from marl_sf.envs.registry import create_env, register_env
from marl_sf.envs.tuple_agents import TupleAgentsEnv
from marl_sf.train import Trainer


def test_a_tuple_env_goes_straight_into_register_env():
    register_env("tuple_match", lambda name, cfg=None, env_config=None, render_mode=None: gym.make("TupleMatch-v0"))
    env = create_env("tuple_match")
    assert isinstance(env, TupleAgentsEnv) and env.num_agents == 2 and env.max_episode_steps == 8
    obs, infos = env.reset(seed=0)
    # agent groups: agent 0's 2 numbers are padded to the transport space's 4; its actions stay in Discrete(2)
    assert [o["obs"].shape for o in obs] == [(4,), (4,)] and env.action_space == gym.spaces.Discrete(3)
    assert [s["obs"].shape for s in env.agent_observation_spaces] == [(2,), (4,)]
    assert all(info["is_active"] for info in infos)
    for _ in range(8):
        cue = int(np.argmax(obs[0]["obs"][:2]))
        obs, rewards, terminated, truncated, infos = env.step([cue, cue])
        assert rewards == [1.0, 1.0]
    assert terminated == [True, True] and truncated == [False, False]  # the env's own done ends the episode
    assert "final_obs" in infos[0] and env.env.unwrapped.t == 0  # reset by the adapter


def test_an_env_breaking_the_convention_is_a_clear_error():
    env = TupleAgentsEnv(gym.make("TupleMatchBad-v0"), "tuple_bad")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"env 'tuple_bad' returned a reward of 3 entries for its 2 agents"):
        env.step([0, 0])
    inner = gym.make("TupleMatch-v0").unwrapped
    inner.n_agents = 3
    with pytest.raises(ValueError, match=r"n_agents=3, but observation_space has 2 spaces"):
        TupleAgentsEnv(inner, "tuple_three")


def test_an_unknown_gym_id_names_the_fix():
    with pytest.raises(ValueError, match=r"gymnasium has no env 'NoSuchEnv-v0'.*--env=gym:<module>:NoSuchEnv-v0"):
        create_env("gym:NoSuchEnv-v0")


@pytest.mark.slow
def test_gym_prefix_trains_a_tuple_env(tmp_path):
    argv = ["--env=gym:tests.tuple_envs:TupleMatch-v0", "--experiment=tm", f"--train_dir={tmp_path}", "--seed=0",
            "--progress_bar=False", "--save_plots=False", "--num_workers=0", "--train_for_env_steps=40000",
            "--learning_rate=1e-3"]  # fmt: skip
    parser, _ = parse_sf_args(argv)
    trainer = Trainer(parse_full_cfg(parser, argv))
    assert trainer.train() == 0
    assert trainer.logger.mean_agent_return() > 6.0  # random play: 8 steps x 1/2 and 1/3, about 3.3 per agent


def test_the_envs_own_time_limit_is_read_when_its_spec_has_none():
    inner = gym.make("TupleMatchBad-v0")  # registered without max_episode_steps
    inner.unwrapped._max_episode_steps = 50  # where LBF keeps its limit
    assert TupleAgentsEnv(inner).max_episode_steps == 50
