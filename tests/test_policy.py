"""``marl_sf.load_policy``: a trained policy acting in the user's own PettingZoo loop as it does in evaluation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import marl_sf
from marl_sf.algo.runners import make_local_envs
from marl_sf.enjoy import evaluate
from marl_sf.train import Trainer

SPREAD = ["--env=mpe_simple_spread", "--num_envs=2", "--batch_size=150", "--mpe_max_cycles=25"]


def _train(make_cfg, *argv: str) -> Path:
    trainer = Trainer(make_cfg(*argv))
    assert trainer.train() == 0
    return trainer.exp_dir


def test_a_loaded_policy_in_a_pettingzoo_loop_plays_the_episodes_evaluation_plays(make_cfg):
    exp = _train(make_cfg, *SPREAD, "--experiment=loaded", "--train_for_env_steps=1500")
    policy = marl_sf.load_policy(exp)
    cfg = policy.cfg
    for seed in (3, 4):
        returns, _ = evaluate(cfg, policy.specs, policy.models, make_local_envs(cfg, 1), 1, True, seed)  # [1, A]
        env = policy.make_env()  # the PettingZoo ParallelEnv as registered
        obs, _ = env.reset(seed=seed)
        mine = dict.fromkeys(env.possible_agents, 0.0)
        while env.agents:
            obs, rewards, _, _, _ = env.step(policy.act(obs))
            for agent, reward in rewards.items():
                mine[agent] += reward
        env.close()
        np.testing.assert_allclose([mine[a] for a in env.possible_agents], returns[0], rtol=1e-5)


def test_a_loaded_board_game_policy_only_makes_legal_moves_in_an_aec_loop(make_cfg):
    argv = ["--env=classic_tictactoe", "--experiment=ttt", "--num_envs=4", "--train_for_env_steps=800"]
    policy = marl_sf.load_policy(_train(make_cfg, *argv), deterministic=False)
    env = policy.make_env()  # PettingZoo's AEC raw_env: it refuses an illegal move itself
    env.reset(seed=0)
    games = 0
    for agent in env.agent_iter(max_iter=400):
        obs, _, terminated, truncated, _ = env.last()
        action = None
        if not (terminated or truncated):
            action = policy.act({agent: obs})[agent]
            assert isinstance(action, int) and obs["action_mask"][action] == 1
        env.step(action)
        if not env.agents:
            games += 1
            env.reset()
    assert games >= 20
    env.close()


def test_recurrent_state_is_kept_per_agent_until_reset(make_cfg):
    exp = _train(make_cfg, *SPREAD, "--experiment=rnn", "--use_rnn=True", "--train_for_env_steps=300")
    policy = marl_sf.load_policy(exp)
    env = policy.make_env()
    obs, _ = env.reset(seed=0)
    policy.act({"agent_1": obs["agent_1"]})  # only agent_1 acts: only its state moves
    states = policy.rnn[0]  # [A_p, R] of the one policy
    assert states[1].abs().sum() > 0 and not states[0].any()
    policy.reset(["agent_1"])
    assert not policy.rnn[0].any()
    with pytest.raises(KeyError, match="not an agent of 'mpe_simple_spread'"):
        policy.reset(["agent_9"])
    with pytest.raises(KeyError, match="'agent_9' is not an agent"):
        policy.act({"agent_9": obs["agent_0"]})
    env.close()


def test_a_folder_without_an_experiment_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not an experiment folder"):
        marl_sf.load_policy(tmp_path)


def test_the_docs_example_runs(make_cfg, capsys):
    exp = _train(make_cfg, *SPREAD, "--experiment=docs", "--train_for_env_steps=150")
    page = (Path(__file__).resolve().parents[1] / "docs" / "using_policies.md").read_text()
    code = page.split("```python\n", 1)[1].split("```", 1)[0]
    exec(code.replace('"train_dir/simple_spread_mappo"', repr(str(exp))), {})
    assert "agent_0" in capsys.readouterr().out
