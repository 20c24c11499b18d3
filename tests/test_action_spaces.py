"""Every supported action space: distribution shapes, log-probs, masks, env actions, a few training iterations."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from marl_sf.envs.registry import register_env
from marl_sf.models.action_distribution import (
    ActionParameterization,
    action_distribution,
    action_storage,
    num_action_params,
    to_env_actions,
)
from marl_sf.train import Trainer

SPACES = {
    "discrete": gym.spaces.Discrete(4),
    "multidiscrete": gym.spaces.MultiDiscrete([3, 2]),
    "box": gym.spaces.Box(-1.0, 1.0, (2,), np.float32),
    "tuple": gym.spaces.Tuple((gym.spaces.Discrete(3), gym.spaces.Box(0.0, 1.0, (2,), np.float32))),
}


class ActionSpaceEnv:
    """Two agents; reward = 1 when the first action component is 0 (any space); 5-step episodes."""

    is_multiagent = True
    num_agents = 2

    def __init__(self, action_space):
        self.action_space = action_space
        self.observation_space = gym.spaces.Dict({"obs": gym.spaces.Box(-1.0, 1.0, (3,), np.float32)})
        self.t = 0

    def _obs(self):
        return [{"obs": np.full(3, self.t / 5, np.float32)} for _ in range(2)]

    def reset(self, seed=None, options=None):
        self.t = 0
        return self._obs(), [{"is_active": True}] * 2

    def step(self, actions):
        for a in actions:
            assert self.action_space.contains(a), f"{a!r} is not in {self.action_space}"
        first = [np.ravel(a[0] if isinstance(a, tuple) else a)[0] for a in actions]
        rewards = [float(abs(f) < 0.5) for f in first]
        self.t += 1
        done = self.t >= 5
        infos = [{"is_active": True} for _ in range(2)]
        if done:
            for info, fo in zip(infos, self._obs(), strict=True):
                info["final_obs"] = fo
            self.t = 0
        return self._obs(), rewards, [False, False], [done, done], infos

    def close(self):
        pass


@pytest.mark.parametrize("name", SPACES)
def test_distribution_shapes_log_probs_and_env_actions(name):
    space = SPACES[name]
    head = ActionParameterization(None, 8, space)
    params, _ = head(torch.randn(6, 8))
    assert params.shape == (6, num_action_params(space))
    dist = action_distribution(space, params)
    actions = dist.sample()
    shape, dtype = action_storage(space)
    assert actions.shape == (6, *shape) and actions.dtype == dtype
    assert dist.log_prob(actions).shape == (6,) and dist.entropy().shape == (6,)
    env_actions = to_env_actions(space, actions.numpy())
    assert all(space.contains(a) for a in env_actions)


def test_composite_log_prob_is_the_sum_of_its_components():
    space = SPACES["tuple"]
    params = torch.randn(4, num_action_params(space))  # 3 logits, 2 means, 2 log-stds
    dist = action_distribution(space, params)
    actions = dist.sample()
    cat = torch.distributions.Categorical(logits=params[:, :3])
    normal = torch.distributions.Normal(params[:, 3:5], params[:, 5:7].exp())
    expected = cat.log_prob(actions[:, 0].long()) + normal.log_prob(actions[:, 1:]).sum(-1)
    assert torch.allclose(dist.log_prob(actions), expected)


def test_multidiscrete_masks_each_component():
    space = SPACES["multidiscrete"]
    mask = torch.tensor([[0, 1, 0, 1, 0]]).expand(256, 5)  # only choice 1 of the first, 0 of the second
    dist = action_distribution(space, torch.randn(256, 5), mask)
    assert dist.sample().unique(dim=0).tolist() == [[1, 0]]


@pytest.mark.parametrize("name", SPACES)
def test_a_few_training_iterations_on_each_action_space(make_cfg, name):
    register_env(f"spaces_{name}", lambda n, cfg=None, env_config=None, render_mode=None: ActionSpaceEnv(SPACES[name]))
    argv = (f"--env=spaces_{name}", f"--experiment={name}", "--num_envs=4", "--rollout=10", "--batch_size=40")
    trainer = Trainer(make_cfg(*argv, "--train_for_env_steps=400"))
    assert trainer.train() == 0
    assert trainer.storages[0].actions.shape[3:] == action_storage(SPACES[name])[0]
