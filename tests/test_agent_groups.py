"""Agent groups: MPE scenarios whose agents have their own spaces, one policy per group, no padding in policies."""

from __future__ import annotations

import numpy as np
import pytest

from marl_sf.algo.policy_mapping import register_policy_mapping
from marl_sf.envs.__main__ import describe
from marl_sf.envs.mpe_catalog import MPE_SCENARIOS
from marl_sf.envs.registry import create_env
from marl_sf.train import Trainer
from tests.adapter_checks import run_checked

SMALL = ("--num_envs=2", "--rollout=5", "--batch_size=10", "--num_epochs=1", "--mpe_max_cycles=10")
GROUPS = {  # agents per policy under --policy_mapping=per_group, and each group's observation size
    "mpe_simple_reference": ([2], [21]),
    "mpe_simple_speaker_listener": ([1, 1], [3, 11]),
    "mpe_simple_adversary": ([1, 2], [8, 10]),
    "mpe_simple_tag": ([3, 1], [16, 14]),
    "mpe_simple_push": ([1, 1], [8, 19]),
    "mpe_simple_world_comm": ([1, 3, 2], [34, 34, 28]),
}


@pytest.mark.parametrize("name", sorted(MPE_SCENARIOS))
def test_mpe_scenarios_keep_the_contract_through_the_adapter(make_cfg, name):
    cfg = make_cfg(f"--env={name}", "--mpe_max_cycles=10")
    assert run_checked(create_env(name, cfg=cfg), 25) == 2


@pytest.mark.parametrize("env", sorted(MPE_SCENARIOS))
def test_mpe_scenarios_train_one_policy_per_group_on_unpadded_observations(make_cfg, env):
    trainer = Trainer(make_cfg(f"--env={env}", f"--experiment={env}", *SMALL, "--train_for_env_steps=40"))
    sizes, obs_dims = GROUPS[env]
    assert [len(s.agent_indices) for s in trainer.specs] == sizes
    assert [st.obs["obs"].shape[-1] for st in trainer.storages] == obs_dims  # [T + 1, E, A_p, D_group]
    assert trainer.train() == 0


def test_stored_rollouts_never_see_another_group_s_padding(make_cfg):
    trainer = Trainer(make_cfg("--env=mpe_simple_speaker_listener", "--experiment=sl", *SMALL))
    trainer.sampler.collect()
    transport = trainer.sampler.runner.buffers.obs["obs"]  # [E, A, 11]: the speaker's 3 values, then zeros
    assert np.all(transport[:, 0, 3:] == 0) and np.any(transport[:, 0, :3] != 0)
    speaker, listener = trainer.storages
    assert np.array_equal(speaker.obs["obs"][-1, :, 0].numpy(), transport[:, 0, :3])
    assert np.array_equal(listener.obs["obs"][-1, :, 0].numpy(), transport[:, 1])
    assert int(speaker.actions.max()) < 3  # the speaker samples from its own Discrete(3), not the transport (5)
    trainer.close()


def test_box_actions_of_different_sizes_are_cut_to_each_agent(make_cfg):
    cfg = make_cfg(
        "--env=mpe_simple_speaker_listener",
        "--experiment=slc",
        *SMALL,
        "--mpe_continuous_actions=True",
        "--train_for_env_steps=40",
    )
    trainer = Trainer(cfg)
    assert [s.action_space.shape for s in trainer.specs] == [(3,), (5,)]
    assert trainer.sampler.runner.buffers.actions.shape == (2, 2, 5)  # [E, A, largest action]
    assert trainer.train() == 0


def test_padded_mode_trains_one_shared_policy_with_an_agent_indicator(make_cfg):
    argv = ("--env=mpe_simple_speaker_listener", "--experiment=pad", *SMALL, "--batch_size=20")
    trainer = Trainer(make_cfg(*argv, "--mpe_pad_agents=True", "--policy_mapping=shared", "--train_for_env_steps=40"))
    (spec,) = trainer.specs
    assert spec.obs_space["obs"].shape == (13,)  # 11 padded + a one-hot of the 2 agent types
    assert trainer.train() == 0


def test_clear_errors_for_mappings_that_mix_spaces_or_leave_an_agent_out(make_cfg):
    cfg = make_cfg("--env=mpe_simple_speaker_listener", "--experiment=mix", *SMALL, "--policy_mapping=shared")
    with pytest.raises(ValueError, match=r"gives policy 0 agents with different spaces.*per_group"):
        Trainer(cfg)
    register_policy_mapping("speakers_only", lambda name, i: 0 if name.startswith("speaker") else None)
    cfg = make_cfg("--env=mpe_simple_speaker_listener", "--experiment=out", *SMALL, "--policy_mapping=speakers_only")
    with pytest.raises(ValueError, match="leaves agent 'listener_0' out"):
        Trainer(cfg)


def test_env_listing_shows_each_group_with_its_own_spaces():
    text = describe("mpe_simple_speaker_listener")
    assert "['speaker_0']\n    observation Dict('obs': Box(-inf, inf, (3,), float32))\n    action Discrete(3)" in text
    assert "['listener_0']\n    observation Dict('obs': Box(-inf, inf, (11,), float32))\n    action Discrete(5)" in text
