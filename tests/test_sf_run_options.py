"""Sample Factory's run options: summary interval and flushes, frameskip x-axis, sf_log.txt, Weights & Biases,
the best-checkpoint schedule, milestones, and evaluation's --max_num_frames / --no_render."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import marl_sf.train as train_module
from marl_sf.checkpoint import find_checkpoint, load_checkpoint, milestone_dir
from marl_sf.enjoy import enjoy
from marl_sf.run_log import LOG_FILE_NAME, RunLogFile, detach_log_files, log
from marl_sf.summaries import TrainingLogger
from marl_sf.train import Trainer
from marl_sf.utils.extras import MissingExtraError
from marl_sf.utils.summary_reader import read_all_scalars, read_scalars
from marl_sf.wandb_utils import wandb_run_id

# 3 agents x 2 envs x 25 steps = 150 agent-steps per iteration; each env finishes one 25-step episode per rollout
SPREAD = ("--env=mpe_simple_spread", "--num_envs=2", "--rollout=25", "--batch_size=150", "--num_epochs=1",
          "--save_every_sec=1000")  # fmt: skip


@pytest.fixture(autouse=True)
def _no_log_file_left():
    """A run's sf_log.txt stays attached after it closes (see marl_sf.run_log): detach it after each test."""
    yield
    detach_log_files()


def _log_files() -> list[RunLogFile]:
    return [h for h in log.handlers if isinstance(h, RunLogFile)]


def _logger(make_cfg, tmp_path, *argv: str) -> TrainingLogger:
    return TrainingLogger(make_cfg("--env=mpe_simple_spread", *argv), tmp_path, ["a", "b"], [0, 0], start_steps=0)


def _three_iterations(logger: TrainingLogger) -> None:
    """Agent-steps 10, 20, 30; episodes [a, b] returns [1, 3], then [2, 2] and [6, 0], then none."""
    logger.log_iteration(10, 10, [np.array([1.0, 3.0])], {0: {"entropy": 1.0}}, 0.1)
    logger.log_scalars({"elo/x": 1.0}, 10)  # the iteration that wrote: written with it
    logger.log_iteration(20, 10, [np.array([2.0, 2.0]), np.array([6.0, 0.0])], {0: {"entropy": 2.0}}, 0.05)
    logger.log_scalars({"elo/x": 5.0}, 20)
    logger.log_iteration(30, 10, [], {0: {"entropy": 4.0}}, 0.01)
    logger.log_scalars({"elo/x": 7.0}, 30)  # a level: its latest value is the one written
    logger.close()


def test_summaries_are_written_once_per_interval_averaged_since_the_last_write(make_cfg, tmp_path):
    _three_iterations(_logger(make_cfg, tmp_path, "--experiment_summaries_interval=1000"))
    scalars = read_all_scalars(tmp_path / ".summary")
    # the first iteration always writes; close() writes what came after, averaged
    assert scalars["team/episode_return"] == [(10, 4.0), (30, 5.0)]  # team returns 4 and 6
    assert scalars["agents/a/episode_return"] == [(10, 1.0), (30, 4.0)]
    assert scalars["agents/b/episode_return"] == [(10, 3.0), (30, 1.0)]
    assert scalars["policy_0/train/entropy"] == [(10, 1.0), (30, 3.0)]  # the updates at 20 and 30
    assert [s for s, _ in scalars["perf/agent_steps_per_sec"]] == [10, 30]
    assert scalars["perf/learning_rate"] == [(10, pytest.approx(0.1)), (30, pytest.approx(0.01))]
    assert scalars["elo/x"] == [(10, 1.0), (30, 7.0)]
    assert "perf/frames_per_sec" not in scalars


def test_a_zero_interval_writes_every_iteration(make_cfg, tmp_path):
    _three_iterations(_logger(make_cfg, tmp_path, "--experiment_summaries_interval=0"))
    scalars = read_all_scalars(tmp_path / ".summary")
    assert scalars["team/episode_return"] == [(10, 4.0), (20, 5.0)]  # no episode ended at 30: no point
    assert scalars["policy_0/train/entropy"] == [(10, 1.0), (20, 2.0), (30, 4.0)]
    assert scalars["elo/x"] == [(10, 1.0), (20, 5.0), (30, 7.0)]


@pytest.mark.parametrize(("use_frameskip", "scale"), [("True", 4), ("False", 1)])
def test_the_x_axis_counts_frames_with_summaries_use_frameskip(make_cfg, tmp_path, capsys, use_frameskip, scale):
    argv = ("--env_frameskip=4", f"--summaries_use_frameskip={use_frameskip}", "--status_every_sec=0")
    _three_iterations(_logger(make_cfg, tmp_path, "--experiment_summaries_interval=1000", *argv))
    scalars = read_all_scalars(tmp_path / ".summary")
    assert [s for s, _ in scalars["team/episode_return"]] == [10 * scale, 30 * scale]
    assert [s for s, _ in scalars["elo/x"]] == [10 * scale, 30 * scale]
    assert ("perf/frames_per_sec" in scalars) == (scale > 1)
    status = capsys.readouterr().err
    assert "agent-steps 30" in status and (("agent-steps 30 (120 frames)" in status) == (scale > 1))


def _file_size_after(make_cfg, tmp_path: Path, flush: str) -> tuple[int, int]:
    """Sizes of the event file after its first scalar (flushed at once) and 1.2 s after a second one."""
    logger = _logger(make_cfg, tmp_path, f"--flush_summaries_interval={flush}")
    try:
        logger.writer.add_scalar("x", 1.0, 1)
        time.sleep(0.4)
        (path,) = (tmp_path / ".summary").glob("events.out.tfevents.*")
        before = path.stat().st_size
        logger.writer.add_scalar("x", 2.0, 2)
        time.sleep(1.2)
        return before, path.stat().st_size
    finally:
        logger.close()


def test_summaries_reach_the_disk_every_flush_summaries_interval(make_cfg, tmp_path):
    before, after = _file_size_after(make_cfg, tmp_path / "fast", "0.5")
    assert after > before
    before, after = _file_size_after(make_cfg, tmp_path / "slow", "1000")
    assert after == before  # written at close() only


def test_a_short_run_logs_to_sf_log_txt_and_writes_two_summary_points(make_cfg):
    trainer = Trainer(make_cfg(*SPREAD, "--experiment=logged", "--train_for_env_steps=600",
                               "--experiment_summaries_interval=1000"))  # fmt: skip
    assert trainer.train() == 0
    text = (trainer.exp_dir / LOG_FILE_NAME).read_text()
    lines = text.splitlines()
    assert lines and all(line.startswith("[") and "][" in line for line in lines)  # [time][pid] message
    assert "done: 600 agent-steps in" in text  # logged after close(): the released file is still attached
    assert [h.released for h in _log_files()] == [True]
    steps = [s for s, _ in read_scalars(trainer.exp_dir / ".summary", "perf/agent_steps_per_sec")]
    assert steps == [150, 600]  # the first iteration and the close, not one per iteration
    assert not milestone_dir(trainer.exp_dir, 0).exists()  # --save_milestones_sec=-1: never

    other = Trainer(make_cfg(*SPREAD, "--experiment=unlogged", "--train_for_env_steps=300", "--log_to_file=False",
                             "--experiment_summaries_interval=0"))  # fmt: skip
    assert not _log_files()  # a new run detaches the previous run's file
    assert other.train() == 0
    assert not (other.exp_dir / LOG_FILE_NAME).exists()
    assert "done: 300" not in (trainer.exp_dir / LOG_FILE_NAME).read_text()
    steps = [s for s, _ in read_scalars(other.exp_dir / ".summary", "perf/agent_steps_per_sec")]
    assert steps == [150, 300]


def _record_best_writes(monkeypatch) -> list[tuple[int, float]]:
    """(agent-steps, metric) of every best checkpoint the periodic check writes (not the exit checkpoint's)."""
    written, real = [], train_module.save_best_checkpoint

    def record(exp_dir, policy_id, state, metric):
        written.append((state["agent_steps"], metric))
        return real(exp_dir, policy_id, state, metric)

    monkeypatch.setattr(train_module, "save_best_checkpoint", record)
    return written


def test_the_best_checkpoint_is_checked_between_checkpoints_after_save_best_after(make_cfg, monkeypatch):
    written = _record_best_writes(monkeypatch)
    argv = ("--experiment=best", "--train_for_env_steps=900", "--save_best_every_sec=0", "--save_best_after=450")
    trainer = Trainer(make_cfg(*SPREAD, *argv))
    assert trainer.train() == 0
    assert written and written[0][0] == 450  # the first check at or after 450 agent-steps finds the first best
    assert all(steps >= 450 for steps, _ in written)
    metrics = [m for _, m in written]
    assert metrics == sorted(set(metrics))  # only new bests are written
    folder = trainer.exp_dir / "checkpoint_p0"
    (best,) = folder.glob("best_*.pth")  # one best file, through the checkpoint writer
    assert load_checkpoint(best, "cpu")["best_metric"] == trainer.best_metric[0] >= metrics[-1]
    assert [p.name for p in folder.glob("checkpoint_*.pth")] == ["checkpoint_000000006_900.pth"]  # the exit one


def test_no_best_checkpoint_before_save_best_after_and_none_between_checks(make_cfg, monkeypatch):
    written = _record_best_writes(monkeypatch)
    trainer = Trainer(make_cfg(*SPREAD, "--experiment=early", "--train_for_env_steps=450", "--save_best_after=100000"))
    assert trainer.train() == 0
    folder = trainer.exp_dir / "checkpoint_p0"
    assert not written and not list(folder.glob("best_*.pth")) and trainer.best_metric[0] is None
    assert load_checkpoint(find_checkpoint(trainer.exp_dir, 0), "cpu")["best_metric"] is None

    argv = ("--experiment=rare", "--train_for_env_steps=450", "--save_best_after=0", "--save_best_every_sec=1000")
    trainer = Trainer(make_cfg(*SPREAD, *argv))
    assert trainer.train() == 0
    assert not written  # no check was due in the run ...
    assert len(list((trainer.exp_dir / "checkpoint_p0").glob("best_*_450_*.pth"))) == 1  # ... the exit one wrote


def test_milestones_are_kept_beside_the_latest_checkpoints(make_cfg):
    argv = ("--experiment=milestones", "--train_for_env_steps=600", "--keep_checkpoints=1", "--save_every_sec=0",
            "--save_milestones_sec=0.001")  # fmt: skip
    trainer = Trainer(make_cfg(*SPREAD, *argv))
    assert trainer.train() == 0
    milestones = sorted(milestone_dir(trainer.exp_dir, 0).glob("checkpoint_*.pth"))
    assert [load_checkpoint(p, "cpu")["agent_steps"] for p in milestones] == [150, 300, 450, 600]
    assert len(list((trainer.exp_dir / "checkpoint_p0").glob("checkpoint_*.pth"))) == 1  # --keep_checkpoints=1
    assert find_checkpoint(trainer.exp_dir, 0).parent.name == "checkpoint_p0"  # a resume never loads a milestone


def _read_when_written(path: Path, needle: bytes, timeout: float = 10.0) -> bytes:
    """``path``'s bytes once they hold ``needle`` (or after ``timeout`` s): wandb's service process finishes
    writing its record log a moment after ``run.finish()`` returns."""
    deadline = time.time() + timeout
    while needle not in (data := path.read_bytes()) and time.time() < deadline:
        time.sleep(0.1)
    return data


def test_with_wandb_mirrors_the_summaries_into_an_offline_run(make_cfg, monkeypatch, tmp_path):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    for var in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(var, str(tmp_path / "wandb_home"))
    argv = ("--experiment=mirrored", "--train_for_env_steps=300", "--with_wandb=True", f"--wandb_dir={tmp_path}/wb",
            "--wandb_tags", "a", "b")  # fmt: skip
    trainer = Trainer(make_cfg(*SPREAD, *argv))
    assert trainer.train() == 0
    run_id = (trainer.exp_dir / "wandb_run_id.txt").read_text().strip()
    assert run_id.startswith("mirrored_") and wandb_run_id(trainer.cfg, trainer.exp_dir) == run_id  # a resume's id
    (run_dir,) = (tmp_path / "wb").rglob(f"offline-run-*-{run_id}")
    data = _read_when_written(run_dir / f"run-{run_id}.wandb", b"team/episode_return")  # history, summary, config
    for tag in (b"team/episode_return", b"perf/agent_steps_per_sec", b"policy_0/train/entropy"):
        assert tag in data  # synced from the tensorboardX summaries
    assert b"mpe_simple_spread" in data  # the config (and the default group, the env)
    assert b"events.out.tfevents" in data  # the event file, saved with the run


def test_with_wandb_without_the_extra_names_it(make_cfg, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "wandb", None)  # as if not installed
    with pytest.raises(MissingExtraError, match=r"--with_wandb needs wandb.*pip install 'marl-sf\[wandb\]'"):
        _logger(make_cfg, tmp_path, "--with_wandb=True")
    assert not (tmp_path / ".summary").exists()


def test_evaluation_stops_at_max_num_frames_and_accepts_no_render(make_cfg):
    trainer = Trainer(make_cfg(*SPREAD, "--experiment=frames"))
    try:
        assert trainer.save()
    finally:
        trainer.close()
    # 2 envs: 60 frames are 30 steps of each, in which each env finishes one 25-step episode
    cfg = make_cfg(*SPREAD, "--experiment=frames", "--max_num_episodes=100", "--max_num_frames=60", "--no_render",
                   evaluation=True)  # fmt: skip
    assert cfg.no_render is True
    assert enjoy(cfg) == 0
    report = json.loads((trainer.exp_dir / "eval" / "report.json").read_text())
    assert report["agents"][0]["episodes"] == 2 and report["settings"]["max_num_frames"] == 60
    short = make_cfg(*SPREAD, "--experiment=frames", "--max_num_frames=40", evaluation=True)
    with pytest.raises(ValueError, match="no episode finished within --max_num_frames=40 env steps"):
        enjoy(short)


def test_a_resume_after_a_hard_kill_keeps_the_newer_best_of_the_best_file(make_cfg):
    from marl_sf.checkpoint import write_weights_file

    argv = ("--experiment=killed", "--train_for_env_steps=600", "--save_best_every_sec=0")
    trainer = Trainer(make_cfg(*SPREAD, *argv))
    assert trainer.train() == 0
    best_file = find_checkpoint(trainer.exp_dir, 0, "best")
    best = load_checkpoint(best_file, "cpu")["best_metric"]
    latest = find_checkpoint(trainer.exp_dir, 0)
    state = load_checkpoint(latest, "cpu")
    state["best_metric"] = best - 100.0  # as a latest checkpoint written before the last bests would hold
    write_weights_file(latest, state)
    resumed = Trainer(make_cfg(*SPREAD, *argv[:1], "--train_for_env_steps=600"))
    try:
        assert resumed.best_metric[0] == best  # not the stale one: a worse return cannot replace the best file
    finally:
        resumed.close()
