"""Resume continues the run: RNG states in the checkpoint, envs re-seeded from a continued seed."""

from __future__ import annotations

import random

import numpy as np
import torch

from marl_sf.checkpoint import load_weights_file, write_weights_file
from marl_sf.envs.registry import register_env
from marl_sf.train import Trainer
from marl_sf.utils.rng import capture_rng_states, continued_seed, restore_rng_states
from tests.contract_envs import ValuesEnv

# 2 envs x 2 agents x 5 steps = 20 agent-steps per iteration; 2 minibatches x 2 epochs per update
# a constant learning rate (the default) named: the halves' runs get half the budget, a decaying rate another schedule
RUN = ("--env=values", "--num_envs=2", "--rollout=5", "--batch_size=10", "--num_epochs=2", "--serial_mode=True",
       "--save_every_sec=1000", "--seed=3", "--lr_schedule=constant")  # fmt: skip
STEPS = 160  # 8 iterations; the interrupted run stops after 4


def _trainer(make_cfg, experiment: str, steps: int) -> Trainer:
    register_env("values", lambda n, cfg=None, env_config=None, render_mode=None: ValuesEnv(env_config.env_id))
    return Trainer(make_cfg(*RUN, f"--experiment={experiment}", f"--train_for_env_steps={steps}"))


def test_half_then_resume_gives_the_uninterrupted_run_s_parameters_exactly(make_cfg):
    """N agent-steps in one go and N/2 + resume N/2 end with bitwise equal parameters.

    Exact equality holds by construction: ``ValuesEnv`` is deterministic with 5-step episodes and the rollout is 5
    steps, so the checkpoint falls at an episode boundary and the resumed run's fresh episodes are the ones the
    uninterrupted run starts there (a stochastic env, or a boundary mid-episode, would make the two runs diverge
    from there: the resumed envs start new episodes from the continued seed). Everything else that draws random
    numbers (action sampling, minibatch permutations) continues from the restored RNG states, and the optimizer
    and value normalizer from their saved states. The learning rate is constant (``linear_decay`` would differ:
    the first half decays toward its own, shorter, ``--train_for_env_steps``).
    """
    whole = _trainer(make_cfg, "whole", STEPS)
    assert whole.train() == 0
    assert _trainer(make_cfg, "halves", STEPS // 2).train() == 0
    resumed = _trainer(make_cfg, "halves", STEPS)
    assert resumed.agent_steps == STEPS // 2
    seed = continued_seed(3, STEPS // 2)
    assert seed != 3 and [g.envs[0].seeds for g in resumed.sampler.runner.groups] == [[seed], [seed + 1]]
    assert resumed.train() == 0
    expected, got = whole.models[0].state_dict(), resumed.models[0].state_dict()
    assert all(torch.equal(v, got[k]) for k, v in expected.items())
    assert resumed.learners[0].train_step == whole.learners[0].train_step == 8


def test_rng_states_round_trip_through_a_weights_only_file(tmp_path):
    random.random(), np.random.rand(), torch.rand(1)
    write_weights_file(tmp_path / "rng.pth", {"rng": capture_rng_states()})
    draws = (random.random(), np.random.rand(), np.random.randn(), torch.rand(3).tolist())
    restore_rng_states(load_weights_file(tmp_path / "rng.pth", "cpu")["rng"])
    assert (random.random(), np.random.rand(), np.random.randn(), torch.rand(3).tolist()) == draws


def test_a_fresh_run_keeps_its_seed_and_a_resumed_one_gets_a_new_stream_per_point():
    assert continued_seed(3, 0) == 3 and continued_seed(None, 100) is None
    assert len({continued_seed(3, s) for s in (20, 40, 60)} | {3}) == 4
    assert continued_seed(3, 40) == continued_seed(3, 40)
