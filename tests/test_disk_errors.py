"""Disk full and read-only folders: one clear error, ``close()`` still runs, no stale temporary files."""

from __future__ import annotations

import errno
import os
import tempfile

import pytest

from marl_sf.checkpoint import CheckpointWriteError, find_checkpoint
from marl_sf.enjoy import enjoy
from marl_sf.envs.registry import register_env
from marl_sf.train import Trainer
from tests.contract_envs import ValuesEnv

RUN = ("--env=values", "--num_envs=2", "--rollout=5", "--batch_size=10", "--num_epochs=1")
as_root = pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")


def _trainer(make_cfg, *extra: str) -> Trainer:
    register_env("values", lambda n, cfg=None, env_config=None, render_mode=None: ValuesEnv(env_config.env_id))
    return Trainer(make_cfg(*RUN, "--experiment=disk", *extra))


def _envs(trainer: Trainer) -> list:
    return [env for group in trainer.sampler.runner.groups for env in group.envs]


def test_a_full_disk_ends_the_run_with_one_clear_error_and_closes_it(make_cfg, monkeypatch):
    """Filling a disk is not possible here, so checkpoint writes go to /dev/full, where the kernel's write
    fails with ENOSPC as on a full disk (the temporary file's name is the one atomic_write would use)."""
    trainer = _trainer(make_cfg, "--save_every_sec=0", "--train_for_env_steps=1000")
    real_mkstemp = tempfile.mkstemp

    def mkstemp_on_full_disk(*args, **kwargs):
        fd, name = real_mkstemp(*args, **kwargs)
        os.close(fd)
        os.unlink(name)
        return os.open("/dev/full", os.O_WRONLY), name

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp_on_full_disk)
    with pytest.raises(CheckpointWriteError) as failure:
        trainer.train()
    folder = trainer.exp_dir / "checkpoint_p0"
    assert (
        str(failure.value)
        == f"cannot write checkpoint to {folder}/checkpoint_000000001_20.pth: no space left on device"
    )
    assert (
        failure.value.errno == errno.ENOSPC and failure.value.__cause__ is None and failure.value.__suppress_context__
    )
    assert all(env.closed for env in _envs(trainer))  # close() ran
    assert not list(folder.glob(".*.tmp")) and find_checkpoint(trainer.exp_dir, 0) is None


def test_stale_temporary_files_of_killed_writes_are_removed_at_start_up(make_cfg):
    trainer = _trainer(make_cfg, "--train_for_env_steps=20")
    assert trainer.train() == 0
    folder = trainer.exp_dir / "checkpoint_p0"
    stale = [folder / ".checkpoint_000000001_20.pth.k2j4_x9a.tmp", trainer.exp_dir / ".config.json.ab12cd34.tmp"]
    kept = [folder / "notes.tmp", trainer.exp_dir / ".hidden.tmp"]  # not names atomic_write gives
    for path in stale + kept:
        path.write_bytes(b"half a checkpoint")
    _trainer(make_cfg, "--train_for_env_steps=40").close()
    assert [p.exists() for p in stale] == [False, False] and [p.exists() for p in kept] == [True, True]


@as_root
def test_a_read_only_checkpoint_folder_is_one_clear_error_and_the_run_closes(make_cfg):
    assert _trainer(make_cfg, "--train_for_env_steps=20").train() == 0
    folder = _trainer(make_cfg).exp_dir / "checkpoint_p0"
    folder.chmod(0o555)
    try:
        trainer = _trainer(make_cfg, "--train_for_env_steps=40")
        with pytest.raises(CheckpointWriteError, match=rf"cannot write checkpoint to {folder}/\S+: permission denied$"):
            trainer.train()
        assert all(env.closed for env in _envs(trainer))
    finally:
        folder.chmod(0o755)


@as_root
def test_enjoy_checks_that_it_can_write_its_report_before_it_plays(make_cfg):
    trainer = _trainer(make_cfg, "--train_for_env_steps=20")
    assert trainer.train() == 0
    trainer.exp_dir.chmod(0o555)
    try:
        with pytest.raises(PermissionError, match=r"cannot write the evaluation report to .*eval: permission denied"):
            enjoy(make_cfg(*RUN, "--experiment=disk", "--max_num_episodes=2", evaluation=True))
    finally:
        trainer.exp_dir.chmod(0o755)
