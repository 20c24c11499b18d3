"""A recurrent policy solves a memory task a feed-forward policy cannot (truncated BPTT over the rollout).

Whether a policy is recurrent is its model's fact: a registered core that declares its own state size is
carried and unrolled like ``--use_rnn``'s GRU without that option.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from examples.custom_env import CueRecallEnv
from marl_sf.envs.registry import register_env
from marl_sf.models.core import ModelCore
from marl_sf.models.factory import global_model_factory
from marl_sf.train import Trainer


class OwnStateGRUCore(ModelCore):
    """A registered recurrent core with a state size of its own (``[B, 32]``), independent of ``--use_rnn``."""

    def __init__(self, cfg, input_size: int):
        super().__init__(cfg)
        self.cell = nn.GRUCell(input_size, 32)
        self.core_output_size = 32

    def forward(self, head_output: torch.Tensor, rnn_states: torch.Tensor):
        h = self.cell(head_output, rnn_states)  # [B, D], [B, 32] -> [B, 32]
        return h, h

    def rnn_state_size(self) -> int:
        return 32


@pytest.mark.slow
@pytest.mark.parametrize("core", ["use_rnn", "registered_core", "feed_forward"])
def test_recurrent_policy_remembers_the_cue(make_cfg, core):
    register_env("cue_recall", lambda n, cfg=None, env_config=None, render_mode=None: CueRecallEnv())
    if core == "registered_core":
        global_model_factory().register_model_core_factory(OwnStateGRUCore)
    cfg = make_cfg(
        "--env=cue_recall",
        f"--experiment=recall_{core}",
        f"--use_rnn={core == 'use_rnn'}",
        "--rnn_size=32",
        "--num_envs=16",
        "--rollout=8",
        "--batch_size=64",
        "--learning_rate=0.003",
        "--gamma=0.9",
        "--train_for_env_steps=8000",
        "--seed=3",
    )
    trainer = Trainer(cfg)
    assert trainer.models[0].is_recurrent == (core != "feed_forward")
    trainer.train()
    mean_return = trainer.logger.mean_agent_return()  # 1 = always right, 0.5 = guessing
    print(f"{core}: mean return {mean_return:.3f}")
    if core != "feed_forward":
        assert mean_return > 0.9
    else:
        assert mean_return < 0.7
