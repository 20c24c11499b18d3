"""Short real training runs: learning, checkpoints, resume, evaluation report, clear errors."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch

from examples.train_custom_env import parse_args, register_custom_env_envs
from marl_sf.checkpoint import find_checkpoint, load_checkpoint
from marl_sf.enjoy import enjoy
from marl_sf.envs.registry import register_env
from marl_sf.train import Trainer, run_rl
from tests.pz_envs import LeavingAgentsEnv

CUE = ("--env=cue_match", "--experiment=cue", "--seed=1")


@pytest.fixture(autouse=True)
def _register_envs():
    register_custom_env_envs()
    register_env("leaving_agents", lambda name, cfg=None, env_config=None, render_mode=None: LeavingAgentsEnv())


def _cue_cfg(make_cfg, *extra, evaluation=False):
    """The custom env template's own parsing (its extra option and overridden defaults)."""
    train_dir = make_cfg("--env=cue_match").train_dir
    argv = [f"--train_dir={train_dir}", "--device=cpu", "--progress_bar=False", "--save_plots=False", *CUE]
    return parse_args([*argv, "--train_for_env_steps=12000", "--save_every_sec=1000", *extra], evaluation)


@pytest.mark.slow
@pytest.mark.parametrize("share", ["True", "False"])
@pytest.mark.parametrize("critic_input", ["local", "state"])
def test_short_training_run_learns_the_cue_game(make_cfg, share, critic_input):
    cfg = _cue_cfg(make_cfg, f"--actor_critic_share_weights={share}", f"--critic_input={critic_input}")
    trainer = Trainer(cfg)
    assert trainer.train() == 0
    # random play earns 8 / 4 = 2 per agent and episode, a perfect policy 8
    assert trainer.logger.mean_agent_return() > 5.0
    assert find_checkpoint(trainer.exp_dir, 0) is not None
    assert list((trainer.exp_dir / ".summary").iterdir())


def test_short_simple_spread_run_writes_checkpoint_and_report(make_cfg):
    argv = ("--env=mpe_simple_spread", "--experiment=spread", "--num_envs=4", "--batch_size=300", "--seed=0")
    assert run_rl(make_cfg(*argv, "--train_for_env_steps=3000")) == 0
    cfg = make_cfg(*argv, "--max_num_episodes=6", evaluation=True)
    assert enjoy(cfg) == 0
    eval_dir = Path(cfg.train_dir) / "spread" / "eval"
    report = json.loads((eval_dir / "report.json").read_text())
    assert [a["name"] for a in report["agents"]] == ["agent_0", "agent_1", "agent_2"]
    for key in (
        "episodes",
        "return_mean",
        "return_std",
        "return_min",
        "return_max",
        "return_ci95",
        "length_mean",
    ):
        assert key in report["agents"][0] and key in report["policies"][0] and key in report["team"]
    assert report["agents"][0]["episodes"] == 6 and report["agents"][0]["length_mean"] == 25
    assert report["team"]["return_mean"] == pytest.approx(sum(a["return_mean"] for a in report["agents"]))
    assert report["env"] == "mpe_simple_spread" and "checkpoint_p0" in report["checkpoint"]
    assert "| agent_0 |" in (eval_dir / "report.md").read_text()
    best = make_cfg(*argv, "--max_num_episodes=2", "--load_checkpoint_kind=best", evaluation=True)
    assert enjoy(best) == 0
    assert "best_" in json.loads((eval_dir / "report.json").read_text())["checkpoint"]


def test_resume_continues_from_the_checkpoint(make_cfg):
    first = Trainer(_cue_cfg(make_cfg, "--train_for_env_steps=1000"))
    first.train()
    steps, saved = first.agent_steps, first.learners[0].model.state_dict()
    second = Trainer(_cue_cfg(make_cfg, "--train_for_env_steps=2000"))
    assert second.agent_steps == steps
    for k, v in second.learners[0].model.state_dict().items():
        assert torch.equal(v, saved[k])
    assert second.learners[0].train_step == first.learners[0].train_step
    second.train()
    state = load_checkpoint(find_checkpoint(second.exp_dir, 0), torch.device("cpu"))
    assert state["agent_steps"] >= 2000 and state["train_step"] > first.learners[0].train_step


def test_restart_moves_the_old_experiment_aside(make_cfg, tmp_path):
    Trainer(_cue_cfg(make_cfg, "--train_for_env_steps=100")).train()
    fresh = Trainer(_cue_cfg(make_cfg, "--train_for_env_steps=100", "--restart_behavior=restart"))
    assert fresh.agent_steps == 0
    assert any(p.name.startswith("cue_old_") for p in tmp_path.iterdir())


def test_dead_agent_steps_are_masked_out_of_the_rollout(make_cfg):
    cfg = make_cfg("--env=leaving_agents", "--experiment=leave", "--num_envs=2", "--rollout=6", "--batch_size=36")
    trainer = Trainer(cfg)
    stats = trainer.sampler.collect()
    st = trainer.storages[0]
    # agent i acts at steps 0..i of each 3-step episode: 1 + 2 + 3 = 6 agent-steps per episode per env
    assert stats.agent_steps == 2 * 2 * 6
    assert st.active[:6, 0].tolist() == [[True] * 3, [False, True, True], [False, False, True]] * 2
    assert [r.tolist() for r in stats.episode_returns] == [[1.0, 2.0, 3.0]] * 4
    advantages, _ = trainer.learners[0].compute_targets(st)
    assert torch.all(advantages[~st.active[:-1]] == 0)
    trainer.learners[0].train(st)
    trainer.close()


def test_batch_size_that_does_not_divide_gives_near_equal_minibatches(make_cfg, caplog):
    caplog.set_level(logging.INFO, logger="marl_sf")
    trainer = Trainer(_cue_cfg(make_cfg, "--batch_size=100"))
    try:
        assert "--batch_size=100 on a rollout of 128 agent-steps" in caplog.text
        assert "1 minibatches of about 128 agent-steps" in caplog.text
    finally:
        trainer.close()


def test_enjoy_without_checkpoint_is_a_clear_error(make_cfg):
    with pytest.raises(FileNotFoundError, match="no latest checkpoint in .*checkpoint_p0: train first"):
        enjoy(_cue_cfg(make_cfg, evaluation=True))


def test_corrupt_checkpoint_is_a_clear_error(make_cfg):
    trainer = Trainer(_cue_cfg(make_cfg, "--train_for_env_steps=100"))
    trainer.train()
    find_checkpoint(trainer.exp_dir, 0).write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match="corrupt or unreadable"):
        Trainer(_cue_cfg(make_cfg, "--train_for_env_steps=200"))


@pytest.mark.slow
@pytest.mark.parametrize("rnn_type", ["gru", "lstm"])
def test_recurrent_core_trains(make_cfg, rnn_type):
    cfg = _cue_cfg(make_cfg, "--use_rnn=True", f"--rnn_type={rnn_type}", "--train_for_env_steps=6000")
    trainer = Trainer(cfg)
    assert trainer.train() == 0
    assert trainer.logger.mean_agent_return() > 5.0  # random play 2 per agent and episode, perfect play 8


def test_per_agent_policies_have_their_own_learners_checkpoints_and_report_rows(make_cfg):
    trainer = Trainer(_cue_cfg(make_cfg, "--policy_mapping=per_agent", "--train_for_env_steps=1000", "--batch_size=32"))
    assert [s.agent_indices for s in trainer.specs] == [[0], [1]]
    assert trainer.models[0] is not trainer.models[1]
    trainer.train()
    assert find_checkpoint(trainer.exp_dir, 0) and find_checkpoint(trainer.exp_dir, 1)
    cfg = _cue_cfg(make_cfg, "--policy_mapping=per_agent", "--max_num_episodes=4", evaluation=True)
    assert enjoy(cfg) == 0
    report = json.loads((Path(cfg.train_dir) / "cue" / "eval" / "report.json").read_text())
    assert [p["policy_id"] for p in report["policies"]] == [0, 1]
    assert [a["policy_id"] for a in report["agents"]] == [0, 1]


@pytest.mark.parametrize("critic_input", ["state_local", "joint_obs"])
def test_critic_input_variants_reach_the_critic(make_cfg, critic_input):
    trainer = Trainer(
        _cue_cfg(make_cfg, f"--critic_input={critic_input}", "--add_agent_id=True", "--train_for_env_steps=600")
    )
    spec, st = trainer.specs[0], trainer.storages[0]
    # cue_match: 2 agents, 4-dim observations, an 8-dim state
    expected = {"state_local": 8 + 4 + 2, "joint_obs": 2 * 4}[critic_input]
    assert spec.obs_space["state"].shape == (expected,) and spec.obs_space["agent_id"].shape == (2,)
    trainer.sampler.collect()
    batch = st.batch(slice(0, 1))  # the E envs of slot 0
    # the stored per-env critic input: joint_obs as it is, state_local's state before the per-agent parts
    assert batch.state.shape == (trainer.cfg.num_envs, {"state_local": 8, "joint_obs": expected}[critic_input])
    inputs = batch.rows()  # rows in (e, a) order
    assert inputs["state"].shape == (trainer.cfg.num_envs * 2, expected)
    assert inputs["agent_id"][:2].tolist() == [[1.0, 0.0], [0.0, 1.0]]
    if critic_input == "joint_obs":
        joint = torch.cat([st.obs["obs"][0, 0, 0], st.obs["obs"][0, 0, 1]])
        assert torch.equal(inputs["state"][0], joint) and torch.equal(inputs["state"][1], joint)
    else:
        assert torch.equal(inputs["state"][1, 8:12], st.obs["obs"][0, 0, 1])  # agent 1's own observation
        assert inputs["state"][1, 12:].tolist() == [0.0, 1.0]
    assert trainer.train() == 0


def test_state_critic_on_an_env_without_state_is_a_clear_error(make_cfg):
    with pytest.raises(ValueError, match="needs an env with a global state.*joint_obs"):
        Trainer(_no_state_cfg(make_cfg))


def _no_state_cfg(make_cfg):
    import gymnasium as gym

    register_env("cartpole_state_test", lambda n, cfg=None, env_config=None, render_mode=None: gym.make("CartPole-v1"))
    return make_cfg("--env=cartpole_state_test", "--experiment=nostate", "--critic_input=state")


def test_normalize_input_statistics_are_checkpointed(make_cfg):
    trainer = Trainer(_cue_cfg(make_cfg, "--normalize_input=True", "--critic_input=state", "--train_for_env_steps=600"))
    trainer.train()
    state = load_checkpoint(find_checkpoint(trainer.exp_dir, 0), torch.device("cpu"))["learner"]["model"]
    assert state["obs_normalizer.stats.obs.count"].item() > 0
    assert state["obs_normalizer.stats.state.count"].item() > 0
    # cue one-hots of 4 values: each entry has mean 1/4
    assert state["obs_normalizer.stats.obs.mean"].tolist() == pytest.approx([0.25] * 4, abs=0.1)
