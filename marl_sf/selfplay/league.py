"""A training run's opponents: one pool per learning policy, matchmaking, snapshots and Elo ratings.

Files in the experiment folder: ``pool/p<policy_id>/<snapshot>.pth`` and ``pool/p<policy_id>/pool.json`` (the
members and the learner's scores against them), ``elo.json`` (every rated player). Resuming restores all
three.
"""

from __future__ import annotations

import collections
import logging
import re
from pathlib import Path

import numpy as np

from marl_sf.models.actor_critic import create_actor_critic
from marl_sf.selfplay.elo import EloRatings
from marl_sf.selfplay.match_opponents import MatchOpponents
from marl_sf.selfplay.matchmaking import EpisodeResult, Matchmaker, agent_sides, draw_lineup
from marl_sf.selfplay.players import ScriptedPlayer, SnapshotPlayer, make_player
from marl_sf.selfplay.pool import OpponentPool, load_pool, load_snapshot_model, save_snapshot
from marl_sf.selfplay.puct import puct_player, split_search_name
from marl_sf.selfplay.scoring import game_score

log = logging.getLogger("marl_sf")


def uses_opponents(cfg) -> bool:
    """Whether a run has opponent pools: ``--self_play``, ``--policy_mapping=self_play`` or ``--pool_scripted``."""
    return bool(cfg.self_play or cfg.policy_mapping == "self_play" or cfg.pool_scripted)


def learner_name(policy_id: int) -> str:
    """The rated name of a learning policy."""
    return f"policy_{policy_id}"


class League:
    """Pools, matchmaking, snapshots and ratings of one training run.

    Args:
        cfg: config (the ``self-play`` options).
        exp_dir: the experiment folder.
        specs, models: the learning policies.
        agent_policy: each agent's policy id (sides follow from it, see ``agent_sides``).
        num_envs: E.
        seed: seeds the opponent draws (default ``cfg.seed``; a resumed run passes its continued seed).

    Raises:
        ValueError: an explicit ``--pool_dir`` that does not exist, an unreadable or incompatible pool
            checkpoint, an unknown scripted policy, ``--pool_scripted`` members that ``--opponent_prob=0`` would
            never play.
    """

    def __init__(self, cfg, exp_dir: Path, specs, models, agent_policy: list[int], num_envs: int, seed=None,
                 value_norms=None):  # fmt: skip
        if cfg.pool_scripted and cfg.opponent_prob <= 0:
            raise ValueError(f"--pool_scripted {' '.join(cfg.pool_scripted)}: these opponents never play with "
                             "--opponent_prob=0 (classic_tictactoe's default: every training game against the "
                             "current policy); give --opponent_prob=<fraction of games against the pool>, "
                             "e.g. 1.0")  # fmt: skip
        self.cfg, self.specs, self.models = cfg, specs, models
        self.value_norms = value_norms or {}
        self.snapshots_on = bool(cfg.self_play or cfg.policy_mapping == "self_play")
        self.elo_path = Path(exp_dir) / "elo.json"
        self.elo = EloRatings.load(self.elo_path) if self.elo_path.exists() else EloRatings(k=cfg.elo_k)
        self.pool_dir = self._pool_dir(exp_dir)
        self.pools = {s.policy_id: OpponentPool(learner_name(s.policy_id), cfg.pool_sampling, self.elo,
                                                cfg.pool_max_snapshots, cfg.pfsp_power) for s in specs}  # fmt: skip
        for spec in specs:
            folder = self.pool_dir / f"p{spec.policy_id}"
            if (folder / "pool.json").exists():
                load_pool(self.pools[spec.policy_id], folder, lambda n, path, s=spec: self._player(s, n, path))
                log.info("opponent pool of policy %d: %d members from %s", spec.policy_id, len(self), folder)
            for name in cfg.pool_scripted:
                if name not in self.pools[spec.policy_id].members:
                    self.pools[spec.policy_id].add(self._named_player(spec, name))
        self.sides = agent_sides(agent_policy)
        self.side_policy = [agent_policy[side[0]] for side in self.sides]
        self.rng = np.random.default_rng(cfg.seed if seed is None else seed)
        score_fn = game_score(cfg.env)
        self.matchmaker = Matchmaker(num_envs, len(agent_policy), self.sides, self.choose_lineup, score_fn)
        self.next_snapshot = self._resumed_next_snapshot()
        self.recent_scores = {s.policy_id: [] for s in specs}  # learner scores since the last summary
        self.status_scores = {s.policy_id: collections.deque(maxlen=cfg.stats_avg) for s in specs}

    def __len__(self) -> int:
        return sum(len(p) for p in self.pools.values())

    def _resumed_next_snapshot(self) -> int:
        """When the next snapshot is due: ``--pool_snapshot_every`` after the newest restored one (names end
        in their agent-steps), else right away."""
        steps = [int(name.rsplit("_", 1)[1]) for pool in self.pools.values() for name, player in pool.members.items()
                 if isinstance(player, SnapshotPlayer) and name.rsplit("_", 1)[-1].isdigit()]  # fmt: skip
        return max(steps) + self.cfg.pool_snapshot_every if steps else 0

    def _pool_dir(self, exp_dir: Path) -> Path:
        if not self.cfg.pool_dir:
            return Path(exp_dir) / "pool"
        folder = Path(self.cfg.pool_dir)
        if not folder.is_dir():
            raise ValueError(f"--pool_dir={folder} does not exist: give a pool folder of an earlier run "
                             "(<experiment>/pool) or leave --pool_dir empty for a new pool")  # fmt: skip
        return folder

    def _named_player(self, spec, name: str):
        """A member by name: ``latest+puct:<n>``, the learning policy's current weights searching ``n`` simulations
        per move (``marl_sf.selfplay.puct``; connect_four and tictactoe), or a scripted policy."""
        base, simulations = split_search_name(name)
        if simulations is None:
            return ScriptedPlayer(name, spec.action_space)
        if base != "latest":
            raise ValueError(f"pool member {name!r}: a searching member plays the learning policy's own weights; "
                             "write latest+puct:<simulations>")  # fmt: skip
        if self.cfg.distributed == "ray":
            raise ValueError(f"pool member {name!r} searches with the learner's current weights, which Ray sampler "
                             "actors do not hold: train it without --distributed=ray")  # fmt: skip
        model = self.models[[s.policy_id for s in self.specs].index(spec.policy_id)]
        norm = self.value_norms.get(spec.policy_id)
        return puct_player(name, model, norm, self.cfg, simulations, spec.obs_space, seed=self.cfg.seed)

    def _player(self, spec, name: str, path: Path | None):
        """A pool member: a snapshot loaded from ``path`` into this policy's model, or a member by name."""
        if path is None:
            return self._named_player(spec, name)
        model = load_snapshot_model(path, lambda: create_actor_critic(self.cfg, spec.obs_space, spec.action_space))
        return make_player(name, spec.action_space, model.to(next(self.models[0].parameters()).device))

    def choose_lineup(self, env_id: int) -> dict[int, object]:
        """A new episode's lineup (``draw_lineup``): pool members drawn by ``--pool_sampling``."""
        return draw_lineup(self.rng, self.cfg.opponent_prob, self.side_policy, lambda p, rng: self.pools[p].sample(rng))

    def opponents(self, storages) -> MatchOpponents:
        """The sampler's controller for this league's opponents, over the learning policies' ``storages``."""
        return MatchOpponents(self.matchmaker, storages, self.cfg.pool_max_snapshots)

    def record(self, results: list[EpisodeResult]) -> None:
        """Score finished games for PFSP and Elo: the learner is the policy of the sides the opponent did not
        play, and scores 1 - the opponent's score."""
        for result in results:
            for side, player in result.lineup.items():
                learner = next(p for s, p in enumerate(self.side_policy) if s not in result.lineup)
                score = 1.0 - result.score(side)
                self.pools[self.side_policy[side]].record(player.name, score, learner=learner_name(learner))
                self.recent_scores[learner].append(score)
                self.status_scores[learner].append(score)

    def maybe_snapshot(self, agent_steps: int) -> None:
        """Add a snapshot of every learning policy to its pool when ``--pool_snapshot_every`` agent-steps
        have passed since the last (the first one at the start)."""
        if not self.snapshots_on or agent_steps < self.next_snapshot:
            return
        self.next_snapshot = agent_steps + self.cfg.pool_snapshot_every
        for spec, model in zip(self.specs, self.models, strict=True):
            name = f"p{spec.policy_id}_{agent_steps:011d}"
            if name in self.pools[spec.policy_id].members:
                continue
            save_snapshot(self.pool_dir / f"p{spec.policy_id}", name, model, agent_steps, self.cfg)
            self.pools[spec.policy_id].add(SnapshotPlayer(name, model, spec.action_space))

    def save(self) -> None:
        """Write the ratings and every pool's members and statistics."""
        self.elo.save(self.elo_path)
        for pid, pool in self.pools.items():
            pool.save(self.pool_dir / f"p{pid}")

    def status(self) -> str:
        """For the status line: each learner's mean score against the pool over its last ``--stats_avg`` games."""
        parts = [f"policy {pid} scores {np.mean(q):.2f} vs pool ({len(q)} games, {len(self.pools[pid])} members)"
                 for pid, q in self.status_scores.items() if q]  # fmt: skip
        return "; ".join(parts) or "no pool games yet"

    def summary(self) -> dict[str, float]:
        """Scalars for the logs (Elo of each learner and member, recent learner scores, pool sizes); resets
        the recent scores."""
        # summary names take [A-Za-z0-9_./-]: latest+puct:32 is written elo/latest_puct_32
        scalars = {"elo/" + re.sub(r"[^\w./-]", "_", name): r for name, r in self.elo.ratings.items()}
        for pid, scores in self.recent_scores.items():
            if scores:
                scalars[f"policy_{pid}/selfplay/score_vs_pool"] = float(np.mean(scores))
            scalars[f"policy_{pid}/selfplay/pool_size"] = len(self.pools[pid])
            scores.clear()
        return scalars
