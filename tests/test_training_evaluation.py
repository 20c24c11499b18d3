"""Evaluation of the current policies during training (``marl_sf.evaluation.TrainingEvaluation``): the best
checkpoint is chosen on it, ``enjoy`` measures the same policy, and training's random streams are untouched."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from marl_sf.checkpoint import find_checkpoint, load_checkpoint
from marl_sf.enjoy import enjoy
from marl_sf.train import Trainer
from marl_sf.utils.summary_reader import read_all_scalars, read_scalar_events

# CartPole terminates (a fall ends the episode), so sampled and greedy episodes differ in length
CARTPOLE = ("--env=gym:CartPole-v1", "--experiment=cp_eval", "--num_envs=4", "--batch_size=512", "--rollout=64")


def _train(make_cfg, *extra: str) -> Trainer:
    trainer = Trainer(make_cfg(*CARTPOLE, "--train_for_env_steps=12000", "--save_every_sec=1000", *extra))
    assert trainer.train() == 0
    return trainer


def _enjoy_team(make_cfg, capsys, *extra: str) -> dict:
    assert enjoy(make_cfg(*CARTPOLE, "--load_checkpoint_kind=best", *extra, evaluation=True)) == 0
    capsys.readouterr()
    cfg = make_cfg(*CARTPOLE, evaluation=True)
    return json.loads((Path(cfg.train_dir) / "cp_eval" / "eval" / "report.json").read_text())["team"]


def test_best_checkpoint_is_chosen_on_evaluations_that_enjoy_agrees_with(make_cfg, capsys):
    started = time.time()
    trainer = _train(make_cfg, "--eval_every_sec=0.5", "--eval_episodes=8")
    best = load_checkpoint(find_checkpoint(trainer.exp_dir, 0, "best"), torch.device("cpu"))
    assert best["best_metric_source"] == "evaluation:sampled"
    chosen = best["evaluation"]["reports"]["sampled"]  # --eval_deterministic=False: enjoy's default mode
    assert best["evaluation"]["chosen_mode"] == "sampled"
    assert best["evaluation"]["agent_steps"] == best["agent_steps"]
    assert best["best_metric"] == pytest.approx(chosen["policies"][0]["return_mean"])
    assert set(best["evaluation"]["reports"]) == {"sampled", "greedy"}
    # enjoy with the evaluation's episodes plays the very same ones
    same = _enjoy_team(make_cfg, capsys, "--max_num_episodes=8")
    assert same["return_mean"] == pytest.approx(chosen["team"]["return_mean"])
    # enjoy's own evaluation (more episodes, other seeds) agrees within the two 95% intervals
    lo, hi = chosen["team"]["return_ci95"]
    full = _enjoy_team(make_cfg, capsys, "--eval_seed=7", "--max_num_episodes=40")
    assert full["episodes"] == 40
    assert full["return_ci95"][0] <= hi and lo <= full["return_ci95"][1]
    # every evaluation was logged at its agent-steps, beside the training return and episode length
    scalars = read_all_scalars(trainer.exp_dir / ".summary")
    for tag in ("policy_0/eval/sampled/episode_return", "policy_0/eval/greedy/episode_return",
                "team/eval/greedy/episode_length", "team/episode_length", "policy_0/episode_return"):  # fmt: skip
        assert scalars[tag], tag
    # the final policy was evaluated too: the last evaluation is at the run's last agent-step
    assert scalars["policy_0/eval/sampled/episode_return"][-1][0] == trainer.agent_steps
    events = read_scalar_events(trainer.exp_dir / ".summary", "team/eval/sampled/episode_return")
    assert [(step, value) for _, step, value in events] == scalars["team/eval/sampled/episode_return"]
    assert all(started <= wall_time <= time.time() for wall_time, _, _ in events)  # when each was measured


def test_evaluations_leave_training_unchanged(make_cfg):
    steps = "--train_for_env_steps=4000"
    with_eval = _train(make_cfg, "--eval_every_sec=0.01", "--eval_episodes=2", "--experiment=a", steps)
    without = _train(make_cfg, "--eval_every_sec=0", "--experiment=b", steps)
    assert with_eval.evaluation.latest is not None and without.evaluation is None
    for p, q in zip(with_eval.models[0].parameters(), without.models[0].parameters(), strict=True):
        assert torch.equal(p, q)


def test_without_evaluations_the_training_return_picks_the_best(make_cfg):
    trainer = _train(make_cfg, "--eval_every_sec=0", "--train_for_env_steps=2000")
    best = load_checkpoint(find_checkpoint(trainer.exp_dir, 0, "best"), torch.device("cpu"))
    assert best["best_metric_source"] == "training" and best["evaluation"] is None
    assert np.isfinite(best["best_metric"])


def test_zero_evaluation_episodes_is_a_clear_error(make_cfg):
    with pytest.raises(ValueError, match="--eval_episodes=0.*--eval_every_sec=0"):
        Trainer(make_cfg(*CARTPOLE, "--eval_episodes=0"))


def test_a_resumed_run_evaluating_in_the_other_mode_replaces_the_best(make_cfg):
    first = _train(make_cfg, "--eval_every_sec=0.01", "--eval_episodes=2", "--train_for_env_steps=3000")
    before = load_checkpoint(find_checkpoint(first.exp_dir, 0, "best"), torch.device("cpu"))
    assert before["best_metric_source"] == "evaluation:sampled"
    resumed = _train(make_cfg, "--eval_every_sec=0.01", "--eval_episodes=2", "--eval_deterministic=True",
                     "--train_for_env_steps=5000")  # fmt: skip
    best = load_checkpoint(find_checkpoint(resumed.exp_dir, 0, "best"), torch.device("cpu"))
    assert best["best_metric_source"] == "evaluation:greedy" and best["agent_steps"] > before["agent_steps"]
