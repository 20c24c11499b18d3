"""Every supported action space: distribution shapes, log-probs, masks, env actions, a few training iterations."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from marl_sf.envs.actions import BoxBounds, action_storage, to_env_actions
from marl_sf.envs.registry import register_env
from marl_sf.models.action_distribution import (
    ActionParameterization,
    action_distribution,
    num_action_params,
    sample_by_gumbel_max,
    sample_by_inverse_cdf,
)
from marl_sf.train import Trainer
from tests.configs import full_cfg
from tests.contract_envs import ActionSpaceEnv, MaskedActionEnv

SPACES = {
    "discrete": gym.spaces.Discrete(4),
    "multidiscrete": gym.spaces.MultiDiscrete([3, 2]),
    "box": gym.spaces.Box(-1.0, 1.0, (2,), np.float32),
    "tuple": gym.spaces.Tuple((gym.spaces.Discrete(3), gym.spaces.Box(0.0, 1.0, (2,), np.float32))),
}


@pytest.mark.parametrize("name", SPACES)
def test_distribution_shapes_log_probs_and_env_actions(name):
    space = SPACES[name]
    head = ActionParameterization(full_cfg(), 8, space)
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


def test_discrete_distribution_matches_torch_categorical():
    logits = torch.randn(5, 4)
    mask = torch.tensor([[1, 1, 0, 1]]).expand(5, 4)
    dist = action_distribution(SPACES["discrete"], logits, mask)
    reference = torch.distributions.Categorical(logits=logits.masked_fill(mask == 0, torch.finfo(logits.dtype).min))
    actions = torch.tensor([0, 1, 3, 3, 0])
    torch.testing.assert_close(dist.log_prob(actions), reference.log_prob(actions))
    torch.testing.assert_close(dist.entropy(), reference.entropy())
    torch.testing.assert_close(dist.probs, reference.probs)
    assert (dist.sample() != 2).all() and dist.sample((3,)).shape == (3, 5)
    expanded = dist.expand(torch.Size([2, 5]))  # torch.distributions' API on the subclass
    assert expanded.sample().shape == (2, 5) and expanded.log_prob(actions.expand(2, 5)).shape == (2, 5)


@pytest.mark.parametrize("sampler", [sample_by_inverse_cdf, sample_by_gumbel_max])  # CPU, CUDA
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_discrete_samples_follow_the_distribution_and_never_a_masked_action(sampler, dtype):
    torch.manual_seed(0)
    logits = torch.tensor([0.0, 2.0, -1.0, 1.0, 0.5, 3.0], dtype=dtype).expand(200_000, 6)
    mask = torch.tensor([0, 1, 1, 0, 1, 0]).expand(200_000, 6)  # first, middle and last actions masked
    dist = action_distribution(gym.spaces.Discrete(6), logits, mask)
    counts = torch.bincount(sampler(dist.logits), minlength=6).to(torch.float64)
    assert counts[mask[0] == 0].sum() == 0
    expected = dist.probs[0].to(torch.float64) * 200_000
    assert ((counts - expected).abs() <= 5 * expected.sqrt() + 1).all(), (counts, expected)
    nan_row = sampler(torch.full((1, 6), float("nan"), dtype=dtype))  # a broken model's logits: still an action
    assert 0 <= int(nan_row) < 6


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


@pytest.mark.slow
def test_masked_env_never_samples_a_masked_action_and_learner_log_probs_match(make_cfg):
    register_env("masked", lambda n, cfg=None, env_config=None, render_mode=None: MaskedActionEnv())
    argv = ["--env=masked", "--experiment=mask", "--num_envs=8", "--rollout=10", "--batch_size=80"]
    trainer = Trainer(make_cfg(*argv, "--train_for_env_steps=16000", "--learning_rate=0.002"))
    stats = trainer.sampler.collect()  # MaskedActionEnv raises on an illegal action
    st, model = trainer.storages[0], trainer.models[0]
    masks = st.obs["action_mask"][:-1]  # [T, E, A, 4]
    assert stats.agent_steps == 160 and masks.min() == 0  # some actions were masked
    assert bool(masks.gather(-1, st.actions.long().unsqueeze(-1)).all())  # every sampled action was legal
    inputs = st.batch(slice(0, st.rollout)).rows()  # [T * E * A, ...]
    with torch.no_grad():
        logits = model(model.normalize_obs(inputs), torch.zeros(160, 0))["action_logits"]  # [T * E * A, 4]
        learner_dist = model.action_distribution(logits, inputs["action_mask"])
        expected = torch.log_softmax(logits.masked_fill(inputs["action_mask"] == 0, float("-inf")), dim=-1)
    actions = st.actions.reshape(-1)  # [T * E * A]
    assert torch.allclose(learner_dist.log_prob(actions), st.log_probs.reshape(-1), atol=1e-5)
    assert torch.allclose(learner_dist.log_prob(actions), expected.gather(-1, actions.long()[:, None])[:, 0])
    masked_entropy = -(expected.exp() * expected.nan_to_num(neginf=0.0)).sum(-1)
    assert torch.allclose(learner_dist.entropy(), masked_entropy, atol=1e-5)
    st.carry_last_step()  # what the training loop does after each update
    assert trainer.train() == 0  # a whole run without an illegal action
    assert trainer.logger.mean_agent_return() > 3.5  # random legal play: about 2.4 of 5


def test_box_log_std_is_one_learned_parameter_or_adaptive():
    space, features = SPACES["box"], torch.randn(5, 8)
    fixed = ActionParameterization(full_cfg(adaptive_stddev=False), 8, space)
    params, _ = fixed(features)  # [5, 4]: 2 means, 2 log-stds
    assert isinstance(fixed.log_std, torch.nn.Parameter) and torch.equal(params[:, 2:], fixed.log_std.expand(5, 2))
    adaptive = ActionParameterization(full_cfg(adaptive_stddev=True), 8, space)
    params, dist = adaptive(features)
    assert adaptive.log_std is None and params.shape == (5, 4)
    assert not torch.allclose(params[0, 2:], params[1, 2:])  # the log-std depends on the features
    assert torch.allclose(dist.base_dist.scale, params[:, 2:].exp())


def test_box_actions_map_the_normalized_gaussian_onto_the_bounds():
    space = gym.spaces.Box(np.array([0.0, -2.0, -np.inf]), np.array([1.0, 2.0, np.inf]), dtype=np.float32)
    actions = np.array([[-1.0, 0.0, 5.0], [3.0, 0.5, -7.0], [0.0, -9.0, 0.0]])
    expected = np.array([[0.0, 0.0, 5.0], [1.0, 1.0, -7.0], [0.5, -2.0, 0.0]], np.float32)
    assert np.array_equal(np.stack(to_env_actions(space, actions)), expected)


def test_box_bounds_map_numpy_and_torch_actions_alike():
    space = gym.spaces.Box(np.array([0.0, -2.0, -np.inf]), np.array([1.0, 2.0, np.inf]), dtype=np.float32)
    actions = np.random.default_rng(0).normal(scale=2.0, size=(64, 3))
    on_numpy = BoxBounds(space)(actions)
    on_torch = BoxBounds(space)(torch.as_tensor(actions, dtype=torch.float32))
    assert on_numpy.dtype == np.float32 and on_torch.dtype == torch.float32
    np.testing.assert_allclose(on_torch.numpy(), on_numpy, rtol=1e-6, atol=1e-6)
