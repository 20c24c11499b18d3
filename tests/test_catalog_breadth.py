"""The rest of the catalog: sisl (multiwalker, pursuit), classic holdem (rlcard) and atari pong (ale-py ROMs)."""

from __future__ import annotations

import pytest
from pettingzoo.atari import pong_v3
from pettingzoo.classic import leduc_holdem_v4, texas_holdem_v4
from pettingzoo.sisl import multiwalker_v9, pursuit_v5
from pettingzoo.test import api_test, parallel_api_test

from marl_sf.envs.image_catalog import ale_roms
from marl_sf.models.encoder import ConvEncoder
from marl_sf.train import Trainer


def test_underlying_envs_pass_pettingzoo_api_tests():
    parallel_api_test(multiwalker_v9.parallel_env(max_cycles=30), num_cycles=40)
    parallel_api_test(pursuit_v5.parallel_env(max_cycles=30), num_cycles=40)
    api_test(leduc_holdem_v4.env(), num_cycles=100)
    api_test(texas_holdem_v4.env(), num_cycles=100)
    parallel_api_test(pong_v3.parallel_env(max_cycles=30, auto_rom_install_path=ale_roms()), num_cycles=40)


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
    trainer = Trainer(
        make_cfg("--env=sisl_multiwalker", "--experiment=mw", "--num_envs=2", "--rollout=8", "--batch_size=48")
    )
    assert trainer.specs[0].action_space.shape == (4,)
    assert trainer.storages[0].actions.dtype.is_floating_point  # [T, E, A, 4] normalized torques
    trainer.close()


def test_atari_pong_trains_a_cnn_on_two_players_small_frames(make_cfg):
    argv = ["--env=atari_pong", "--experiment=pong", "--pz_resize", "36", "36", "--pz_max_cycles=40"]
    trainer = Trainer(make_cfg(*argv, "--num_envs=2", "--rollout=8", "--batch_size=32", "--train_for_env_steps=64"))
    assert isinstance(trainer.models[0].encoder, ConvEncoder)
    assert trainer.storages[0].obs["obs"].shape[2:] == (2, 36, 36, 3)  # [T + 1, E, A, H, W, frames], uint8
    assert trainer.train() == 0
