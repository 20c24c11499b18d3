"""The global state once per env: a built-in ``state`` critic computes one value per env, not per agent row.

These check that the shortcut changes nothing but the work: the same outputs as per-row states, the right state
for every row of a whole-env minibatch, normalizer statistics over envs, and the cases where it must stay off.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from marl_sf.algo.learner import _take
from marl_sf.algo.storage import state_per_row
from marl_sf.models.obs_normalizer import ObservationNormalizer
from marl_sf.train import Trainer

SPREAD = ["--env=mpe_simple_spread", "--num_envs=4", "--rollout=5", "--batch_size=30", "--num_epochs=1"]


def _trained(make_cfg, *argv: str) -> Trainer:
    trainer = Trainer(make_cfg(*SPREAD, "--experiment=per_env", *argv, "--train_for_env_steps=120"))
    assert trainer.train() == 0  # two rollouts: the storage holds real observations and states
    return trainer


@pytest.mark.parametrize("share", ["True", "False"])
@pytest.mark.parametrize("critic_input", ["state", "joint_obs"])
def test_per_env_state_gives_the_outputs_of_per_row_states(make_cfg, share, critic_input):
    trainer = _trained(make_cfg, f"--actor_critic_share_weights={share}", f"--critic_input={critic_input}")
    model, st = trainer.models[0], trainer.storages[0]
    assert model.state_per_env and st.state_per_env
    inputs = st.flat_inputs(slice(0, st.rollout))  # [T * E * 3, ...], "state" [T * E, G]
    rows = st.rollout * st.num_envs * st.num_agents
    assert inputs["state"].shape[0] == rows // 3 and inputs["obs"].shape[0] == rows
    per_row = state_per_row(inputs, st.num_agents)  # "state" [T * E * 3, G]
    assert per_row["state"].shape[0] == rows and not torch.equal(per_row["state"][0], per_row["state"][3])
    with torch.no_grad():
        fast = model(model.normalize_obs(inputs), torch.zeros(rows, 0))
        slow = model(model.normalize_obs(per_row), torch.zeros(rows, 0))
    torch.testing.assert_close(fast["values"], slow["values"])
    torch.testing.assert_close(fast["action_logits"], slow["action_logits"])


def test_whole_env_minibatches_give_every_row_its_env_state(make_cfg):
    trainer = _trained(make_cfg, "--critic_input=state")
    learner, st = trainer.learners[0], trainer.storages[0]
    inputs = st.flat_inputs(slice(0, st.rollout))
    per_row = state_per_row(inputs, st.num_agents)
    seen = []
    for rows in learner._minibatches(st, 2, whole_envs=True):
        assert rows.numel() == 30
        mb = _take(inputs, rows, st.num_agents)  # "state": one row per env of the minibatch
        assert mb["state"].shape[0] == 10
        torch.testing.assert_close(state_per_row(mb, st.num_agents)["state"], per_row["state"][rows])
        torch.testing.assert_close(mb["obs"], inputs["obs"][rows])
        seen.append(rows)
    assert torch.equal(torch.cat(seen).sort().values, torch.arange(60))  # every row once per epoch
    parts = [len(rows) for rows in learner._minibatches(st, 3, whole_envs=True)]  # 20 envs in 3 minibatches
    assert parts == [21, 21, 18]  # batch_size 20 rounded to whole envs of 3 agents, every row once


def test_normalizer_counts_an_env_state_once_when_any_of_its_agents_is_selected():
    space = gym.spaces.Dict(
        {"obs": gym.spaces.Box(-1, 1, (2,), np.float32), "state": gym.spaces.Box(-1, 1, (3,), np.float32)}
    )
    per_env = ObservationNormalizer(space)
    generator = torch.Generator().manual_seed(0)
    obs = {"obs": torch.randn(12, 2, generator=generator), "state": torch.randn(4, 3, generator=generator)}
    mask = torch.zeros(12, dtype=torch.bool)  # 4 envs x 3 agents
    mask[[0, 1, 7, 9, 10]] = True  # envs 0, 2, 3 have an active agent; env 1 none
    per_env.update(obs, mask)
    torch.testing.assert_close(per_env.stats["state"].mean, obs["state"][[0, 2, 3]].mean(0))
    assert per_env.stats["state"].count.item() == 3
    torch.testing.assert_close(per_env.stats["obs"].mean, obs["obs"][mask].mean(0))


@pytest.mark.parametrize(
    "argv",
    [["--critic_input=state_local"], ["--critic_input=state", "--use_rnn=True"], ["--critic_input=local"]],
)
def test_per_env_state_stays_off_where_values_differ_per_agent_or_carry_state(make_cfg, argv):
    trainer = Trainer(make_cfg(*SPREAD, "--experiment=per_row", *argv))
    assert not trainer.storages[0].state_per_env
    inputs = trainer.storages[0].flat_inputs(slice(0, 1))
    assert all(v.shape[0] == 12 for v in inputs.values())  # 4 envs x 3 agents, one row each


def test_a_subclass_with_its_own_forward_gets_per_row_states(make_cfg):
    from marl_sf.models.actor_critic import ActorCriticSeparateWeights
    from marl_sf.models.factory import global_model_factory

    class OwnForward(ActorCriticSeparateWeights):
        def forward(self, normalized_obs_dict, rnn_states, values_only: bool = False):
            return super().forward(normalized_obs_dict, rnn_states, values_only)

    class SameForward(ActorCriticSeparateWeights):
        pass

    trainer = Trainer(make_cfg(*SPREAD, "--experiment=sub", "--critic_input=state"))
    model = trainer.models[0]
    args = (global_model_factory(), model.obs_space, model.action_space, model.cfg)
    assert model.state_per_env and SameForward(*args).state_per_env
    assert not OwnForward(*args).state_per_env
