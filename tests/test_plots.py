"""Learning curves: PNGs in <experiment>/plots/ after training, Elo for self-play, comparisons, the reader."""

from __future__ import annotations

import matplotlib.image
import pytest

from marl_sf.plot import FIGURES, _lines, main
from marl_sf.summaries import TrainingLogger
from marl_sf.train import Trainer
from marl_sf.utils.summary_reader import read_all_scalars, read_scalars

SPREAD = ("--env=mpe_simple_spread", "--num_envs=4", "--rollout=25", "--train_for_env_steps=900", "--save_plots=True",
          "--learner_torch_threads=1")  # fmt: skip
TICTACTOE = ("--env=classic_tictactoe", "--opponent_prob=1.0", "--num_envs=4", "--rollout=16", "--batch_size=128",
             "--num_epochs=1", "--learner_torch_threads=1")  # fmt: skip


def _png_shape(path) -> tuple[int, ...]:
    return matplotlib.image.imread(path).shape


def test_training_writes_the_learning_curves(make_cfg):
    trainer = Trainer(make_cfg(*SPREAD, "--experiment=curves"))
    assert trainer.train() == 0
    plots = trainer.exp_dir / "plots"
    names = sorted(p.name for p in plots.glob("*.png"))
    assert names == [
        "agent_steps_per_sec.png",
        "entropy.png",
        "episode_length.png",
        "episode_return.png",
        "value_loss.png",
    ]
    height, width, _ = _png_shape(plots / "episode_return.png")
    assert width > 1.5 * height  # two panels side by side: per agent and per policy
    scalars = read_all_scalars(trainer.exp_dir / ".summary")
    agents = _lines(scalars, FIGURES["episode_return"][0].pattern)
    assert sorted(agents) == ["agent_0", "agent_1", "agent_2"]
    assert all(step <= trainer.agent_steps for step, _ in agents["agent_0"])


def test_save_plots_off_writes_none(make_cfg):
    trainer = Trainer(make_cfg(*SPREAD, "--experiment=no_curves", "--save_plots=False"))
    assert trainer.train() == 0
    assert not (trainer.exp_dir / "plots").exists()


@pytest.mark.slow
def test_a_self_play_run_plots_its_elo_ratings(make_cfg):
    argv = (*TICTACTOE, "--experiment=sp", "--policy_mapping=self_play", "--pool_snapshot_every=400")
    trainer = Trainer(make_cfg(*argv, "--pool_scripted", "random", "--train_for_env_steps=2000", "--save_plots=True"))
    assert trainer.train() == 0
    assert _png_shape(trainer.exp_dir / "plots" / "elo.png")[0] > 100
    elo = _lines(read_all_scalars(trainer.exp_dir / ".summary"), FIGURES["elo"][0].pattern)
    assert "policy_0" in elo and "random" in elo  # the learner and the pool's members


def test_plot_command_compares_two_experiments_on_one_axis(make_cfg, tmp_path, capsys):
    for name in ("run_a", "run_b"):
        assert Trainer(make_cfg(*SPREAD, f"--experiment={name}", "--save_plots=False")).train() == 0
    argv = [f"--train_dir={tmp_path}", "--experiment=run_a", "--compare_experiments", "run_b"]
    assert main(argv) == 0
    printed = capsys.readouterr().out.split()
    assert str(tmp_path / "run_a" / "plots" / "compare_episode_return.png") in printed
    assert str(tmp_path / "run_a" / "plots" / "episode_return.png") in printed
    assert _png_shape(tmp_path / "run_a" / "plots" / "compare_entropy.png")[0] > 100
    assert not (tmp_path / "run_b" / "plots").exists()


def test_plot_command_on_a_missing_experiment_is_a_clear_error(tmp_path, caplog):
    assert main([f"--train_dir={tmp_path}", "--experiment=never_trained"]) == 1
    assert "no tensorboard event files" in caplog.text and "--train_dir" in caplog.text


def test_reader_merges_the_event_files_of_a_resumed_run(make_cfg):
    cfg = ("--env=mpe_simple_spread", "--num_envs=4", "--rollout=25", "--experiment=resumed", "--save_every_sec=1000")
    assert Trainer(make_cfg(*cfg, "--train_for_env_steps=600")).train() == 0
    trainer = Trainer(make_cfg(*cfg, "--train_for_env_steps=1200"))
    assert trainer.train() == 0
    assert len(list((trainer.exp_dir / ".summary").glob("events.out.tfevents.*"))) == 2
    steps = [step for step, _ in read_scalars(trainer.exp_dir / ".summary", "perf/agent_steps_per_sec")]
    assert steps == sorted(steps) and steps[0] <= 600 < steps[-1]
    assert read_scalars(trainer.exp_dir / ".summary", "no/such/tag") == []


def test_reader_without_event_files_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no tensorboard event files"):
        read_all_scalars(tmp_path)


def test_two_runs_started_in_one_second_keep_both_event_files(make_cfg, tmp_path):
    cfg = make_cfg("--env=mpe_simple_spread")
    loggers = [TrainingLogger(cfg, tmp_path, ["a"], [0], start_steps=0) for _ in range(2)]
    for step, logger in enumerate(loggers):
        logger.writer.add_scalar("x", 1.0, step)
        logger.close()
    assert len(list((tmp_path / ".summary").glob("events.out.tfevents.*"))) == 2
    assert [step for step, _ in read_scalars(tmp_path / ".summary", "x")] == [0, 1]
