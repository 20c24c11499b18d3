"""Actor-critics: shared vs separate weights, local vs state critic, GRU core, the model factory."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from marl_sf.models.actor_critic import (
    ActorCriticSeparateWeights,
    ActorCriticSharedWeights,
    create_actor_critic,
)
from tests.configs import full_cfg

OBS = gym.spaces.Box(-1.0, 1.0, (6,), np.float32)
STATE = gym.spaces.Box(-1.0, 1.0, (10,), np.float32)


def _cfg(**kw):
    base = dict(encoder_mlp_layers=[32, 32], decoder_mlp_layers=[], nonlinearity="tanh", use_rnn=False, rnn_size=16)
    return full_cfg(**{**base, **kw})


def _obs(batch, with_state):
    obs = {"obs": torch.randn(batch, 6)}
    if with_state:
        obs["state"] = torch.randn(batch, 10)
    return obs


@pytest.mark.parametrize("share", [True, False])
@pytest.mark.parametrize("critic_input", ["local", "state"])
@pytest.mark.parametrize("use_rnn,rnn_type,layers", [(False, "gru", 1), (True, "gru", 1), (True, "lstm", 2)])
def test_output_shapes(share, critic_input, use_rnn, rnn_type, layers):
    space = gym.spaces.Dict({"obs": OBS, **({"state": STATE} if critic_input == "state" else {})})
    cfg = _cfg(actor_critic_share_weights=share, use_rnn=use_rnn, rnn_type=rnn_type, rnn_num_layers=layers)
    model = create_actor_critic(cfg, space, gym.spaces.Discrete(5))
    assert isinstance(model, ActorCriticSharedWeights if share else ActorCriticSeparateWeights)
    rnn = torch.zeros(7, model.rnn_state_size())
    out = model(_obs(7, critic_input == "state"), rnn)
    assert out["values"].shape == (7,)
    assert out["action_logits"].shape == (7, 5)
    assert out["new_rnn_states"].shape == (7, model.rnn_state_size())
    per_core = 16 * layers * (2 if rnn_type == "lstm" else 1)
    assert model.rnn_state_size() == (0 if not use_rnn else per_core * (1 if share else 2))
    if use_rnn:  # the state carries memory: a second step from the new state differs from one from zeros
        again = model(_obs(7, critic_input == "state"), out["new_rnn_states"])
        assert not torch.allclose(again["new_rnn_states"], out["new_rnn_states"])
    assert set(model(_obs(7, critic_input == "state"), rnn, values_only=True)) >= {"values"}


def test_shared_weights_share_the_trunk_and_separate_do_not():
    space = gym.spaces.Dict({"obs": OBS})
    shared = create_actor_critic(_cfg(actor_critic_share_weights=True), space, gym.spaces.Discrete(3))
    separate = create_actor_critic(_cfg(actor_critic_share_weights=False), space, gym.spaces.Discrete(3))
    # a value-only loss moves the policy logits only when the trunk is shared
    for model, moves in ((shared, True), (separate, False)):
        obs = _obs(4, False)
        before = model(obs, torch.zeros(4, 0))["action_logits"].detach()
        model(obs, torch.zeros(4, 0))["values"].sum().backward()
        with torch.no_grad():
            for p in model.parameters():
                if p.grad is not None:
                    p -= 0.1 * p.grad
        after = model(obs, torch.zeros(4, 0))["action_logits"].detach()
        assert (not torch.allclose(before, after)) == moves


@pytest.mark.parametrize("share", [True, False])
def test_state_critic_reads_the_state_and_the_actor_never_does(share):
    space = gym.spaces.Dict({"obs": OBS, "state": STATE})
    model = create_actor_critic(_cfg(actor_critic_share_weights=share), space, gym.spaces.Discrete(4))
    obs = _obs(3, True)
    other_state = {**obs, "state": torch.randn(3, 10)}
    out_a, out_b = model(obs, torch.zeros(3, 0)), model(other_state, torch.zeros(3, 0))
    assert not torch.allclose(out_a["values"], out_b["values"])
    assert torch.allclose(out_a["action_logits"], out_b["action_logits"])


def test_local_critic_ignores_the_state():
    space = gym.spaces.Dict({"obs": OBS})
    model = create_actor_critic(_cfg(actor_critic_share_weights=False), space, gym.spaces.Discrete(4))
    obs = _obs(3, True)
    out_a, out_b = (
        model(obs, torch.zeros(3, 0)),
        model({**obs, "state": torch.randn(3, 10)}, torch.zeros(3, 0)),
    )
    assert torch.allclose(out_a["values"], out_b["values"])


def test_action_mask_removes_illegal_actions_and_box_actions_are_gaussian():
    space = gym.spaces.Dict({"obs": OBS, "action_mask": gym.spaces.Box(0, 1, (4,), np.int8)})
    model = create_actor_critic(_cfg(), space, gym.spaces.Discrete(4))
    logits = model({"obs": torch.randn(64, 6)}, torch.zeros(64, 0))["action_logits"]
    mask = torch.tensor([[1, 0, 1, 0]]).expand(64, 4)
    dist = model.action_distribution(logits, mask)
    assert set(dist.sample().tolist()) <= {0, 2}
    assert torch.allclose(dist.probs[:, [1, 3]], torch.zeros(64, 2))
    with pytest.raises(ValueError, match=r"action_mask has 3 entries but .* has 4 discrete choices"):
        model.action_distribution(logits, torch.ones(64, 3))
    box = create_actor_critic(_cfg(), gym.spaces.Dict({"obs": OBS}), gym.spaces.Box(-1, 1, (2,), np.float32))
    out = box({"obs": torch.randn(5, 6)}, torch.zeros(5, 0))
    assert out["action_logits"].shape == (5, 4)
    assert box.action_distribution(out["action_logits"]).sample().shape == (5, 2)


def test_running_mean_std_matches_the_pooled_statistics():
    from marl_sf.models.obs_normalizer import RunningMeanStd

    stat = RunningMeanStd((1,))
    stat.update(torch.tensor([[1.0], [2.0], [3.0]]))
    stat.update(torch.tensor([[4.0], [5.0]]))
    assert stat.mean.item() == pytest.approx(3.0) and stat.var.item() == pytest.approx(2.0)
    assert stat(torch.tensor([[3.0 + 2**0.5]])).item() == pytest.approx(1.0, abs=1e-4)
    assert stat(torch.tensor([[1000.0]])).item() == 5.0  # clipped


def test_input_normalizer_lives_in_the_model_state():
    space = gym.spaces.Dict({"obs": OBS, "action_mask": gym.spaces.Box(0, 1, (4,), np.int8)})
    model = create_actor_critic(_cfg(normalize_input=True), space, gym.spaces.Discrete(4))
    assert set(model.obs_normalizer.stats) == {"obs"}
    model.obs_normalizer.update({"obs": torch.randn(100, 6) * 3 + 7})
    assert "obs_normalizer.stats.obs.mean" in model.state_dict()
    normalized = model.normalize_obs({"obs": torch.randn(1000, 6) * 3 + 7, "action_mask": torch.ones(1000, 4)})
    assert normalized["obs"].mean().abs() < 0.3 and torch.equal(normalized["action_mask"], torch.ones(1000, 4))
