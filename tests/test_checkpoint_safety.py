"""No code runs from a checkpoint: a planted pickle payload is refused on every load path, and runs nothing.

The payload is what an attacker would add to a shared ``.pth``: an object whose ``__reduce__`` calls a function
when unpickled (here one that writes a marker file; ``os.system`` would do the same). With
``torch.load(weights_only=False)`` loading the file calls it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from marl_sf.cfg.arguments import parse_full_cfg, parse_sf_args
from marl_sf.checkpoint import UnsafeCheckpointError, find_checkpoint, load_weights_file
from marl_sf.enjoy import enjoy
from marl_sf.tournament import parse_tournament_args, tournament
from marl_sf.train import Trainer

GAME = ("--env=classic_tictactoe", "--num_envs=4", "--rollout=8", "--batch_size=64", "--num_epochs=1", "--seed=0")
SELF_PLAY = ("--self_play=True", "--pool_snapshot_every=100000")
REFUSED = r"refuses to unpickle code from a checkpoint .*; only weights are loaded, and nothing in the file ran"


def plant_marker(path: str) -> None:
    """The payload's effect: proof that code from the file ran."""
    Path(path).write_text("code from a checkpoint ran")


class Payload:
    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return plant_marker, (self.marker,)


def _argv(train_dir: Path, *extra: str) -> list[str]:
    return [f"--train_dir={train_dir}", "--device=cpu", "--progress_bar=False", "--num_workers=0", *GAME, *extra]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A short self-play run: checkpoints in ``play/checkpoint_p0``, a snapshot in ``play/pool/p0``."""
    train_dir = tmp_path_factory.mktemp("trained")
    argv = _argv(train_dir, "--experiment=play", *SELF_PLAY, "--train_for_env_steps=64")
    parser, _ = parse_sf_args(argv)
    assert Trainer(parse_full_cfg(parser, argv)).train() == 0
    return train_dir


@pytest.fixture
def train_dir(trained, tmp_path) -> Path:
    """A copy of the trained experiment that a test may plant payloads in."""
    shutil.copytree(trained, tmp_path, dirs_exist_ok=True)
    return tmp_path


def _plant(path: Path, marker: Path) -> Path:
    """Add the payload to the (weights-only) ``.pth`` at ``path``, as an attacker would."""
    state = torch.load(path, weights_only=True)
    state["extra"] = Payload(marker)
    torch.save(state, path)
    return path


def _cfg(train_dir: Path, *extra: str, evaluation: bool = False):
    argv = _argv(train_dir, "--experiment=play", *SELF_PLAY, *extra)
    parser, _ = parse_sf_args(argv, evaluation=evaluation)
    return parse_full_cfg(parser, argv)


def _snapshot(train_dir: Path) -> Path:
    return next((train_dir / "play" / "pool" / "p0").glob("*.pth"))


def test_the_planted_payload_runs_when_unpickled_with_weights_only_false(train_dir):
    """The test's payload is live: the loaders below refuse a file that would have run code."""
    marker = train_dir / "marker"
    torch.load(_plant(_snapshot(train_dir), marker), weights_only=False)
    assert marker.exists()


def test_resume_refuses_a_planted_checkpoint(train_dir):
    marker = train_dir / "marker"
    path = _plant(find_checkpoint(train_dir / "play", 0), marker)
    with pytest.raises(UnsafeCheckpointError, match=rf"checkpoint {path} asks to call .*plant_marker.*{REFUSED}"):
        Trainer(_cfg(train_dir, "--train_for_env_steps=128"))
    assert not marker.exists()


def test_enjoy_refuses_a_planted_checkpoint(train_dir):
    marker = train_dir / "marker"
    _plant(find_checkpoint(train_dir / "play", 0), marker)
    with pytest.raises(UnsafeCheckpointError, match=REFUSED):
        enjoy(_cfg(train_dir, "--max_num_episodes=2", evaluation=True))
    assert not marker.exists() and not (train_dir / "play" / "eval").exists()


def test_self_play_resume_refuses_a_planted_pool_snapshot(train_dir):
    marker = train_dir / "marker"
    _plant(_snapshot(train_dir), marker)
    with pytest.raises(UnsafeCheckpointError, match=rf"pool checkpoint .* asks to call .*{REFUSED}"):
        Trainer(_cfg(train_dir, "--train_for_env_steps=128"))
    assert not marker.exists()


def test_a_foreign_pool_dir_with_a_planted_snapshot_is_refused(train_dir):
    marker = train_dir / "marker"
    _plant(_snapshot(train_dir), marker)
    argv = _argv(train_dir, "--experiment=other", *SELF_PLAY, f"--pool_dir={train_dir / 'play' / 'pool'}")
    parser, _ = parse_sf_args(argv)
    with pytest.raises(UnsafeCheckpointError, match=REFUSED):
        Trainer(parse_full_cfg(parser, argv))
    assert not marker.exists()


@pytest.mark.parametrize("player", ["path", "pool"])
def test_tournament_refuses_a_planted_pth_path_and_pool(train_dir, player):
    marker = train_dir / "marker"
    snapshot = _plant(_snapshot(train_dir), marker)
    name = str(snapshot) if player == "path" else "pool"
    argv = [*_argv(train_dir, "--experiment=play", "--games_per_pair=2"), "--players", name, "random"]
    with pytest.raises(UnsafeCheckpointError, match=REFUSED):
        tournament(parse_tournament_args(argv))
    assert not marker.exists() and not (train_dir / "play" / "tournament").exists()


def test_saved_checkpoints_and_snapshots_load_as_weights_only(trained):
    """What marl_sf writes needs nothing but weights_only: the config is a JSON string."""
    for path in [find_checkpoint(trained / "play", 0), _snapshot(trained)]:
        state = load_weights_file(path, "cpu")
        assert isinstance(state["cfg"], str) and '"env": "classic_tictactoe"' in state["cfg"]
