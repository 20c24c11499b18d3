"""The rest of the catalog: sisl (multiwalker, pursuit), classic holdem (rlcard) and atari pong (ale-py ROMs)."""

from __future__ import annotations

import pytest
import torch

from marl_sf.envs.registry import create_env
from marl_sf.models.encoder import ConvEncoder
from marl_sf.train import Trainer
from tests.adapter_checks import run_checked


@pytest.mark.parametrize(
    ("name", "extra", "steps"),
    [
        ("sisl_multiwalker", ["--pz_max_cycles=30"], 40),
        ("sisl_pursuit", ["--pz_max_cycles=30"], 40),
        ("classic_leduc_holdem", [], 100),
        ("classic_texas_holdem", [], 100),
        ("atari_pong", ["--pz_max_cycles=30", "--pz_resize", "36", "36"], 40),
    ],
)
def test_catalog_envs_keep_the_contract_through_the_adapters(make_cfg, name, extra, steps):
    assert run_checked(create_env(name, cfg=make_cfg(f"--env={name}", *extra)), steps) >= 1


@pytest.mark.parametrize(
    ("env", "extra"),
    [
        ("sisl_multiwalker", ["--pz_max_cycles=40"]),
        ("sisl_pursuit", ["--pz_max_cycles=40"]),
        ("classic_leduc_holdem", []),
        ("classic_texas_holdem", []),
    ],
)
def test_catalog_envs_train(make_cfg, env, extra):
    argv = [f"--env={env}", f"--experiment={env}", "--num_envs=2", "--rollout=16", "--num_epochs=1", *extra]
    trainer = Trainer(make_cfg(*argv, "--batch_size=16", "--train_for_env_steps=200"))
    assert trainer.train() == 0
    assert trainer.agent_steps >= 200


def test_multiwalker_trains_a_gaussian_policy_on_box_actions(make_cfg):
    argv = ["--env=sisl_multiwalker", "--experiment=mw", "--num_envs=2", "--rollout=8", "--batch_size=48"]
    trainer = Trainer(make_cfg(*argv, "--train_for_env_steps=480"))
    assert trainer.specs[0].action_space.shape == (4,)
    assert trainer.storages[0].actions.dtype.is_floating_point  # [T, E, A, 4] normalized torques
    model = trainer.models[0]
    before = torch.nn.utils.parameters_to_vector(model.parameters()).detach().clone()
    log_std = model.action_parameterization.log_std.detach().clone()  # the Gaussian's state-independent log-std
    assert trainer.train() == 0
    assert trainer.agent_steps >= 480 and trainer.learners[0].train_step >= 4
    after = torch.nn.utils.parameters_to_vector(model.parameters()).detach()
    assert torch.isfinite(after).all() and not torch.equal(before, after)
    assert not torch.equal(log_std, model.action_parameterization.log_std.detach())  # the policy's spread learned


def test_atari_pong_trains_a_cnn_on_two_players_small_frames(make_cfg):
    argv = ["--env=atari_pong", "--experiment=pong", "--pz_resize", "36", "36", "--pz_max_cycles=40"]
    trainer = Trainer(make_cfg(*argv, "--num_envs=2", "--rollout=8", "--batch_size=32", "--train_for_env_steps=64"))
    assert isinstance(trainer.models[0].encoder, ConvEncoder)
    assert trainer.storages[0].obs["obs"].shape[2:] == (2, 36, 36, 3)  # [T + 1, E, A, H, W, frames], uint8
    assert trainer.train() == 0
