"""The generic defaults: minibatching that fits any rollout, truncation handling, learning-health warnings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from examples.custom_env import CueMatchEnv
from marl_sf.algo.learner import minibatch_count
from marl_sf.envs.registry import register_env
from marl_sf.health import LearningHealth
from marl_sf.train import Trainer


def _register_cue(num_agents: int) -> str:
    name = f"cue_{num_agents}_agents"
    register_env(name, lambda *a, cfg=None, env_config=None, render_mode=None, n=num_agents: CueMatchEnv(num_agents=n))
    return name


@pytest.mark.parametrize("num_agents", [1, 3, 20])
def test_default_minibatches_fit_any_number_of_agents(make_cfg, num_agents):
    env = _register_cue(num_agents)
    trainer = Trainer(make_cfg(f"--env={env}", "--experiment=mb", "--num_epochs=1", "--train_for_env_steps=1"))
    try:
        st, learner = trainer.storages[0], trainer.learners[0]
        cells = st.rollout * st.num_envs  # 32 x 16 (step, env) cells of A agent-steps each
        assert minibatch_count(trainer.cfg, st) == 4
        minibatches = list(learner._minibatches(st, 4))
        assert sorted(torch.cat(minibatches).tolist()) == list(range(cells))  # every agent-step once
        trainer.sampler.collect()
        stats = learner.train(st)
        assert np.isfinite(stats["loss"])
    finally:
        trainer.close()


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (("--batch_size=1024",), 1),  # larger than the 512-step rollout of one agent: clipped to one minibatch
        (("--batch_size=100",), 5),  # does not divide 512: five near-equal minibatches
        (("--num_minibatches=1000",), 512),  # more than there are agent-steps: one agent-step each
        (("--num_minibatches=6", "--use_rnn=True"), 6),  # 16 (env, agent) trajectories into 6 groups
        (("--num_minibatches=64", "--use_rnn=True"), 16),  # clipped to whole trajectories
    ],
)
def test_minibatch_options_never_contradict_the_rollout(make_cfg, extra, expected):
    env = _register_cue(1)
    trainer = Trainer(make_cfg(f"--env={env}", "--experiment=mb", "--num_epochs=1", *extra))
    try:
        assert minibatch_count(trainer.cfg, trainer.storages[0]) == expected
        trainer.sampler.collect()
        assert np.isfinite(trainer.learners[0].train(trainer.storages[0])["loss"])
    finally:
        trainer.close()


def _episode_returns(rng, means):
    return [list(rng.normal(m, 2.0, size=10)) for m in means]


def test_health_warns_on_a_falling_return_and_not_on_a_learning_run():
    rng = np.random.default_rng(0)
    falling, learning = LearningHealth(window=50), LearningHealth(window=50)
    fired_falling, fired_learning = [], []
    for it, (down, up) in enumerate(zip(np.linspace(-25, -50, 60), np.linspace(-25, -10, 60), strict=True)):
        stats = {"entropy": 3.9 - it * 0.01, "value_loss": 0.5}
        fired_falling += falling.observe(0, list(rng.normal(down, 3.0, size=10)), stats)
        fired_learning += learning.observe(0, list(rng.normal(up, 3.0, size=10)), stats)
    assert len(fired_falling) == 1 and "mean episode return fell from" in fired_falling[0]
    assert falling.active_warnings() == ["policy 0: return falling"]
    assert fired_learning == [] and learning.active_warnings() == []


def test_health_warns_on_entropy_collapse_and_value_loss_explosion_once():
    health = LearningHealth(window=20)
    fired = []
    for it in range(40):
        entropy = 1.6 if it < 20 else 0.05
        value_loss = 0.2 if it < 30 else 50.0
        fired += health.observe(0, [1.0], {"entropy": entropy, "value_loss": value_loss})
    assert [m.split(": ")[1].split(" ")[1] for m in fired] == ["policy", "value"]
    assert "entropy collapsed to 0.050 from 1.600" in fired[0]
    assert "250x its early median" in fired[1]
    assert health.active_warnings() == ["policy 0: entropy collapsed", "policy 0: value loss exploding"]


def test_truncation_ends_the_return_unless_value_bootstrap(make_cfg):
    env = _register_cue(2)
    for bootstrap in (False, True):
        trainer = Trainer(make_cfg(f"--env={env}", "--experiment=vb", f"--value_bootstrap={bootstrap}"))
        try:
            st, learner = trainer.storages[0], trainer.learners[0]
            trainer.sampler.collect()
            st.values.fill_(5.0)  # a critic that predicts 5 everywhere (normalized and return units alike)
            st.bootstrap_values.fill_(5.0)
            learner.value_norm = None
            st.truncated[3] = True  # an episode cut by a time limit at step 3
            st.terminated[3] = False
            _, returns = learner.compute_targets(st)
            expected = st.rewards[3] + (learner.cfg.gamma * 5.0 if bootstrap else 0.0)
            assert torch.allclose(returns[3], expected)
        finally:
            trainer.close()


@pytest.mark.slow
def test_user_wrapped_simple_reference_does_not_degrade_with_the_defaults(make_cfg):
    """Regression: a user's own simple_reference adapter, trained with the generic defaults, fell from about -28
    to -36 per agent by 100k agent-steps (and -60 greedy after 1.5M) while every truncation was bootstrapped
    from V(final observation); with truncations ending the return it holds at random play's level or above."""
    from mpe2 import simple_reference_v3

    from marl_sf.envs.pettingzoo import PettingZooParallelEnv

    register_env(
        "user_simple_reference",
        lambda *a, cfg=None, env_config=None, render_mode=None: PettingZooParallelEnv(
            simple_reference_v3.parallel_env(render_mode=render_mode)
        ),
    )
    argv = ("--env=user_simple_reference", "--experiment=ref", "--train_for_env_steps=100000", "--num_workers=-1")
    cfg = make_cfg(*argv)
    trainer = Trainer(cfg)
    assert trainer.train() == 0
    assert trainer.logger.mean_agent_return() > -32.0  # random play: -28.7


def test_default_mapping_shares_a_policy_among_agents_with_the_same_spaces(make_cfg):
    from mpe2 import simple_speaker_listener_v4

    from marl_sf.envs.pettingzoo import PettingZooParallelEnv

    register_env(
        "user_speaker_listener",
        lambda *a, cfg=None, env_config=None, render_mode=None: PettingZooParallelEnv(
            simple_speaker_listener_v4.parallel_env()
        ),
    )
    trainer = Trainer(make_cfg("--env=user_speaker_listener", "--experiment=sl", "--train_for_env_steps=1"))
    try:  # speaker (obs 3, Discrete(3)) and listener (obs 11, Discrete(5)): one policy each
        assert [spec.agent_indices for spec in trainer.specs] == [[0], [1]]
    finally:
        trainer.close()
    trainer = Trainer(make_cfg(f"--env={_register_cue(3)}", "--experiment=cue3", "--train_for_env_steps=1"))
    try:  # alike agents: parameter sharing
        assert [spec.agent_indices for spec in trainer.specs] == [[0, 1, 2]]
    finally:
        trainer.close()
