"""A recurrent policy solves a memory task a feed-forward policy cannot (truncated BPTT over the rollout)."""

from __future__ import annotations

import pytest

from examples.custom_env import CueRecallEnv
from marl_sf.envs.registry import register_env
from marl_sf.train import Trainer


@pytest.mark.parametrize("use_rnn", [True, False])
def test_recurrent_policy_remembers_the_cue(make_cfg, use_rnn):
    register_env("cue_recall", lambda n, cfg=None, env_config=None, render_mode=None: CueRecallEnv())
    cfg = make_cfg(
        "--env=cue_recall",
        f"--experiment=recall_{use_rnn}",
        f"--use_rnn={use_rnn}",
        "--rnn_size=32",
        "--num_envs=16",
        "--rollout=8",
        "--batch_size=64",
        "--learning_rate=0.003",
        "--gamma=0.9",
        "--train_for_env_steps=16000",
        "--seed=3",
    )
    trainer = Trainer(cfg)
    trainer.train()
    mean_return = trainer.logger.mean_agent_return()  # 1 = always right, 0.5 = guessing
    print(f"use_rnn={use_rnn}: mean return {mean_return:.3f}")
    if use_rnn:
        assert mean_return > 0.9
    else:
        assert mean_return < 0.7
