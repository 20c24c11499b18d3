"""Sample Factory's documented templates (its "custom environments" and "custom models" pages) run with only their
imports changed to marl_sf.

The custom model template below is the seed's, with its ``...`` bodies filled in with small layers and
``nn.Linear(size)`` completed to ``nn.Linear(size, 1)`` (the seed's line does not run in PyTorch either).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from examples.train_custom_env import parse_args, register_custom_env_envs
from marl_sf.algo.sampler import Sampler
from marl_sf.models.actor_critic import ActorCritic
from marl_sf.models.core import ModelCore
from marl_sf.models.decoder import Decoder
from marl_sf.models.encoder import Encoder
from marl_sf.models.factory import global_model_factory
from marl_sf.train import Trainer

ROOT = Path(__file__).resolve().parents[1]


class CustomEncoder(Encoder):
    def __init__(self, cfg, obs_space):
        super().__init__(cfg)
        self.net = nn.Sequential(nn.Linear(obs_space["obs"].shape[0], 32), nn.ReLU())

    def forward(self, obs_dict):
        return self.net(obs_dict["obs"])

    def get_out_size(self):
        return 32


class CustomCore(ModelCore):
    def __init__(self, cfg, input_size):
        super().__init__(cfg)
        self.core_output_size = input_size

    def forward(self, head_output, rnn_states):
        return head_output, rnn_states


class CustomDecoder(Decoder):
    def __init__(self, cfg, decoder_input_size):
        super().__init__(cfg)
        self.net = nn.Sequential(nn.Linear(decoder_input_size, 16), nn.ReLU())

    def forward(self, core_output):
        return self.net(core_output)

    def get_out_size(self):
        return 16


class CustomActorCritic(ActorCritic):
    def __init__(self, model_factory, obs_space, action_space, cfg):
        super().__init__(obs_space, action_space, cfg)

        self.encoder = CustomEncoder(cfg, obs_space)
        self.core = CustomCore(cfg, self.encoder.get_out_size())
        self.decoder = CustomDecoder(cfg, self.core.get_out_size())
        self.critic_linear = nn.Linear(self.decoder.get_out_size(), 1)
        self.action_parameterization = self.get_action_parameterization(self.decoder.get_out_size())

    def forward(self, normalized_obs_dict, rnn_states, values_only=False):
        x = self.encoder(normalized_obs_dict)
        x, new_rnn_states = self.core(x, rnn_states)
        x = self.decoder(x)
        result = {"values": self.critic_linear(x).squeeze(-1), "new_rnn_states": new_rnn_states}
        if not values_only:
            result["action_logits"], self.last_action_distribution = self.action_parameterization(x)
        return result


def _cfg(tmp_path, *extra):
    register_custom_env_envs()
    argv = [f"--train_dir={tmp_path}", "--device=cpu", "--progress_bar=False", "--env=cue_match", *extra]
    return parse_args(argv)


@pytest.mark.slow
def test_whole_custom_actor_critic_is_used_as_is(tmp_path):
    global_model_factory().register_actor_critic_factory(CustomActorCritic)
    trainer = Trainer(_cfg(tmp_path, "--experiment=ac", "--train_for_env_steps=12000", "--critic_input=local"))
    assert type(trainer.models[0]) is CustomActorCritic
    before = [p.detach().clone() for p in trainer.models[0].parameters()]
    assert trainer.train() == 0
    assert any(not torch.equal(b, p) for b, p in zip(before, trainer.models[0].parameters(), strict=True))
    assert trainer.logger.mean_agent_return() > 3.0  # random play: 2


def test_custom_components_are_used_by_shared_and_separate_weights(tmp_path):
    factory = global_model_factory()
    factory.register_encoder_factory(CustomEncoder)
    factory.register_model_core_factory(CustomCore)
    factory.register_core_factory(CustomCore)  # the seed's other spelling
    factory.register_decoder_factory(CustomDecoder)
    for share in ("True", "False"):
        cfg = _cfg(
            tmp_path, f"--experiment=parts{share}", "--train_for_env_steps=600", f"--actor_critic_share_weights={share}"
        )
        trainer = Trainer(cfg)
        encoders = [m for m in trainer.models[0].modules() if isinstance(m, CustomEncoder)]
        # shared: the trunk plus the centralized critic's state encoder; separate: actor and critic encoders
        assert len(encoders) == 2
        assert any(isinstance(m, CustomDecoder) for m in trainer.models[0].modules())
        assert trainer.train() == 0


def test_sampler_accepts_a_template_model_without_sampling_code(tmp_path):
    global_model_factory().register_actor_critic_factory(CustomActorCritic)
    trainer = Trainer(_cfg(tmp_path, "--experiment=s", "--train_for_env_steps=100"))
    assert isinstance(trainer.sampler, Sampler)
    stats = trainer.sampler.collect()
    assert stats.agent_steps == trainer.cfg.rollout * trainer.cfg.num_envs * 2
    trainer.close()


class WrongValueShapeActorCritic(CustomActorCritic):
    def forward(self, normalized_obs_dict, rnn_states, values_only=False):
        out = super().forward(normalized_obs_dict, rnn_states, values_only)
        out["values"] = out["values"].unsqueeze(-1)  # [B, 1] instead of [B]
        return out


def test_a_custom_model_with_wrong_output_shapes_is_a_clear_error(tmp_path):
    global_model_factory().register_actor_critic_factory(WrongValueShapeActorCritic)
    with pytest.raises(ValueError, match=r"WrongValueShapeActorCritic.forward returned 'values' of shape \(2, 1\)"):
        Trainer(_cfg(tmp_path, "--experiment=bad"))


def test_custom_centralized_critic_example_trains_on_simple_spread(tmp_path):
    from examples.train_custom_env_custom_model import AttentionCriticActorCritic, parse_args, register_model_components

    register_model_components()
    argv = [f"--train_dir={tmp_path}", "--device=cpu", "--progress_bar=False", "--experiment=attention"]
    cfg = parse_args([*argv, "--train_for_env_steps=3600", "--num_envs=8", "--batch_size=600", "--num_epochs=2"])
    assert cfg.env == "mpe_simple_spread" and cfg.critic_input == "joint_obs"
    trainer = Trainer(cfg)
    model = trainer.models[0]
    assert type(model) is AttentionCriticActorCritic and model.num_agents == 3
    obs = {"obs": torch.randn(4, 18), "state": torch.randn(4, 54)}
    swapped = {"obs": obs["obs"], "state": obs["state"].view(4, 3, 18)[:, [2, 0, 1]].reshape(4, 54)}
    with torch.no_grad():  # attention pools over agents: the order of the joint observation does not matter
        assert torch.allclose(model(obs, torch.zeros(4, 0))["values"], model(swapped, torch.zeros(4, 0))["values"])
    before = [p.detach().clone() for p in model.parameters()]
    assert trainer.train() == 0
    assert all(not torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True) if p.requires_grad)
