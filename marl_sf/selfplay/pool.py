"""Opponent pools: frozen snapshots of a learning policy plus scripted baselines, sampled per episode.

Sampling strategies:

* ``latest``: the newest snapshot (the newest member while there is no snapshot);
* ``uniform``: every member alike;
* ``pfsp``: prioritized fictitious self-play (Vinyals et al. 2019, "Grandmaster level in StarCraft II using
  multi-agent reinforcement learning", Methods, "Prioritized fictitious self-play"): member B is drawn with
  probability proportional to ``f(P[learner beats B])`` with ``f_hard(x) = (1 - x) ** p``, so opponents the
  learner still loses to come up most. ``P`` is the learner's mean score against B (win 1, draw 0.5) with one
  virtual draw as a prior, so a new member starts at 0.5.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from marl_sf.checkpoint import UnsafeCheckpointError, cfg_json, load_weights_file, write_weights_file
from marl_sf.selfplay.elo import EloRatings
from marl_sf.selfplay.players import ScriptedPlayer, SnapshotPlayer
from marl_sf.utils.io import write_json

POOL_SAMPLING = ("latest", "uniform", "pfsp")


class OpponentPool:
    """The opponents of one learning policy.

    Args:
        learner: the learning policy's player name (e.g. ``policy_0``), as rated in ``elo``.
        sampling: one of ``POOL_SAMPLING``.
        elo: the experiment's ratings (shared by every pool).
        max_snapshots: snapshots kept; adding one more drops the oldest (scripted members stay).
        pfsp_power: ``p`` of ``f_hard``.

    Raises:
        ValueError: an unknown sampling strategy.
    """

    def __init__(self, learner: str, sampling: str, elo: EloRatings, max_snapshots: int = 20, pfsp_power=2.0):
        if sampling not in POOL_SAMPLING:
            raise ValueError(f"unknown --pool_sampling={sampling!r}; choose one of {POOL_SAMPLING}")
        self.learner, self.sampling, self.elo = learner, sampling, elo
        self.max_snapshots, self.pfsp_power = max_snapshots, pfsp_power
        self.members: dict[str, SnapshotPlayer | ScriptedPlayer] = {}  # in the order they joined
        self.score_sum: dict[str, float] = {}  # the learner's summed score against each member
        self.games: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.members)

    def add(self, player) -> None:
        """Add a member; a snapshot starts at the learner's current rating. Drops the oldest snapshot when
        there are more than ``max_snapshots``."""
        self.members[player.name] = player
        if isinstance(player, SnapshotPlayer) and player.name not in self.elo.ratings:
            self.elo.ratings[player.name] = self.elo.rating(self.learner)
        snapshots = [n for n, p in self.members.items() if isinstance(p, SnapshotPlayer)]
        for name in snapshots[: max(len(snapshots) - self.max_snapshots, 0)]:
            del self.members[name]

    def win_rate(self, name: str) -> float:
        """The learner's mean score against member ``name`` (win 1, draw 0.5, loss 0), with one virtual draw."""
        return (self.score_sum.get(name, 0.0) + 0.5) / (self.games.get(name, 0) + 1)

    def probabilities(self) -> dict[str, float]:
        """Each member's probability of being drawn next under the pool's sampling strategy."""
        names = list(self.members)
        if not names:
            return {}
        if self.sampling == "latest":
            snapshots = [n for n in names if isinstance(self.members[n], SnapshotPlayer)]
            newest = (snapshots or names)[-1]
            return {n: float(n == newest) for n in names}
        if self.sampling == "uniform":
            weights = np.ones(len(names))
        else:
            weights = np.array([(1.0 - self.win_rate(n)) ** self.pfsp_power for n in names])
            weights = weights if weights.sum() > 0 else np.ones(len(names))
        return dict(zip(names, (weights / weights.sum()).tolist(), strict=True))

    def sample(self, rng: np.random.Generator):
        """A member drawn by the sampling strategy, or None when the pool is empty."""
        probs = self.probabilities()
        if not probs:
            return None
        name = rng.choice(list(probs), p=list(probs.values()))
        return self.members[str(name)]

    def record(self, name: str, learner_score: float, learner: str | None = None) -> None:
        """One finished game of a learner against member ``name``: updates the PFSP statistics and Elo.

        Args:
            name: the member.
            learner_score: 1 learner win, 0.5 draw, 0 learner loss.
            learner: the rated learner (default: this pool's; in team games the other team's policy).
        """
        self.score_sum[name] = self.score_sum.get(name, 0.0) + learner_score
        self.games[name] = self.games.get(name, 0) + 1
        self.elo.update(learner or self.learner, name, learner_score)

    def save(self, folder: Path) -> None:
        """Write the members' names and statistics to ``folder/pool.json`` (snapshots are written when taken,
        by ``save_snapshot``)."""
        kinds = [[n, "snapshot" if isinstance(p, SnapshotPlayer) else "scripted"] for n, p in self.members.items()]
        stats = {"members": kinds, "score_sum": self.score_sum, "games": self.games}  # members in joining order
        write_json(Path(folder) / "pool.json", stats)


def save_snapshot(folder: Path, name: str, model: torch.nn.Module, agent_steps: int, cfg) -> Path:
    """Atomically write a snapshot's weights to ``folder/<name>.pth`` (checkpoint format: weights, numbers and
    the config as JSON).

    Raises:
        CheckpointWriteError: the file cannot be written.
    """
    path = Path(folder) / f"{name}.pth"
    state = {"model": model.state_dict(), "agent_steps": agent_steps, "cfg": cfg_json(cfg)}
    write_weights_file(path, state)
    return path


def load_snapshot_model(path: Path, make_model) -> torch.nn.Module:
    """The model of snapshot ``path``, built by ``make_model()`` and loaded with the saved weights.

    The file (a snapshot or a checkpoint) is read as weights only (``load_weights_file``).

    Raises:
        UnsafeCheckpointError: the file would run code when unpickled; nothing in it has run.
        ValueError: the file is unreadable or its weights do not fit the model (another env or model config).
    """
    try:
        state = load_weights_file(path, "cpu", "pool checkpoint")
        model = make_model()
        model.load_state_dict(state["model"] if "model" in state else state["learner"]["model"])
    except UnsafeCheckpointError:
        raise
    except Exception as exc:
        raise ValueError(
            f"pool checkpoint {path} is incompatible with this policy's model or unreadable "
            f"({type(exc).__name__}: {str(exc)[:300]}); it must come from a run of the same env and model "
            "options: point --pool_dir at such a pool or remove the file"
        ) from exc
    return model


def load_pool(pool: OpponentPool, folder: Path, make_player) -> None:
    """Restore the members saved in ``folder/pool.json`` (snapshots from their ``.pth`` files, scripted ones by
    name) and their statistics into ``pool``.

    Args:
        make_player: ``make_player(name, path_or_None)`` -> player.

    Raises:
        ValueError: ``pool.json`` is unreadable, or a snapshot is missing or incompatible (see
            ``load_snapshot_model``).
    """
    folder = Path(folder)
    try:
        stats = json.loads((folder / "pool.json").read_text())
        members = dict(stats["members"])  # [[name, kind], ...] in joining order
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"cannot read the opponent pool in {folder} ({exc}): is this a marl_sf pool folder?") from exc
    for name, kind in members.items():
        path = folder / f"{name}.pth"
        if kind == "snapshot" and not path.exists():
            raise ValueError(
                f"snapshot {name!r} of the pool in {folder} is missing ({path}): restore it or start "
                "a new pool (--restart_behavior=restart)"
            )
        pool.add(make_player(name, path if kind == "snapshot" else None))
    pool.score_sum.update(stats.get("score_sum", {}))
    pool.games.update(stats.get("games", {}))


def spread_snapshots(folder: Path, count: int = 3) -> list[str]:
    """Paths of up to ``count`` snapshots in a pool folder, evenly spread from the first to the newest (by
    name: snapshot names carry their agent-steps, zero-padded)."""
    snapshots = sorted(Path(folder).glob("*.pth"))
    if len(snapshots) <= count:
        return [str(p) for p in snapshots]
    return [str(snapshots[round(i * (len(snapshots) - 1) / (count - 1))]) for i in range(count)]
