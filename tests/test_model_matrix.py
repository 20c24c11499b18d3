"""Every model configuration a user can pick: weights sharing x critic input x core x action space.

Each case builds the model through a real Trainer, checks the output shapes on a stored rollout step, runs
two PPO iterations on a small contract env, and checks that the weights moved.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from marl_sf.envs.registry import register_env
from marl_sf.models.action_distribution import num_action_params
from marl_sf.train import Trainer
from tests.contract_envs import ActionSpaceEnv, MaskedActionEnv

ACTION_ENVS = {
    "discrete": lambda: ActionSpaceEnv(gym.spaces.Discrete(4)),
    "multidiscrete": lambda: ActionSpaceEnv(gym.spaces.MultiDiscrete([3, 2])),
    "box": lambda: ActionSpaceEnv(gym.spaces.Box(-1.0, 1.0, (2,), np.float32)),
    "masked_discrete": MaskedActionEnv,
}
CORES = {
    "none": [],
    "gru1": ["--use_rnn=True", "--rnn_type=gru", "--rnn_num_layers=1"],
    "gru2": ["--use_rnn=True", "--rnn_type=gru", "--rnn_num_layers=2"],
    "lstm1": ["--use_rnn=True", "--rnn_type=lstm", "--rnn_num_layers=1"],
    "lstm2": ["--use_rnn=True", "--rnn_type=lstm", "--rnn_num_layers=2"],
}
for _name, _make in ACTION_ENVS.items():
    register_env(f"matrix_{_name}", lambda n, cfg=None, env_config=None, render_mode=None, _make=_make: _make())


@pytest.mark.parametrize("action", ACTION_ENVS)
@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("critic_input", ["local", "state", "state_local", "joint_obs"])
@pytest.mark.parametrize("share", ["True", "False"])
def test_model_matrix_shapes_and_training(make_cfg, share, critic_input, core, action):
    rollout, num_envs, num_agents = 4, 2, 2
    argv = [f"--env=matrix_{action}", "--experiment=m", f"--actor_critic_share_weights={share}"]
    argv += [f"--critic_input={critic_input}", *CORES[core], "--rnn_size=8", "--encoder_mlp_layers", "16"]
    argv += [f"--rollout={rollout}", f"--num_envs={num_envs}", "--batch_size=8", "--num_epochs=1"]
    trainer = Trainer(make_cfg(*argv, f"--train_for_env_steps={2 * rollout * num_envs * num_agents}"))
    model, storage = trainer.models[0], trainer.storages[0]
    rows = num_envs * num_agents
    inputs = model.normalize_obs(storage.batch(slice(0, 1)).rows())  # [1 * E * A, ...]
    out = model(inputs, torch.zeros(rows, model.rnn_state_size()))
    assert out["values"].shape == (rows,)
    assert out["action_logits"].shape == (rows, num_action_params(model.action_space))
    assert out["new_rnn_states"].shape == (rows, model.rnn_state_size())
    assert (model.rnn_state_size() > 0) == (core != "none")
    assert ("state" in inputs) == (critic_input != "local")
    batched = model.forward_batch(storage.batch(slice(0, 1)))  # the engine's path, [E, A, ...]
    torch.testing.assert_close(batched["values"].flatten(), out["values"])  # [E, A] -> [E * A] rows
    torch.testing.assert_close(batched["action_logits"].flatten(0, 1), out["action_logits"])
    assert batched["new_rnn_states"].shape == (num_envs, num_agents, model.rnn_state_size())
    before = [p.detach().clone() for p in model.parameters()]
    assert trainer.train() == 0
    assert trainer.agent_steps == 2 * rollout * num_envs * num_agents
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True))
