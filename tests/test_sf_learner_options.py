"""Sample Factory 2's learner options: --kl_loss_coeff, --lr_schedule=kl_adaptive_*, --exploration_loss=symmetric_kl,
--optimizer, --shuffle_minibatches, --reward_scale / --reward_clip."""

from __future__ import annotations

import dataclasses
import importlib.util
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

import marl_sf.algo.learner as learner_module
from marl_sf.algo.learner import Learner, Minibatch, kl_adaptive_lr, make_optimizer
from marl_sf.algo.losses import kl_penalty, symmetric_kl_exploration
from marl_sf.envs.registry import register_env
from marl_sf.models.action_distribution import action_distribution, symmetric_kl_with_uniform_prior
from marl_sf.models.actor_critic import create_actor_critic
from marl_sf.train import Trainer
from marl_sf.utils.extras import MissingExtraError
from tests.configs import full_cfg
from tests.contract_envs import ActionSpaceEnv, MaskedActionEnv

OBS = gym.spaces.Dict({"obs": gym.spaces.Box(-1.0, 1.0, (3,), np.float32)})


def _sym_kl_uniform(p: list[float]) -> float:
    """By hand: ``0.5 * (KL(p || u) + KL(u || p))`` with ``u`` uniform over the entries of ``p``."""
    u = 1.0 / len(p)
    return 0.5 * (sum(q * math.log(q / u) for q in p) + sum(u * math.log(u / q) for q in p))


def test_symmetric_kl_with_uniform_prior_known_answers():
    space = gym.spaces.Discrete(3)
    dist = action_distribution(space, torch.tensor([[0.5, 0.25, 0.25], [1.0, 1.0, 1.0]]).log())
    # p = (1/2, 1/4, 1/4), u = 1/3: KL(p||u) = 0.5 ln 1.5 + 0.5 ln 0.75, KL(u||p) = (ln(2/3) + 2 ln(4/3)) / 3
    hand = 0.5 * (0.5 * math.log(1.5) + 0.5 * math.log(0.75) + (math.log(2 / 3) + 2 * math.log(4 / 3)) / 3)
    assert hand == pytest.approx(0.0577623, abs=1e-7) and _sym_kl_uniform([0.5, 0.25, 0.25]) == pytest.approx(hand)
    torch.testing.assert_close(symmetric_kl_with_uniform_prior(dist), torch.tensor([hand, 0.0]))
    # masked: the third choice is illegal, so u = 1/2 over the two legal ones and p = (3/4, 1/4) there
    logits = torch.tensor([[0.75, 0.25, 5.0]]).log().requires_grad_()
    masked = symmetric_kl_with_uniform_prior(action_distribution(space, logits, torch.tensor([[1, 1, 0]])))
    hand_masked = 0.5 * (0.75 * math.log(1.5) + 0.25 * math.log(0.5) + 0.5 * math.log(2 / 3) + 0.5 * math.log(2))
    assert masked.item() == pytest.approx(hand_masked, rel=1e-6) and hand_masked == pytest.approx(0.1373265, abs=1e-7)
    masked.sum().backward()
    assert torch.isfinite(logits.grad).all() and logits.grad[0, 2] == 0  # no gradient through the masked choice
    # MultiDiscrete: the sum over its categoricals
    multi = action_distribution(gym.spaces.MultiDiscrete([3, 2]), torch.tensor([[0.5, 0.25, 0.25, 0.8, 0.2]]).log())
    expected = _sym_kl_uniform([0.5, 0.25, 0.25]) + _sym_kl_uniform([0.8, 0.2])
    assert symmetric_kl_with_uniform_prior(multi).item() == pytest.approx(expected, rel=1e-6)


def test_symmetric_kl_gradient_step_moves_toward_uniform_and_the_loss_is_clamped_at_30():
    logits = torch.tensor([[2.0, 0.0, -1.0]], requires_grad=True)
    before = symmetric_kl_with_uniform_prior(action_distribution(gym.spaces.Discrete(3), logits))
    before.sum().backward()
    with torch.no_grad():
        after = symmetric_kl_with_uniform_prior(action_distribution(gym.spaces.Discrete(3), logits - 0.1 * logits.grad))
    assert after.item() < before.item()
    mask = torch.tensor([True, True, False])
    assert symmetric_kl_exploration(torch.tensor([1.0, 3.0, 100.0]), mask).item() == pytest.approx(2.0)
    big = torch.tensor([40.0, 50.0, 0.0], requires_grad=True)
    clamped = symmetric_kl_exploration(big, mask)
    clamped.backward()
    assert clamped.item() == 30.0 and torch.equal(big.grad, torch.zeros(3))  # Sample Factory's clamp(max=30)


def test_kl_penalty_known_answer_and_gradient():
    # r = 2 and 1/2 on the active steps: (r - 1) - ln r = 1 - ln 2 and ln 2 - 1/2, mean exactly 1/4
    new = torch.tensor([0.5, 0.2, 0.9]).log().requires_grad_()
    old = torch.tensor([0.25, 0.4, 0.1]).log()
    kl = kl_penalty(new, old, torch.tensor([True, True, False]))
    assert kl.item() == pytest.approx(0.25, rel=1e-6)
    kl.backward()  # d/dlogp of (r - 1 - log r) is r - 1, over 2 active steps
    torch.testing.assert_close(new.grad, torch.tensor([0.5, -0.25, 0.0]))


def test_kl_adaptive_lr_follows_sample_factory_rule():
    lrs, lr = [], 1e-3
    for kl in (0.05, 0.001, 0.01, 0.03, 0.0169, 0.0041):  # threshold 0.01: > 0.02 divides, < 0.005 multiplies
        lr = kl_adaptive_lr(lr, kl, 0.01, 1e-4, 1e-2)
        lrs.append(lr)
    expected = [1e-3 / 1.5, 1e-3, 1e-3, 1e-3 / 1.5, 1e-3 / 1.5, 1e-3]
    assert lrs == pytest.approx(expected, rel=1e-12)
    assert kl_adaptive_lr(0.009, 0.0, 0.01, 1e-4, 1e-2) == 1e-2  # capped at --lr_adaptive_max
    assert kl_adaptive_lr(1.2e-4, 1.0, 0.01, 1e-4, 1e-2) == 1e-4  # floored at --lr_adaptive_min


@pytest.mark.parametrize(
    "space",
    [
        gym.spaces.Box(-1.0, 1.0, (2,), np.float32),
        gym.spaces.Tuple((gym.spaces.Discrete(3), gym.spaces.Box(0.0, 1.0, (2,)))),
    ],
)
def test_symmetric_kl_with_a_box_action_space_is_refused_when_the_model_is_built(space):
    with pytest.raises(ValueError, match=r"--exploration_loss=symmetric_kl.*Box.*--exploration_loss=entropy"):
        create_actor_critic(full_cfg(exploration_loss="symmetric_kl"), OBS, space)
    create_actor_critic(full_cfg(), OBS, space)  # the entropy bonus is fine


def test_adam_stays_the_default_optimizer():
    cfg = full_cfg()
    opt = make_optimizer(cfg, [torch.nn.Parameter(torch.zeros(2))])
    assert cfg.optimizer == "adam" and type(opt) is torch.optim.Adam
    group = opt.param_groups[0]
    assert (group["lr"], group["betas"], group["eps"]) == (
        cfg.learning_rate,
        (cfg.adam_beta1, cfg.adam_beta2),
        cfg.adam_eps,
    )


@pytest.mark.skipif(importlib.util.find_spec("torch_optimizer") is not None, reason="torch-optimizer is installed")
def test_lamb_without_torch_optimizer_names_the_install():
    with pytest.raises(MissingExtraError, match="pip install torch-optimizer"):
        make_optimizer(full_cfg(optimizer="lamb"), [torch.nn.Parameter(torch.zeros(2))])


@pytest.mark.skipif(importlib.util.find_spec("torch_optimizer") is None, reason="torch-optimizer is not installed")
def test_lamb_is_torch_optimizers():
    import torch_optimizer

    assert isinstance(
        make_optimizer(full_cfg(optimizer="lamb"), [torch.nn.Parameter(torch.zeros(2))]), torch_optimizer.Lamb
    )


def _trainer(make_cfg, *argv, env="discrete") -> Trainer:
    """A trainer on two-agent 5-step episodes (reward 1 for action 0), 4 envs, rollout 10, 2 epochs of 2
    minibatches; nothing collected yet."""
    if env == "masked":
        register_env("sf_opts_masked", lambda n, cfg=None, env_config=None, render_mode=None: MaskedActionEnv())
    else:
        space = gym.spaces.Discrete(4)
        register_env("sf_opts_discrete", lambda n, cfg=None, env_config=None, render_mode=None: ActionSpaceEnv(space))
    trainer = Trainer(
        make_cfg(
            f"--env=sf_opts_{env}",
            "--experiment=sf_opts",
            "--num_envs=4",
            "--rollout=10",
            "--num_minibatches=2",
            "--num_epochs=2",
            "--train_for_env_steps=400",
            *argv,
        )
    )
    return trainer


@pytest.mark.parametrize(("scale", "clip"), [(3.0, 2.0), (-3.0, 2.0), (0.5, 1000.0)])
def test_stored_rewards_are_scaled_and_clipped_and_episode_returns_are_not(make_cfg, scale, clip):
    trainer = _trainer(make_cfg, f"--reward_scale={scale}", f"--reward_clip={clip}")
    try:
        stats = trainer.sampler.collect()
        st = trainer.storages[0]
        raw = (st.actions == 0).float()  # [T, E, A]: the env pays 1 for action 0
        assert 0 < raw.sum() < raw.numel()
        torch.testing.assert_close(st.rewards, (raw * scale).clamp(-clip, clip))
        # every env played two whole 5-step episodes; their returns are the unscaled sums
        assert sorted(stats.episode_env_ids) == [0, 0, 1, 1, 2, 2, 3, 3]
        seen = {}
        for env, returns in zip(stats.episode_env_ids, stats.episode_returns, strict=True):
            half = seen.setdefault(env, 0)
            seen[env] += 1
            np.testing.assert_allclose(returns, raw[5 * half : 5 * half + 5, env].sum(0).numpy())
    finally:
        trainer.close()


def _zero_advantage_minibatch(learner: Learner, st, log_ratio: float) -> Minibatch:
    """Every cell of the collected rollout, with advantages and value targets 0 and behaviour log-probs such that
    ``log pi(a) - log mu(a) = log_ratio`` under the current weights."""
    batch = st.batch(slice(0, st.rollout), learner.cfg.obs_scale)
    zeros = torch.zeros_like(st.log_probs.flatten(0, 1))
    mb = Minibatch(
        batch,
        st.actions.flatten(0, 1),
        zeros,
        st.values[:-1].flatten(0, 1),
        zeros,
        zeros,
        st.active[:-1].flatten(0, 1),
        st.episode_start[:-1].flatten(0, 1),
        st.rollout if st.recurrent else 1,
    )
    with torch.no_grad():
        current = learner._evaluate(mb).log_probs
    return dataclasses.replace(mb, old_log_probs=current - log_ratio)


def test_kl_loss_known_answer_in_the_update(make_cfg):
    trainer = _trainer(
        make_cfg,
        "--kl_loss_coeff=0.3",
        "--exploration_loss_coeff=0",
        "--normalize_returns=False",
        "--actor_critic_share_weights=False",
    )
    try:
        trainer.sampler.collect()
        learner, st = trainer.learners[0], trainer.storages[0]
        mb = _zero_advantage_minibatch(learner, st, math.log(2.0))  # r = 2 on every agent-step
        with torch.no_grad():
            before = learner._evaluate(mb).log_probs
        stats = learner._update(mb)
        assert stats["approx_kl"] == pytest.approx(1.0 - math.log(2.0), rel=1e-5)
        assert stats["kl_loss"] == pytest.approx(0.3 * (1.0 - math.log(2.0)), rel=1e-5)
        assert stats["policy_loss"] == 0.0 and stats["exploration_loss"] == 0.0
        assert stats["loss"] == pytest.approx(learner.cfg.value_loss_coeff * stats["value_loss"] + stats["kl_loss"])
        with torch.no_grad():
            after = learner._evaluate(mb).log_probs
        assert (after - before).mean() < 0  # the penalty pulls the actions' log-probs back toward the behaviour's
    finally:
        trainer.close()


def test_without_kl_loss_the_actor_does_not_move_on_zero_advantages(make_cfg):
    """The control of the test above: the same update with --kl_loss_coeff=0 leaves the actions' log-probs."""
    trainer = _trainer(
        make_cfg, "--exploration_loss_coeff=0", "--normalize_returns=False", "--actor_critic_share_weights=False"
    )
    try:
        trainer.sampler.collect()
        learner, st = trainer.learners[0], trainer.storages[0]
        mb = _zero_advantage_minibatch(learner, st, math.log(2.0))
        with torch.no_grad():
            before = learner._evaluate(mb).log_probs
        stats = learner._update(mb)
        assert stats["kl_loss"] == 0.0 and stats["approx_kl"] > 0.3
        with torch.no_grad():
            torch.testing.assert_close(learner._evaluate(mb).log_probs, before)
    finally:
        trainer.close()


@pytest.mark.parametrize("argv", [(), ("--use_rnn=True",)])
def test_symmetric_kl_exploration_in_the_update_and_a_masked_run(make_cfg, argv):
    trainer = _trainer(make_cfg, "--exploration_loss=symmetric_kl", "--exploration_loss_coeff=0.5", *argv, env="masked")
    try:
        trainer.sampler.collect()
        learner, st = trainer.learners[0], trainer.storages[0]
        mb = _zero_advantage_minibatch(learner, st, 0.0)
        with torch.no_grad():
            out = learner._evaluate(mb)  # recurrent: unrolled over the steps, symmetric_kl joined like the rest
            assert out.symmetric_kl.shape == out.log_probs.shape == mb.mask.shape
            mask = mb.mask.flatten()
            expected = 0.5 * out.symmetric_kl.flatten()[mask].mean().clamp(max=30.0)
        stats = learner._update(mb)
        assert stats["exploration_loss"] == pytest.approx(expected.item(), rel=1e-5) and expected > 0
        assert stats["loss"] == pytest.approx(
            stats["policy_loss"]
            + learner.cfg.value_loss_coeff * stats["value_loss"]
            + stats["exploration_loss"]
            + stats["kl_loss"],
            abs=1e-6,
        )
        if not st.recurrent:  # the recurrent unroll is slower; one run of the whole loop is enough
            st.carry_last_step()
            assert trainer.train() == 0  # a short run on masked actions
    finally:
        trainer.close()


def test_symmetric_kl_with_a_model_that_returns_none_is_a_clear_error(make_cfg):
    trainer = _trainer(make_cfg, "--exploration_loss=symmetric_kl")
    try:
        trainer.sampler.collect()
        model = trainer.models[0]
        evaluate = model.evaluate
        model.evaluate = lambda batch, actions: dataclasses.replace(evaluate(batch, actions), symmetric_kl=None)
        with pytest.raises(ValueError, match=r"evaluate returned no symmetric_kl.*--exploration_loss=entropy"):
            trainer.learners[0].train(trainer.storages[0])
    finally:
        trainer.close()


def _record_lrs(monkeypatch, learner: Learner, kls: list[float]) -> list[tuple[float, float]]:
    """Make the updates' ``approx_kl`` the values ``kls`` in turn; returns the (lr of the step, lr after it) of each
    ``_update`` as it runs."""
    kls_left = iter(kls)
    real_policy_loss = learner_module.policy_loss

    def policy_loss(*args):
        loss, clip_fraction, approx_kl = real_policy_loss(*args)
        return loss, clip_fraction, torch.tensor(next(kls_left))

    monkeypatch.setattr(learner_module, "policy_loss", policy_loss)
    seen, update = [], learner._update

    def recording_update(mb, where=""):
        used = learner.optimizer.param_groups[0]["lr"]
        stats = update(mb, where)
        seen.append((used, learner.optimizer.param_groups[0]["lr"]))
        return stats

    monkeypatch.setattr(learner, "_update", recording_update)
    return seen


@pytest.mark.parametrize(
    ("schedule", "kls", "after"),
    [
        ("kl_adaptive_minibatch", [0.05, 0.001, 0.01, 0.03], [1 / 1.5, 1.0, 1.0, 1 / 1.5]),  # after each minibatch
        ("kl_adaptive_epoch", [0.05, 0.03, 0.001, 0.002], [1.0, 1 / 1.5, 1 / 1.5, 1.0]),  # epoch means 0.04, 0.0015
    ],
)
def test_kl_adaptive_learning_rate_persists_across_updates_and_checkpoints(make_cfg, monkeypatch, schedule, kls, after):
    argv = (
        f"--lr_schedule={schedule}",
        "--learning_rate=0.001",
        "--lr_schedule_kl_threshold=0.01",
        "--lr_adaptive_min=0.0001",
        "--lr_adaptive_max=0.01",
    )
    trainer = _trainer(make_cfg, *argv)
    try:
        trainer.sampler.collect()
        learner, st = trainer.learners[0], trainer.storages[0]
        assert learner.set_learning_rate(0.0) == 0.001
        seen = _record_lrs(monkeypatch, learner, kls)
        learner.train(st)  # 2 epochs x 2 minibatches
        lrs = [0.001 * f for f in after]
        assert [a for _, a in seen] == pytest.approx(lrs, rel=1e-12)
        assert [u for u, _ in seen] == pytest.approx([0.001, *lrs[:-1]], rel=1e-12)  # each step used the lr so far
        # the next update starts from the adapted rate, whatever the progress
        assert learner.set_learning_rate(0.9) == pytest.approx(lrs[-1]) == learner.optimizer.param_groups[0]["lr"]
        state = learner.state_dict()
        resumed = Learner(learner.cfg, learner.model, learner.device)
        resumed.load_state_dict(state)
        assert resumed.set_learning_rate(0.5) == pytest.approx(lrs[-1])
        old = Learner(learner.cfg, learner.model, learner.device)
        old.load_state_dict({k: v for k, v in state.items() if k != "curr_lr"})  # a checkpoint from before
        assert old.set_learning_rate(0.5) == 0.001
    finally:
        trainer.close()


def test_constant_schedule_is_unchanged_by_the_kl(make_cfg, monkeypatch):
    trainer = _trainer(make_cfg, "--learning_rate=0.001", "--lr_schedule=constant")
    try:
        trainer.sampler.collect()
        learner = trainer.learners[0]
        seen = _record_lrs(monkeypatch, learner, [0.05, 0.001, 0.05, 0.001])
        learner.train(trainer.storages[0])
        assert seen == [(0.001, 0.001)] * 4 and learner.set_learning_rate(0.5) == 0.001
    finally:
        trainer.close()


@pytest.mark.parametrize("argv", [(), ("--use_rnn=True",)])
def test_unshuffled_minibatches_are_contiguous_ranges_in_order(make_cfg, argv):
    trainer = _trainer(make_cfg, "--shuffle_minibatches=False", *argv)
    try:
        learner, st = trainer.learners[0], trainer.storages[0]
        rng = learner.generator.get_state()
        epochs = [[m.tolist() for m in learner._minibatches(st, 3)] for _ in range(2)]
        assert epochs[0] == epochs[1] and torch.equal(learner.generator.get_state(), rng)  # no draw
        if st.recurrent:  # whole env columns 0-1, 2, 3 (tensor_split of 4 envs in 3), time-major
            expected = [[t * 4 + e for t in range(10) for e in envs] for envs in ([0, 1], [2], [3])]
        else:  # 40 (t, e) cells in order, in 14 + 13 + 13
            expected = [list(range(0, 14)), list(range(14, 27)), list(range(27, 40))]
        assert epochs[0] == expected
        learner.cfg.shuffle_minibatches = True  # the control: the default draws from the generator
        assert len(list(learner._minibatches(st, 3))) == 3
        assert not torch.equal(learner.generator.get_state(), rng)
    finally:
        trainer.close()
