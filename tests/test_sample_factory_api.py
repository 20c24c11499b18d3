"""Sample Factory 2's API surface under its own module paths (``sed s/sample_factory/marl_sf/g``): a Sample
Factory-style multi-agent env (non-dict Box observations, random inactive steps, ``time_outs``, the training-info and
reward-shaping interfaces, auto-reset) with a custom conv encoder built from ``calc_num_elements``, ``nonlinearity``
and ``create_mlp``, two policies, trained from random play to the best return, as Sample Factory's
``tests/examples/test_example_multi.py`` asserts for its own env. The env and encoder are written here."""

from __future__ import annotations

import json
import random
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from torch import nn

from marl_sf.algo.utils.context import global_model_factory
from marl_sf.algo.utils.misc import ExperimentStatus
from marl_sf.algo.utils.torch_utils import calc_num_elements
from marl_sf.cfg.arguments import parse_full_cfg, parse_sf_args
from marl_sf.enjoy import enjoy
from marl_sf.envs.env_utils import (
    RewardShapingInterface,
    TrainingInfoInterface,
    find_training_info_interface,
    find_wrapper_interface,
    register_env,
)
from marl_sf.model.encoder import Encoder
from marl_sf.model.model_utils import create_mlp, nonlinearity
from marl_sf.train import run_rl
from marl_sf.utils.typing import Config, ObsSpace
from marl_sf.utils.utils import experiment_dir

EPISODE_LEN = 10


class MatchingEnv(gym.Env, TrainingInfoInterface, RewardShapingInterface):
    """Two agents score 0 when they pick the same action and ``rew`` (-1) each otherwise; an agent goes inactive
    for a few steps now and then (its reward is then 0). Writes each training-info update to a file, one line per
    call, so the test can read what the env processes received."""

    def __init__(self, cfg, log_path: str | None):
        TrainingInfoInterface.__init__(self)
        self.cfg, self.log_path, self.num_agents, self.is_multiagent = cfg, log_path, 2, True
        self.observation_space = gym.spaces.Box(0, 1, (1, 6, 6))
        self.action_space = gym.spaces.Discrete(2)
        self.reward_shaping = [dict(rew=-1.0) for _ in range(self.num_agents)]
        self.inactive = [0, 0]
        self.t = 0

    def _obs(self):
        return [np.random.rand(1, 6, 6).astype(np.float32) for _ in range(self.num_agents)]

    def reset(self, seed=None, options=None):
        self.t = 0
        return self._obs(), [{} for _ in range(self.num_agents)]

    def step(self, actions):
        infos = [{} for _ in range(self.num_agents)]
        for i in range(self.num_agents):
            self.inactive[i] = self.inactive[i] - 1 if self.inactive[i] > 0 else int(random.random() < 0.02) * 3
            infos[i]["is_active"] = self.inactive[i] == 0
        self.t += 1
        differ = int(actions[0]) != int(actions[1])
        rewards = [self.reward_shaping[i]["rew"] * differ * infos[i]["is_active"] for i in range(self.num_agents)]
        time_out = self.t >= EPISODE_LEN
        for info in infos:
            info["time_outs"] = time_out
        done = [time_out] * self.num_agents
        obs = self.reset()[0] if time_out else self._obs()
        return obs, rewards, done, done, infos

    def set_training_info(self, training_info):
        super().set_training_info(training_info)
        if self.log_path is not None:
            with open(self.log_path, "a") as f:
                f.write(f"{training_info['approx_total_training_steps']}\n")

    def get_default_reward_shaping(self):
        return self.reward_shaping[0]

    def set_reward_shaping(self, reward_shaping, agent_idx):
        indices = range(agent_idx.start, agent_idx.stop) if isinstance(agent_idx, slice) else [agent_idx]
        for i in indices:
            self.reward_shaping[i] = reward_shaping


class SmallConvEncoder(Encoder):
    def __init__(self, cfg: Config, obs_space: ObsSpace):
        super().__init__(cfg)
        self.conv = nn.Sequential(nn.Conv2d(1, 8, 3, stride=1), nonlinearity(cfg))
        conv_size = calc_num_elements(self.conv, obs_space["obs"].shape)
        self.mlp = create_mlp([32], conv_size, nonlinearity(cfg))
        self.conv_size = conv_size

    def forward(self, obs_dict):
        return self.mlp(self.conv(obs_dict["obs"]).view(-1, self.conv_size))

    def get_out_size(self) -> int:
        return 32


def _register(log_path: Path | None):
    def make(full_env_name, cfg=None, env_config=None, render_mode=None):
        return MatchingEnv(cfg, str(log_path) if log_path else None)

    register_env("sf_matching_env", make)
    global_model_factory().register_encoder_factory(SmallConvEncoder)


def _cfg(tmp_path, *args, evaluation=False):
    argv = ["--algo=APPO", "--env=sf_matching_env", "--experiment=sf_multi", f"--train_dir={tmp_path}",
            "--progress_bar=False", "--save_plots=False", "--num_policies=2", "--policy_mapping=per_agent",
            "--device=cpu", "--seed=0", *args]  # fmt: skip
    parser, _ = parse_sf_args(argv, evaluation=evaluation)
    return parse_full_cfg(parser, argv)


def test_the_interfaces_are_found_through_marl_sf_wrappers():
    from marl_sf.envs.registry import to_contract_env

    env = to_contract_env(MatchingEnv(None, None))
    assert isinstance(find_training_info_interface(env), MatchingEnv)
    shaping = find_wrapper_interface(env, RewardShapingInterface)
    shaping.set_reward_shaping({"rew": -2.0}, slice(1, 2))
    assert [s["rew"] for s in shaping.reward_shaping] == [-1.0, -2.0]
    assert shaping.get_default_reward_shaping() == {"rew": -1.0}


def _random_play_return(episodes: int = 200) -> float:
    env, total = MatchingEnv(None, None), 0.0
    for _ in range(episodes):
        env.reset()
        for _ in range(EPISODE_LEN):
            total += sum(env.step([random.randint(0, 1), random.randint(0, 1)])[1])
    return total / (episodes * env.num_agents)


@pytest.mark.slow
def test_sample_factory_style_multi_agent_env_learns_to_the_best_return(tmp_path):
    random.seed(0)
    assert _random_play_return() < -4.0  # random play: about -0.5 per step over 10 steps
    log_path = tmp_path / "training_info.txt"
    _register(log_path)
    # 100k agent-steps of 2 agents: 50k env steps, half the budget of Sample Factory's test_example_multi
    cfg = _cfg(tmp_path, "--train_for_env_steps=100000", "--num_workers=2", "--num_envs=16", "--async_rl=True",
               "--learning_rate=1e-3", "--experiment_summaries_interval=0")  # fmt: skip
    assert run_rl(cfg) == ExperimentStatus.SUCCESS
    received = [int(line) for line in log_path.read_text().split()]
    assert min(received) > 0 and max(received) >= 90_000  # the run's progress, never a 0 before the first rollout
    eval_cfg = _cfg(tmp_path, "--max_num_episodes=50", "--no_render", evaluation=True)
    assert enjoy(eval_cfg) == ExperimentStatus.SUCCESS
    report = json.loads((experiment_dir(eval_cfg) / "eval" / "report.json").read_text())
    assert all(agent["return_mean"] >= -0.1 for agent in report["agents"]), report["agents"]
