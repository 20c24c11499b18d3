"""Encoders: conv architectures, image layouts, dict observations, critic-only keys, and their errors."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from marl_sf.envs.registry import register_env
from marl_sf.models.actor_critic import create_actor_critic
from marl_sf.models.conv import CONV_ARCHITECTURES
from marl_sf.models.encoder import ConvEncoder, Encoder, MlpEncoder, MultiInputEncoder, make_default_encoder
from marl_sf.models.factory import global_model_factory
from marl_sf.models.model_utils import Activation
from marl_sf.train import Trainer
from tests.configs import full_cfg
from tests.contract_envs import ImageCueEnv, PrivilegedCueEnv

VEC = gym.spaces.Box(-1.0, 1.0, (5,), np.float32)


def _cfg(**kw):
    base = dict(encoder_mlp_layers=[32], encoder_conv_mlp_layers=[64], nonlinearity="relu", use_rnn=False)
    return full_cfg(**{**base, **kw})


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu", "elu"])
@pytest.mark.parametrize("architecture", CONV_ARCHITECTURES)
def test_encoders_give_the_same_outputs_with_gradients_off(architecture, nonlinearity):
    # with gradients off, activations after a layer write into its output; a residual block's input is kept
    cfg = _cfg(encoder_conv_architecture=architecture, nonlinearity=nonlinearity, encoder_mlp_layers=[16, 16])
    space = gym.spaces.Dict({"obs": _image((40, 40, 3)), "vec": VEC})
    encoder = MultiInputEncoder(cfg, space)
    obs = {"obs": torch.rand(3, 40, 40, 3), "vec": torch.rand(3, 5)}
    with_grad = encoder(obs)
    with torch.no_grad():  # tanh in place on the CPU is by the sigmoid identity: within 2e-7 of torch.tanh
        torch.testing.assert_close(encoder(obs), with_grad, rtol=0, atol=1e-6)
    with_grad.sum().backward()  # the recorded graph is intact
    assert all(p.grad is not None for p in encoder.parameters())


@pytest.mark.parametrize("numel", [100, 100_001])  # below and above the sigmoid identity's size
def test_tanh_in_place_matches_torch_tanh(numel):
    x = torch.linspace(-20.0, 20.0, numel)
    with torch.no_grad():
        out = Activation("tanh", overwrite_input=True)(x.clone())
    torch.testing.assert_close(out, torch.tanh(x), rtol=0, atol=2e-7)
    assert out.abs().max() <= 1.0


def _image(shape):
    return gym.spaces.Box(0, 255, shape, np.uint8)


@pytest.mark.parametrize("architecture", CONV_ARCHITECTURES)
def test_each_conv_architecture_encodes_channels_last_and_first_alike(architecture):
    cfg = _cfg(encoder_conv_architecture=architecture)
    hwc = ConvEncoder(cfg, gym.spaces.Dict({"obs": _image((40, 40, 3))}))
    chw = ConvEncoder(cfg, gym.spaces.Dict({"obs": _image((3, 40, 40))}))
    chw.load_state_dict(hwc.state_dict())
    images = torch.rand(4, 40, 40, 3)
    out = hwc({"obs": images})
    assert out.shape == (4, 64) and hwc.get_out_size() == 64
    assert torch.allclose(out, chw({"obs": images.permute(0, 3, 1, 2)}), atol=1e-6)


def test_an_image_too_small_for_the_architecture_is_a_clear_error():
    with pytest.raises(ValueError, match=r"\(16, 16, 3\) is too small for convnet_atari: use convnet_impala"):
        ConvEncoder(_cfg(encoder_conv_architecture="convnet_atari"), gym.spaces.Dict({"obs": _image((16, 16, 3))}))
    small = ConvEncoder(_cfg(encoder_conv_architecture="convnet_impala"), gym.spaces.Dict({"obs": _image((8, 8, 3))}))
    assert small({"obs": torch.rand(2, 8, 8, 3)}).shape == (2, 64)


def test_default_encoder_per_observation_kind():
    cfg = _cfg(encoder_conv_architecture="convnet_simple")
    assert isinstance(make_default_encoder(cfg, gym.spaces.Dict({"obs": VEC})), MlpEncoder)
    assert isinstance(make_default_encoder(cfg, gym.spaces.Dict({"obs": _image((36, 36, 3))})), ConvEncoder)
    board = gym.spaces.Box(0, 1, (6, 7, 2), np.int8)  # connect_four's planes: not pixels, flattened into the MLP
    assert isinstance(make_default_encoder(cfg, gym.spaces.Dict({"obs": board})), MlpEncoder)
    mixed = gym.spaces.Dict({"obs": _image((36, 36, 3)), "inventory": VEC, "action_mask": VEC})
    encoder = make_default_encoder(cfg, mixed)
    assert isinstance(encoder, MultiInputEncoder)
    assert set(encoder.encoders) == {"obs", "inventory"}  # one sub-encoder per input key, no action_mask
    assert encoder.get_out_size() == 64 + 32
    obs = {"obs": torch.rand(3, 36, 36, 3), "inventory": torch.rand(3, 5), "action_mask": torch.ones(3, 5)}
    out = encoder(obs)
    assert out.shape == (3, 96)
    # the concatenation follows the space's (sorted) keys: [inventory features, image features]
    assert list(encoder.encoders) == ["inventory", "obs"]
    moved = encoder({**obs, "inventory": torch.rand(3, 5)})
    assert not torch.equal(out[:, :32], moved[:, :32]) and torch.equal(out[:, 32:], moved[:, 32:])


@pytest.mark.parametrize("share", [True, False])
@pytest.mark.parametrize("critic_input", ["local", "state"])
def test_critic_only_keys_reach_the_critic_and_never_the_actor(share, critic_input):
    spaces = {"obs": VEC, "privileged": gym.spaces.Box(-1.0, 1.0, (2,), np.float32)}
    if critic_input == "state":
        spaces["state"] = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
    cfg = _cfg(actor_critic_share_weights=share, critic_only_obs_keys=["privileged"])
    model = create_actor_critic(cfg, gym.spaces.Dict(spaces), gym.spaces.Discrete(3))
    obs = {k: torch.rand(6, *s.shape) for k, s in spaces.items()}
    out = model(obs, torch.zeros(6, 0))
    moved = model({**obs, "privileged": torch.rand(6, 2) * 5}, torch.zeros(6, 0))
    assert torch.equal(out["action_logits"], moved["action_logits"])
    assert not torch.allclose(out["values"], moved["values"])


@pytest.mark.slow
def test_asymmetric_single_agent_critic_trains(make_cfg):
    register_env("privileged_cue", lambda n, cfg=None, env_config=None, render_mode=None: PrivilegedCueEnv())
    argv = ["--env=privileged_cue", "--experiment=priv", "--num_envs=8", "--rollout=8", "--batch_size=32"]
    trainer = Trainer(make_cfg(*argv, "--critic_only_obs_keys", "privileged", "--train_for_env_steps=6000"))
    actor_keys = [m.keys for m in trainer.models[0].encoder.modules() if isinstance(m, MlpEncoder)]
    assert actor_keys == [["obs"]]
    assert trainer.train() == 0
    assert trainer.logger.mean_agent_return() > 4.5  # random play: 4 steps * 2 mean payout / 3 = 2.7; best 8


def test_critic_only_key_that_does_not_exist_is_a_clear_error(make_cfg):
    register_env("privileged_cue", lambda n, cfg=None, env_config=None, render_mode=None: PrivilegedCueEnv())
    cfg = make_cfg("--env=privileged_cue", "--experiment=bad", "--critic_only_obs_keys", "secret")
    with pytest.raises(ValueError, match=r"names 'secret', which is not an observation key .*\(keys: \['obs', 'priv"):
        Trainer(cfg)


class InventoryEncoder(Encoder):
    """Reads an ``inventory`` key, which the cue game's observations do not have."""

    def __init__(self, cfg, obs_space):
        super().__init__(cfg)
        self.net = torch.nn.Linear(4, 8)

    def forward(self, obs_dict):
        return self.net(obs_dict["inventory"])

    def get_out_size(self):
        return 8


def test_an_encoder_for_an_obs_key_that_does_not_exist_is_a_clear_error():
    global_model_factory().register_encoder_factory(InventoryEncoder)
    space = gym.spaces.Dict({"obs": gym.spaces.Box(0.0, 1.0, (4,), np.float32)})
    with pytest.raises(ValueError, match=r"reads obs key 'inventory' .* its keys are \['obs'\]"):
        create_actor_critic(_cfg(), space, gym.spaces.Discrete(2))


@pytest.mark.slow
@pytest.mark.parametrize("architecture,size", [("convnet_simple", 36), ("convnet_impala", 12)])
def test_cnn_policy_learns_the_image_cue_game_with_uint8_storage(make_cfg, architecture, size):
    register_env("image_cue", lambda n, cfg=None, env_config=None, render_mode=None: ImageCueEnv(size=size))
    argv = ["--env=image_cue", f"--experiment={architecture}", "--num_envs=8", "--rollout=8", "--batch_size=64"]
    argv += [f"--encoder_conv_architecture={architecture}", "--encoder_conv_mlp_layers", "32", "--obs_scale=255"]
    argv += ["--learning_rate=0.001", "--nonlinearity=relu", "--train_for_env_steps=5000"]
    trainer = Trainer(make_cfg(*argv))
    assert trainer.storages[0].obs["obs"].dtype == torch.uint8
    assert trainer.train() == 0
    assert trainer.logger.mean_agent_return() > 4.0  # random play: 8 steps / 3 actions = 2.7; best 8
