"""Sample Factory 2's model options: ``--policy_initialization``/``--policy_init_gain`` (the trunk's init),
``--initial_stddev`` and ``--continuous_tanh_scale`` (Box action heads), ``--obs_subtract_mean`` (with
``--obs_scale``, wherever observations enter a model) and ``--normalize_input_keys``."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

import marl_sf
import marl_sf.algo.storage as storage
from marl_sf.algo.policy_mapping import PolicySpec
from marl_sf.algo.storage import RolloutStorage, scale_obs
from marl_sf.models.action_distribution import ActionParameterization
from marl_sf.models.actor_critic import (
    ActorCritic,
    ActorCriticSeparateWeights,
    ActorCriticSharedWeights,
    create_actor_critic,
)
from marl_sf.models.batch import PolicyBatch
from marl_sf.models.factory import global_model_factory
from marl_sf.models.model_utils import init_orthogonal
from marl_sf.standalone_actor import StandaloneActor
from marl_sf.train import Trainer
from tests.configs import full_cfg

VEC = gym.spaces.Box(-1.0, 1.0, (6,), np.float32)
STATE = gym.spaces.Box(-1.0, 1.0, (10,), np.float32)
IMAGE = gym.spaces.Box(0, 255, (36, 36, 3), np.uint8)
BOX = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)


def _cfg(**kw):
    base = dict(encoder_mlp_layers=[32, 32], decoder_mlp_layers=[16], encoder_conv_mlp_layers=[24],
                nonlinearity="tanh", use_rnn=False, rnn_size=16)  # fmt: skip
    return full_cfg(**{**base, **kw})


def _build(cfg, obs_space, action_space, seed=0):
    torch.manual_seed(seed)
    return create_actor_critic(cfg, obs_space, action_space)


def _old_head(model: ActorCritic, decoder_out: int):
    """The action head as the code before these options made it (reproduced by hand after the new code builds the
    module, from the same random state): orthogonal gain 0.01, zero bias, zero log-std."""
    rng = torch.get_rng_state()
    head = model.get_action_parameterization(decoder_out)
    torch.set_rng_state(rng)
    linear = nn.Linear(decoder_out, head.distribution_linear.out_features)
    nn.init.orthogonal_(linear.weight, gain=0.01)
    nn.init.zeros_(linear.bias)
    with torch.no_grad():
        head.distribution_linear.weight.copy_(linear.weight)
        head.distribution_linear.bias.copy_(linear.bias)
        if head.log_std is not None:
            head.log_std.zero_()
    return head


class _OldShared(ActorCriticSharedWeights):
    """``ActorCriticSharedWeights.__init__`` as it was before ``--policy_initialization``: the trunk orthogonal with
    gain sqrt(2), the value head with gain 1."""

    def __init__(self, model_factory, obs_space, action_space, cfg):
        ActorCritic.__init__(self, obs_space, action_space, cfg)
        self.encoder = model_factory.make_encoder_func(cfg, self.actor_obs_space())
        self.core = model_factory.make_model_core_func(cfg, self.encoder.get_out_size())
        self.decoder = model_factory.make_decoder_func(cfg, self.core.get_out_size())
        value_input = self.decoder.get_out_size()
        self.state_encoder, extra_space = None, self.critic_extra_space()
        if extra_space is not None:
            self.state_encoder = model_factory.make_encoder_func(cfg, extra_space)
            value_input += self.state_encoder.get_out_size()
        init_orthogonal(self, gain=2**0.5)
        self.critic_linear = nn.Linear(value_input, 1)
        init_orthogonal(self.critic_linear, gain=1.0)
        self.action_parameterization = _old_head(self, self.decoder.get_out_size())


class _OldSeparate(ActorCriticSeparateWeights):
    """``ActorCriticSeparateWeights.__init__`` as it was before ``--policy_initialization``."""

    def __init__(self, model_factory, obs_space, action_space, cfg):
        ActorCritic.__init__(self, obs_space, action_space, cfg)
        self.actor_encoder = model_factory.make_encoder_func(cfg, self.actor_obs_space())
        self.actor_core = model_factory.make_model_core_func(cfg, self.actor_encoder.get_out_size())
        self.actor_decoder = model_factory.make_decoder_func(cfg, self.actor_core.get_out_size())
        self.critic_encoder = model_factory.make_encoder_func(cfg, self.critic_obs_space())
        self.critic_core = model_factory.make_model_core_func(cfg, self.critic_encoder.get_out_size())
        self.critic_decoder = model_factory.make_decoder_func(cfg, self.critic_core.get_out_size())
        init_orthogonal(self, gain=2**0.5)
        self.critic_linear = nn.Linear(self.critic_decoder.get_out_size(), 1)
        init_orthogonal(self.critic_linear, gain=1.0)
        self.action_parameterization = _old_head(self, self.actor_decoder.get_out_size())


def _old_model(cfg, obs_space, action_space, seed=0):
    global_model_factory().register_actor_critic_factory(_OldShared if cfg.actor_critic_share_weights else _OldSeparate)
    try:
        return _build(cfg, obs_space, action_space, seed)
    finally:
        global_model_factory().reset()


CASES = {
    "shared_local_discrete": (dict(actor_critic_share_weights=True), {"obs": VEC}, gym.spaces.Discrete(5)),
    "separate_state_box_gru": (
        dict(actor_critic_share_weights=False, critic_input="state", use_rnn=True),
        {"obs": VEC, "state": STATE},
        BOX,
    ),
    "shared_state_image_adaptive": (
        dict(actor_critic_share_weights=True, critic_input="state", adaptive_stddev=True, normalize_input=True),
        {"obs": IMAGE, "vec": VEC, "state": STATE},
        gym.spaces.Tuple((gym.spaces.Discrete(3), BOX)),
    ),
}


def _trunk_linears(model) -> dict[str, nn.Linear]:
    """The Linear layers ``init_trunk`` reaches: every one but the heads."""
    return {n: m for n, m in model.named_modules() if isinstance(m, nn.Linear)
            and not n.startswith(("critic_linear", "action_parameterization"))}  # fmt: skip


def _heads(model) -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.state_dict().items() if k.startswith(("critic_linear", "action_parameterization"))}


@pytest.mark.parametrize("case", sorted(CASES))
def test_default_options_give_exactly_the_weights_of_the_code_before_them(case):
    options, spaces, action_space = CASES[case]
    cfg = _cfg(**options)
    assert (cfg.policy_initialization, cfg.policy_init_gain, cfg.initial_stddev) == ("orthogonal", 1.0, 1.0)
    space = gym.spaces.Dict(spaces)
    new, old = _build(cfg, space, action_space), _old_model(cfg, space, action_space)
    assert type(old).__name__.startswith("_Old")
    new_state, old_state = new.state_dict(), old.state_dict()
    assert list(new_state) == list(old_state)
    for k in new_state:
        assert torch.equal(new_state[k], old_state[k]), k
    # the comparison can fail: another gain changes the trunk (and leaves the heads, drawn after it, as they were)
    other = _build(_cfg(**options, policy_init_gain=1.5), space, action_space)
    for name in _trunk_linears(other):
        assert not torch.equal(other.state_dict()[f"{name}.weight"], old_state[f"{name}.weight"]), name
    for k, v in _heads(other).items():
        assert torch.equal(v, old_state[k]), k


def _orthogonal_gain(w: torch.Tensor) -> torch.Tensor:
    """``g`` with ``W^T W = g^2 I`` (tall) or ``W W^T = g^2 I`` (wide), checked."""
    gram = w.T @ w if w.shape[0] >= w.shape[1] else w @ w.T
    g2 = gram.diagonal().mean()
    torch.testing.assert_close(gram, g2 * torch.eye(gram.shape[0]), atol=1e-5, rtol=0)
    return g2.sqrt()


@pytest.mark.parametrize("share", [True, False])
def test_orthogonal_gain_multiplies_the_trunks_sqrt2_and_the_heads_keep_theirs(share):
    space = gym.spaces.Dict({"obs": VEC, "state": STATE})
    base = dict(actor_critic_share_weights=share, critic_input="state")
    default = _build(_cfg(**base), space, BOX)
    scaled = _build(_cfg(**base, policy_init_gain=0.5), space, BOX)
    linears = _trunk_linears(scaled)
    assert len(linears) >= (4 if share else 6)  # encoders' and decoders' layers (and the state encoder's)
    for name, layer in linears.items():
        assert float(_orthogonal_gain(layer.weight.detach())) == pytest.approx(2**0.5 * 0.5, rel=1e-5), name
        torch.testing.assert_close(layer.weight, _trunk_linears(default)[name].weight * 0.5, atol=1e-6, rtol=1e-6)
        assert not layer.bias.any()
    for k, v in _heads(scaled).items():  # the heads are drawn after the trunk, from the same random state
        assert torch.equal(v, _heads(default)[k]), k
    assert float(_orthogonal_gain(scaled.critic_linear.weight.detach())) == pytest.approx(1.0, rel=1e-5)
    head = scaled.action_parameterization.distribution_linear.weight.detach()
    assert float(_orthogonal_gain(head)) == pytest.approx(0.01, rel=1e-4)


@pytest.mark.parametrize("gain", [1.0, 0.5])
def test_xavier_uniform_trunk_within_its_bound_with_zero_biases(gain):
    model = _build(_cfg(policy_initialization="xavier_uniform", policy_init_gain=gain), gym.spaces.Dict({"obs": VEC}),
                   gym.spaces.Discrete(4))  # fmt: skip
    linears = _trunk_linears(model)
    assert len(linears) == 3  # 6 -> 32 -> 32 -> 16
    for name, layer in linears.items():
        fan_out, fan_in = layer.weight.shape
        bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
        w = layer.weight.detach().abs()
        assert float(w.max()) <= bound, name
        assert float(w.max()) > 0.9 * bound, name  # uniform on [-bound, bound]: P(all 192+ below 0.9 bound) < 1e-8
        assert not layer.bias.any(), name
        gram = layer.weight.T @ layer.weight if fan_out >= fan_in else layer.weight @ layer.weight.T
        assert not torch.allclose(gram, gram.diagonal().mean() * torch.eye(gram.shape[0]), atol=1e-3)  # not orthogonal
    head = model.action_parameterization.distribution_linear.weight.detach()
    assert float(_orthogonal_gain(head)) == pytest.approx(0.01, rel=1e-4)  # the policy head keeps its own init
    assert float(_orthogonal_gain(model.critic_linear.weight.detach())) == pytest.approx(1.0, rel=1e-5)


def test_torch_default_keeps_pytorchs_init_of_the_trunk():
    model = _build(_cfg(policy_initialization="torch_default"), gym.spaces.Dict({"obs": VEC}), gym.spaces.Discrete(4))
    for name, layer in _trunk_linears(model).items():
        w, b = layer.weight.detach(), layer.bias.detach()
        bound = 1.0 / math.sqrt(w.shape[1])  # nn.Linear's kaiming_uniform(a=sqrt(5)) and bias bound
        assert float(w.abs().max()) <= bound and float(b.abs().max()) <= bound, name
        assert b.abs().min() > 0, name  # not zeroed
        assert float(w.std()) == pytest.approx(bound / math.sqrt(3), rel=0.2), name  # the uniform's std
    default = _build(_cfg(), gym.spaces.Dict({"obs": VEC}), gym.spaces.Discrete(4))
    for name, layer in _trunk_linears(default).items():
        assert not torch.equal(layer.weight, _trunk_linears(model)[name].weight), name


def test_conv_and_recurrent_layers_keep_pytorchs_init_in_every_mode():
    space = gym.spaces.Dict({"obs": IMAGE})
    models = {kind: _build(_cfg(policy_initialization=kind, policy_init_gain=0.7, use_rnn=True), space, BOX)
              for kind in ("orthogonal", "xavier_uniform", "torch_default")}  # fmt: skip
    reference = models["torch_default"].state_dict()
    convs = [n for n, m in models["orthogonal"].named_modules() if isinstance(m, (nn.Conv2d, nn.GRU))]
    assert len(convs) == 4  # convnet_simple's three convolutions, the GRU
    for kind, model in models.items():
        state = model.state_dict()
        for name in convs:
            for suffix in ("weight", "bias") if not name.endswith("core") else ("weight_ih_l0", "weight_hh_l0"):
                assert torch.equal(state[f"{name}.{suffix}"], reference[f"{name}.{suffix}"]), (kind, name)


def _std(dist) -> torch.Tensor:
    return dist.base_dist.scale


def test_initial_stddev_of_a_learned_log_std():
    model = _build(_cfg(initial_stddev=0.3), gym.spaces.Dict({"obs": VEC}), BOX)
    assert torch.allclose(model.action_parameterization.log_std, torch.full((3,), math.log(0.3)))
    batch = PolicyBatch.of_rows({"obs": torch.randn(8, 6)}, torch.zeros(8, 0))
    logits, _ = model.actor_forward(batch)
    std = _std(model.action_distribution(logits[:, 0]))  # [8, 3]
    torch.testing.assert_close(std, torch.full((8, 3), 0.3), atol=1e-6, rtol=0)
    default = _build(_cfg(), gym.spaces.Dict({"obs": VEC}), BOX).action_parameterization.log_std
    assert torch.equal(default, torch.zeros(3))


def test_initial_stddev_with_adaptive_stddev_is_the_std_at_zero_features():
    cfg = _cfg(adaptive_stddev=True, initial_stddev=0.3)
    head = ActionParameterization(cfg, 16, BOX)
    _, dist = head(torch.zeros(4, 16))
    torch.testing.assert_close(_std(dist), torch.full((4, 3), 0.3), atol=1e-6, rtol=0)
    torch.testing.assert_close(dist.mean, torch.zeros(4, 3), atol=0, rtol=0)
    model = _build(cfg, gym.spaces.Dict({"obs": VEC}), BOX)  # on the trunk's features: near 0.3 (gain 0.01)
    with torch.no_grad():
        logits, _ = model.actor_forward(PolicyBatch.of_rows({"obs": torch.randn(64, 6)}, torch.zeros(64, 0)))
        std = _std(model.action_distribution(logits[:, 0]))
    assert float(std.min()) > 0.3 * 0.9 and float(std.max()) < 0.3 * 1.1
    assert not torch.allclose(std, torch.full_like(std, 0.3))  # state-dependent
    # a Tuple space: the Gaussian's log-std biases alone, not the categorical logits' or the means'
    tuple_head = ActionParameterization(cfg, 16, gym.spaces.Tuple((gym.spaces.Discrete(2), BOX)))
    bias = tuple_head.distribution_linear.bias.detach()  # 2 logits, 3 means, 3 log-stds
    torch.testing.assert_close(bias, torch.tensor([0.0] * 5 + [math.log(0.3)] * 3))
    assert not ActionParameterization(_cfg(adaptive_stddev=True), 16, BOX).distribution_linear.bias.any()


@pytest.mark.parametrize("value", [0.0, -1.0])
def test_initial_stddev_must_be_positive(value):
    with pytest.raises(ValueError, match="--initial_stddev must be above 0"):
        ActionParameterization(_cfg(initial_stddev=value), 8, BOX)


@pytest.mark.parametrize("adaptive", [False, True])
def test_continuous_tanh_scale_bounds_the_mean(adaptive):
    scale = 0.5
    head = ActionParameterization(_cfg(adaptive_stddev=adaptive, continuous_tanh_scale=scale), 8, BOX)
    plain = ActionParameterization(_cfg(adaptive_stddev=adaptive), 8, BOX)
    plain.load_state_dict(head.state_dict())
    x = torch.randn(256, 8) * 300.0  # raw means far beyond the scale
    with torch.no_grad():
        raw = head.distribution_linear(x)[:, :3]
        params, dist = head(x)
    mean = params[:, :3]
    torch.testing.assert_close(mean, scale * torch.tanh(raw / scale))  # Sample Factory's tanh(mu / scale) * scale
    assert float(mean.abs().max()) <= scale and float(mean.abs().max()) > 0.99 * scale
    assert float(raw.abs().max()) > 2 * scale  # the raw means were out of bounds
    torch.testing.assert_close(dist.mean, mean)
    plain_params, _ = plain(x)
    assert torch.equal(plain_params[:, :3], raw)  # 0: the means unchanged
    assert torch.equal(params[:, 3:], plain_params[:, 3:])  # the log-stds untouched
    small = torch.randn(16, 8) * 1e-3  # near 0 the squashed mean is the raw one
    torch.testing.assert_close(head(small)[0][:, :3], head.distribution_linear(small)[:, :3], atol=1e-7, rtol=1e-4)


def test_scale_obs_subtracts_the_mean_then_divides_known_answer():
    mask, agent_id = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    obs = {"obs": torch.tensor([[0.0, 1.0, 2.5]]), "img": torch.tensor([[0, 255]], dtype=torch.uint8),
           "action_mask": mask, "agent_id": agent_id}  # fmt: skip
    out = scale_obs(obs, obs_scale=2.0, obs_subtract_mean=0.5)
    assert torch.equal(out["obs"], torch.tensor([[-0.25, 0.25, 1.0]]))
    assert out["img"].dtype == torch.float32 and torch.equal(out["img"], torch.tensor([[-0.25, 127.25]]))
    assert out["action_mask"] is mask and out["agent_id"] is agent_id
    assert torch.equal(scale_obs(obs, 1.0, 0.5)["obs"], torch.tensor([[-0.5, 0.5, 2.0]]))  # a mean alone
    default = scale_obs(obs)
    assert default["obs"] is obs["obs"] and torch.equal(default["img"], torch.tensor([[0.0, 255.0]]))
    assert torch.equal(scale_obs(obs, 255.0)["img"], obs["img"].float() / 255.0)  # --obs_scale alone, as before


def test_rollout_batches_subtract_the_mean_from_observations_and_a_uint8_state():
    byte = gym.spaces.Box(0, 255, (2,), np.uint8)
    spec = PolicySpec(0, [0, 1], 2, gym.spaces.Dict({"obs": byte, "state": byte}), gym.spaces.Discrete(3), byte,
                      "state", False)  # fmt: skip
    st = RolloutStorage(spec, rollout=2, num_envs=1, rnn_state_size=0, device=torch.device("cpu"))
    st.obs["obs"][0] = torch.tensor([[10, 20], [30, 40]], dtype=torch.uint8)  # [E=1, A=2, 2]
    st.state[0] = torch.tensor([[100, 200]], dtype=torch.uint8)
    batch = st.batch(slice(0, 1), 10.0, obs_subtract_mean=4.0)
    assert torch.equal(batch.obs["obs"], torch.tensor([[[0.6, 1.6], [2.6, 3.6]]]))
    assert torch.equal(batch.state, torch.tensor([[9.6, 19.6]]))
    same = st.make_batch({"obs": st.obs["obs"][0]}, st.state[0], st.rnn_states[0], 10.0, obs_subtract_mean=4.0)
    assert torch.equal(same.obs["obs"], batch.obs["obs"]) and torch.equal(same.state, batch.state)
    assert torch.equal(st.batch(slice(0, 1), 10.0).state, torch.tensor([[10.0, 20.0]]))  # no mean: as before


def test_normalize_input_keys_normalizes_only_the_named_keys():
    space = gym.spaces.Dict({"obs": VEC, "extra": gym.spaces.Box(-1.0, 1.0, (3,), np.float32)})
    model = _build(_cfg(normalize_input=True, normalize_input_keys=["extra"]), space, gym.spaces.Discrete(3))
    assert list(model.obs_normalizer.stats) == ["extra"]
    everything = _build(_cfg(normalize_input=True), space, gym.spaces.Discrete(3))
    assert sorted(everything.obs_normalizer.stats) == ["extra", "obs"]  # default: every input, as before
    rows = {"obs": torch.randn(10, 6) * 3 + 7, "extra": torch.randn(10, 3) * 2 - 4}
    model.update_normalizer(PolicyBatch.of_rows(rows, torch.zeros(10, 0)), torch.ones(10, 1, dtype=torch.bool))
    stat = model.obs_normalizer.stats["extra"]
    assert float(stat.count) == 10
    torch.testing.assert_close(stat.mean, rows["extra"].mean(0))
    normalized = model.normalize_obs(rows)
    assert torch.equal(normalized["obs"], rows["obs"])  # not named: passed as it is
    torch.testing.assert_close(normalized["extra"].mean(0), torch.zeros(3), atol=1e-5, rtol=0)


@pytest.mark.parametrize("key", ["nope", "action_mask"])
def test_a_normalize_input_keys_key_that_cannot_be_normalized_is_a_clear_error(key):
    space = gym.spaces.Dict({"obs": VEC, "action_mask": gym.spaces.Box(0, 1, (3,), np.float32)})
    with pytest.raises(ValueError, match=rf"--normalize_input_keys names \['{key}'\].*normalizes are \['obs'\]"):
        _build(_cfg(normalize_input=True, normalize_input_keys=["obs", key]), space, gym.spaces.Discrete(3))


SPREAD = ["--env=mpe_simple_spread", "--num_envs=2", "--batch_size=150", "--mpe_max_cycles=25",
          "--train_for_env_steps=300"]  # fmt: skip


def test_training_loading_and_onnx_export_apply_obs_subtract_mean(make_cfg, monkeypatch):
    pytest.importorskip("onnxruntime")
    from marl_sf.export import export_policies

    seen = []
    scale = storage.scale_obs

    def recording_scale_obs(obs, obs_scale=1.0, obs_subtract_mean=0.0):
        seen.append((obs_scale, obs_subtract_mean))
        return scale(obs, obs_scale, obs_subtract_mean)

    monkeypatch.setattr(storage, "scale_obs", recording_scale_obs)  # what RolloutStorage.make_batch calls
    trainer = Trainer(make_cfg(*SPREAD, "--experiment=sub_mean", "--obs_scale=2", "--obs_subtract_mean=0.5"))
    assert trainer.train() == 0
    assert len(seen) > 10 and set(seen) == {(2.0, 0.5)}  # every batch of the sampler and the learner

    policy = marl_sf.load_policy(trainer.exp_dir)
    actor = policy.actors[0]
    assert actor.obs_subtract_mean == 0.5 and actor.obs_scale == 2.0
    by_hand = StandaloneActor(policy.specs[0], policy.models[0], 1.0)  # fed preprocessed observations
    inputs = actor.example_inputs(5, torch.Generator().manual_seed(0))
    n = len(actor.obs_keys)
    prepared = [(x.float() - 0.5) / 2.0 for x in inputs[:n]] + list(inputs[n:])
    with torch.no_grad():
        want = by_hand(*prepared)[1]
        torch.testing.assert_close(actor(*inputs)[1], want, atol=1e-6, rtol=0)
        assert not torch.allclose(by_hand(*inputs)[1], want, atol=1e-4)  # the preprocessing matters here
    (path,) = export_policies(trainer.exp_dir, "onnx")
    session = __import__("onnxruntime").InferenceSession(str(path))
    got = session.run(None, {name: x.numpy() for name, x in zip(actor.input_names, inputs, strict=True)})
    np.testing.assert_allclose(got[1], want.numpy(), atol=1e-5, rtol=0)
