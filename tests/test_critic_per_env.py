"""The global state once per env: a built-in ``state``/``joint_obs`` critic computes one value per env, not per agent.

These check that the built-in models' shortcuts (the critic once per env, values left to the learner) change
nothing but the work: the same actions, log-probs, values and weights after an update as the base class's path (the
row adapter Sample Factory-style models get), minibatches of whole (step, env) cells, normalizer statistics over
envs, and the cases where the critic must run per agent.
"""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import pytest
import torch

from marl_sf.models.actor_critic import ActorCritic, ActorCriticSeparateWeights
from marl_sf.models.batch import PolicyBatch
from marl_sf.models.core import ModelCoreRNN
from marl_sf.models.critic_input import critic_input
from marl_sf.models.obs_normalizer import ObservationNormalizer
from marl_sf.train import Trainer

SPREAD = ["--env=mpe_simple_spread", "--num_envs=4", "--rollout=5", "--batch_size=30", "--num_epochs=1"]


def _base_path(model):
    """A copy of a built-in model with its shortcuts off: ``act``, ``value`` and ``evaluate`` run the base class's
    row adapter over ``forward``, values come with the actions."""
    plain = copy.deepcopy(model)
    plain.critic_once_per_env, plain.values_from_act = False, True
    return plain


def _trained(make_cfg, *argv: str) -> Trainer:
    trainer = Trainer(make_cfg(*SPREAD, "--experiment=per_env", *argv, "--train_for_env_steps=120"))
    assert trainer.train() == 0  # two rollouts: the storage holds real observations and states
    return trainer


@pytest.mark.parametrize("share", ["True", "False"])
@pytest.mark.parametrize("critic_input", ["state", "joint_obs"])
@pytest.mark.parametrize("time_aware", ["True", "False"])
def test_per_env_critic_gives_the_outputs_of_the_row_adapter(make_cfg, share, critic_input, time_aware):
    trainer = _trained(make_cfg, f"--actor_critic_share_weights={share}", f"--critic_input={critic_input}",
                       f"--time_aware_critic={time_aware}", "--normalize_input=True")  # fmt: skip
    model, st = trainer.models[0], trainer.storages[0]
    batch = st.batch(slice(0, st.rollout))  # [T * E] cells of 3 agents, "state" [T * E, G]
    assert model.critic_once_per_env
    assert batch.state.shape[0] == st.rollout * st.num_envs and batch.obs["obs"].shape[:2] == (20, 3)
    rows = batch.rows()["state"]  # [T * E * 3, G]
    assert rows.shape[0] == 60 and not torch.equal(rows[0], rows[3]) and torch.equal(rows[0], rows[2])
    with torch.no_grad():
        fast = model.forward_batch(batch)
        slow = ActorCritic.forward_batch(model, batch)  # the flattening adapter: forward on rows
    torch.testing.assert_close(fast["values"], slow["values"])
    torch.testing.assert_close(fast["action_logits"], slow["action_logits"])
    assert fast["values"].shape == (20, 3)
    if share == "False":  # a separate critic on the state alone: one value per env, the same for its agents
        assert torch.equal(fast["values"][:, 0], fast["values"][:, 2])
    plain = _base_path(model)
    with torch.no_grad():
        acted, plain_acted = model.act(batch, deterministic=True), plain.act(batch, deterministic=True)
        torch.testing.assert_close(acted.actions, plain_acted.actions, rtol=0, atol=0)
        torch.testing.assert_close(acted.log_probs, plain_acted.log_probs)
        assert (acted.values is None) == (share == "False")  # a separate feed-forward critic: the actor alone
        torch.testing.assert_close(model.value(batch), plain.value(batch))
        fast, slow = model.evaluate(batch, acted.actions), plain.evaluate(batch, acted.actions)
    for name in ("log_probs", "entropy", "values"):
        torch.testing.assert_close(getattr(fast, name), getattr(slow, name))


def test_minibatches_are_whole_cells_covering_the_rollout_once(make_cfg):
    trainer = _trained(make_cfg, "--critic_input=state")
    learner, st = trainer.learners[0], trainer.storages[0]
    batch = st.batch(slice(0, st.rollout))
    seen = []
    for cells in learner._minibatches(st, 2):
        mb = batch.select(cells)  # 10 cells of all 3 agents: 30 agent-steps
        assert mb.num_envs == 10 and mb.state.shape[0] == 10 and mb.obs["obs"].shape[:2] == (10, 3)
        torch.testing.assert_close(mb.rows()["state"], batch.rows()["state"].view(20, 3, -1)[cells].flatten(0, 1))
        seen.append(cells)
    assert torch.equal(torch.cat(seen).sort().values, torch.arange(20))  # every cell once per epoch
    parts = [len(cells) for cells in learner._minibatches(st, 3)]  # 20 cells in 3 minibatches
    assert parts == [7, 7, 6]


def test_normalizer_counts_an_env_state_once_when_any_of_its_agents_is_active(make_cfg):
    trainer = Trainer(make_cfg(*SPREAD, "--experiment=norm", "--critic_input=state", "--normalize_input=True"))
    model = trainer.models[0]
    generator = torch.Generator().manual_seed(0)
    state_dim = model.obs_space["state"].shape[0]
    batch = PolicyBatch(
        obs={"obs": torch.randn(4, 3, 18, generator=generator)},
        state=torch.randn(4, state_dim, generator=generator),
        rnn_states=torch.zeros(4, 3, 0),
        agent_onehot=torch.eye(3),
        critic=critic_input("state"),
    )
    active = torch.zeros(4, 3, dtype=torch.bool)
    active[0, :2] = active[2, 1] = active[3, :] = True  # envs 0, 2, 3 have an active agent; env 1 none
    fresh = ObservationNormalizer(model.obs_space)
    model.obs_normalizer = fresh
    model.update_normalizer(batch, active)
    torch.testing.assert_close(fresh.stats["state"].mean, batch.state[[0, 2, 3]].mean(0))
    assert fresh.stats["state"].count.item() == 3
    torch.testing.assert_close(fresh.stats["obs"].mean, batch.obs["obs"][active].mean(0))
    assert fresh.stats["obs"].count.item() == 6


def test_normalizer_keys_missing_from_a_batch_are_left_alone():
    space = gym.spaces.Dict({"obs": gym.spaces.Box(-1, 1, (2,), np.float32), "state": gym.spaces.Box(-1, 1, (3,))})
    normalizer = ObservationNormalizer(space)
    normalizer.update({"obs": torch.randn(5, 2)})
    assert normalizer.stats["obs"].count.item() == 5 and normalizer.stats["state"].count.item() == 0


@pytest.mark.parametrize(
    "argv",
    [["--critic_input=state_local"], ["--critic_input=state", "--use_rnn=True"], ["--critic_input=local"]],
)
def test_critic_runs_per_agent_where_values_differ_per_agent_or_carry_state(make_cfg, argv):
    trainer = Trainer(make_cfg(*SPREAD, "--experiment=per_row", *argv))
    assert not trainer.models[0].critic_once_per_env
    batch = trainer.storages[0].batch(slice(0, 1))
    assert all(v.shape[0] == 12 for v in batch.rows().values())  # 4 envs x 3 agents, one row each


def test_a_subclass_with_its_own_forward_goes_through_the_row_adapter(make_cfg):
    from marl_sf.models.factory import global_model_factory

    class OwnForward(ActorCriticSeparateWeights):
        def forward(self, normalized_obs_dict, rnn_states, values_only: bool = False):
            return super().forward(normalized_obs_dict, rnn_states, values_only)

    class SameForward(ActorCriticSeparateWeights):
        pass

    class DeclaredShortcuts(OwnForward):
        shortcuts = True  # its forward computes what the built-in one does: it keeps the shortcuts

    trainer = Trainer(make_cfg(*SPREAD, "--experiment=sub", "--critic_input=state"))
    model = trainer.models[0]
    args = (global_model_factory(), model.obs_space, model.action_space, model.cfg)
    assert model.critic_once_per_env and SameForward(*args).critic_once_per_env
    assert not OwnForward(*args).critic_once_per_env and not OwnForwardBatch(*args).critic_once_per_env
    # act leaves the values to the learner only where the built-in forward passes run
    assert not SameForward(*args).values_from_act and OwnForward(*args).values_from_act
    assert OwnForwardBatch(*args).values_from_act
    assert DeclaredShortcuts(*args).critic_once_per_env and not DeclaredShortcuts(*args).values_from_act

    class ForwardMixin:
        def forward(self, normalized_obs_dict, rnn_states, values_only: bool = False):
            return super().forward(normalized_obs_dict, rnn_states, values_only)

    class MixedIn(ForwardMixin, ActorCriticSeparateWeights):
        pass

    assert not MixedIn(*args).critic_once_per_env and MixedIn(*args).values_from_act  # the mixin's forward runs

    class RecurrentCritic(ActorCriticSeparateWeights):  # replaces a part after the built-in __init__
        def __init__(self, *a):
            super().__init__(*a)
            self.critic_core = ModelCoreRNN(model.cfg, self.critic_encoder.get_out_size())  # a GRU by default

    late = RecurrentCritic(*args)
    assert not late.critic_once_per_env and late.values_from_act  # decided from the model as built


class OwnForwardBatch(ActorCriticSeparateWeights):
    def forward_batch(self, batch, values_only: bool = False):
        return super().forward_batch(batch, values_only)


def test_a_truncation_without_a_final_observation_bootstraps_from_its_last_inputs(make_cfg):
    trainer = Trainer(make_cfg(*SPREAD, "--experiment=no_final", "--critic_input=joint_obs", "--value_bootstrap=True"))
    sampler, st = trainer.sampler, trainer.storages[0]
    sampler.collect()
    sampler.step.has_final[:] = False  # as an env that reports no final observation
    sampler._bootstrap_truncated(2, torch.tensor([1, 3]))
    with torch.no_grad():
        expected = trainer.models[0].value(st.batch(slice(2, 3), envs=slice(None)))[[1, 3]]  # V(obs_2) of envs 1, 3
    torch.testing.assert_close(st.bootstrap_values[2, [1, 3]], expected)
    trainer.close()


@pytest.mark.parametrize("critic_input", ["state", "local"])
def test_the_shortcuts_give_the_rollout_and_update_of_the_base_class_path(make_cfg, critic_input):
    argv = [*SPREAD, "--actor_critic_share_weights=False", f"--critic_input={critic_input}", "--normalize_input=True",
            "--value_bootstrap=True", "--mpe_max_cycles=3", "--seed=3"]  # fmt: skip
    runs = {}
    for shortcuts in (True, False):  # each built, then sampled, then trained: the same seeds, weights and actions
        trainer = Trainer(make_cfg(*argv, f"--experiment=values_{shortcuts}"))
        model, st, learner = trainer.models[0], trainer.storages[0], trainer.learners[0]
        assert not model.values_from_act  # a separate feed-forward critic: act runs the actor alone
        assert model.critic_once_per_env == (critic_input == "state")
        if not shortcuts:  # the Sample Factory way: values at every sampling step, the critic per agent
            model.values_from_act, model.critic_once_per_env = True, False
        trainer.sampler.collect()
        assert st.truncated.any()  # 3-step episodes in 5-step rollouts: bootstrapped truncations
        assert st.values[:-1].any() != shortcuts  # values recorded while sampling only on the base path
        learner.fill_values(st)
        ids = torch.tensor([0, 2])  # the fallback V(obs_t) for envs that report no final observation
        obs, state = {k: v[1, ids] for k, v in st.obs.items()}, st.state[1, ids] if st.state is not None else None
        trainer.sampler._bootstrap(0, 1, ids, obs, state, st.rnn_states[1])
        torch.testing.assert_close(st.bootstrap_values[1, ids], st.values[1, ids])
        runs[shortcuts] = (st.actions.clone(), st.log_probs.clone(), st.values.clone(), st.bootstrap_values.clone())
        learner.train(st)
        runs[shortcuts] += (torch.nn.utils.parameters_to_vector(model.parameters()).detach(),)
        trainer.close()
    torch.testing.assert_close(runs[True][0], runs[False][0], rtol=0, atol=0)  # the same actions
    for short, base in zip(runs[True][1:], runs[False][1:], strict=True):
        torch.testing.assert_close(short, base)  # log-probs, values, bootstraps, weights after one update
    assert runs[True][3][1, ids].ne(0).all()
