"""Experiment names are checked before anything touches the disk; overwrite/restart act only inside --train_dir."""

from __future__ import annotations

import pytest

from examples.train_custom_env import register_custom_env_envs
from marl_sf.cfg.arguments import parse_full_cfg, parse_sf_args
from marl_sf.train import Trainer

BAD_NAMES = ["..", "", ".", "a/b", "/abs"]


@pytest.fixture
def layout(tmp_path):
    """``tmp_path/project/train_dir`` with one experiment, and a sibling project next to the train dir."""
    register_custom_env_envs()
    train_dir = tmp_path / "project" / "train_dir"
    (train_dir / "kept_experiment").mkdir(parents=True)
    (train_dir / "kept_experiment" / "config.json").write_text("{}")
    sibling = tmp_path / "project" / "sibling_project"
    sibling.mkdir()
    (sibling / "data.txt").write_text("precious")
    return train_dir, sibling


def _argv(train_dir, name, behavior):
    return [f"--train_dir={train_dir}", "--env=cue_match", f"--experiment={name}", f"--restart_behavior={behavior}"]


def _untouched(train_dir, sibling):
    assert (sibling / "data.txt").read_text() == "precious"
    assert (train_dir / "kept_experiment" / "config.json").exists()
    assert sorted(p.name for p in train_dir.parent.iterdir()) == ["sibling_project", "train_dir"]


@pytest.mark.parametrize("behavior", ["overwrite", "restart"])
@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_bad_experiment_name_on_the_command_line_is_refused_and_deletes_nothing(layout, name, behavior, capsys):
    train_dir, sibling = layout
    argv = _argv(train_dir, name, behavior)
    parser, _ = parse_sf_args(argv)
    with pytest.raises(SystemExit):
        parse_full_cfg(parser, argv)
    assert f"--experiment={name!r} is not a folder name" in capsys.readouterr().err
    _untouched(train_dir, sibling)


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_bad_experiment_name_set_in_code_is_refused_before_the_disk_is_touched(layout, name):
    train_dir, sibling = layout
    argv = _argv(train_dir, "fine", "overwrite")
    parser, _ = parse_sf_args(argv)
    cfg = parse_full_cfg(parser, argv)
    cfg.experiment = name  # a script building its config by hand skips the command-line check
    with pytest.raises(ValueError, match=r"--experiment=.* is not a folder name: give a plain name"):
        Trainer(cfg)
    _untouched(train_dir, sibling)


def test_overwrite_never_follows_a_symlink_out_of_the_train_dir(layout):
    train_dir, sibling = layout
    (train_dir / "link").symlink_to(sibling, target_is_directory=True)
    argv = _argv(train_dir, "link", "overwrite")
    parser, _ = parse_sf_args(argv)
    with pytest.raises(ValueError, match="is not inside --train_dir"):
        Trainer(parse_full_cfg(parser, argv))
    assert (sibling / "data.txt").read_text() == "precious"
