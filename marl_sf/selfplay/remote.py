"""Opponent pools across Ray sampler actors (``--distributed=ray`` with self-play).

The pool lives with the learner (``League``: members, PFSP statistics, Elo, snapshots on disk). Before each
rollout the learner sends every sampler a ``PoolView``: per learning policy, each member's name, its probability of
being drawn (``OpponentPool.probabilities``; members that cannot be drawn are left out) and, for a snapshot, a Ray
reference to its weights, put in the object store once per snapshot. A sampler actor keeps a ``RemoteLeague``: the
players it has built so far by policy and name (a snapshot's weights are fetched the first time it is drawn), its
own matchmaker drawing lineups from the view's probabilities, and the results of its finished episodes, returned
by player name (``NamedResult``); the learner scores them into the pool and the ratings as if the games had been
played in its own process.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from marl_sf.selfplay.match_opponents import MatchOpponents
from marl_sf.selfplay.matchmaking import EpisodeResult, Matchmaker, agent_sides, draw_lineup
from marl_sf.selfplay.players import ScriptedPlayer, SnapshotPlayer
from marl_sf.selfplay.scoring import game_score

_LINEUP_STREAM = 0x5E1F  # the lineup draws' own stream, next to the env seed

PoolView = dict[int, list[tuple[str, float, object]]]
"""``{policy_id: [(member name, probability, weights reference or None for a scripted member)]}``."""


@dataclass
class NamedResult:
    """An ``EpisodeResult`` with its lineup by player name (what crosses from a sampler actor to the learner)."""

    env_id: int
    lineup: dict[int, str]
    side_returns: np.ndarray
    scores: np.ndarray


@dataclass(frozen=True)
class NamedPlayer:
    """A pool member known by name only: what ``League.record`` reads of a player (its ``name``)."""

    name: str


def pool_view(league, weight_refs: dict[str, object]) -> PoolView:
    """The learner's pools as a ``PoolView`` of the members that can be drawn (probability above 0);
    ``weight_refs`` caches each snapshot's ``ray.put`` reference by name (new snapshots are put, the others
    forgotten)."""
    import ray

    view, alive = {}, set()
    for pid, pool in league.pools.items():
        members = []
        for name, prob in pool.probabilities().items():
            if prob <= 0.0:
                continue
            player, ref = pool.members[name], None
            if isinstance(player, SnapshotPlayer):
                if name not in weight_refs:
                    weight_refs[name] = ray.put({k: v.cpu() for k, v in player.model.state_dict().items()})
                ref = weight_refs[name]
                alive.add(name)
            members.append((name, prob, ref))
        view[pid] = members
    for name in set(weight_refs) - alive:
        del weight_refs[name]
    return view


def to_episode_results(results: list[NamedResult], row_offset: int) -> list[EpisodeResult]:
    """A sampler's named results as the learner's ``EpisodeResult`` (env ids moved to the learner's rows)."""
    return [
        EpisodeResult(
            r.env_id + row_offset, {side: NamedPlayer(n) for side, n in r.lineup.items()}, r.side_returns, r.scores
        )  # fmt: skip
        for r in results
    ]


class RemoteLeague:
    """A sampler actor's side of the league: players by name and a matchmaker drawing from the latest view.

    Args:
        cfg: config (``opponent_prob``, ``pool_max_snapshots``, ``env`` for the game score).
        specs: the learning policies (their spaces build the snapshots' models).
        agent_policy: each agent's policy id (sides follow from it).
        num_envs: the actor's envs.
        seed: seeds the lineup draws (None: unseeded).
        make_model: ``make_model(spec) -> ActorCritic`` on the actor's device (a snapshot's architecture).
    """

    def __init__(self, cfg, specs, agent_policy: list[int], num_envs: int, seed, make_model):
        self.cfg, self.specs, self.make_model = cfg, {s.policy_id: s for s in specs}, make_model
        self.sides = agent_sides(agent_policy)
        self.side_policy = [agent_policy[side[0]] for side in self.sides]
        self.rng = np.random.default_rng(None if seed is None else [seed, _LINEUP_STREAM])  # not env 0's stream
        self.players: dict[tuple[int, str], object] = {}  # (policy id, name): each pool has its own members
        self.view: PoolView = {}
        self.matchmaker = Matchmaker(num_envs, len(agent_policy), self.sides, self.choose_lineup, game_score(cfg.env))

    def update(self, view: PoolView) -> None:
        """Take the learner's latest pools; forget the players neither in the view nor playing an episode now
        (a player is built the first time it is drawn)."""
        self.view = view
        in_use = {id(p) for lineup in self.matchmaker.lineups for p in lineup.values()}
        listed = {(pid, name) for pid, members in view.items() for name, _, _ in members}
        self.players = {k: p for k, p in self.players.items() if k in listed or id(p) in in_use}

    def choose_lineup(self, env_id: int) -> dict[int, object]:
        """A new episode's lineup (``draw_lineup``) from the view's probabilities."""
        return draw_lineup(self.rng, self.cfg.opponent_prob, self.side_policy, self._draw)

    def _draw(self, policy_id: int, rng: np.random.Generator):
        members = self.view.get(policy_id, [])
        if not members:
            return None
        probs = np.array([p for _, p, _ in members])
        name, _, ref = members[int(rng.choice(len(members), p=probs / probs.sum()))]
        if (policy_id, name) not in self.players:
            self.players[(policy_id, name)] = self._player(policy_id, name, ref)
        return self.players[(policy_id, name)]

    def _player(self, policy_id: int, name: str, ref):
        """A scripted member (``ref`` None), or a snapshot built from the weights ``ref`` points at."""
        import ray

        spec = self.specs[policy_id]
        if ref is None:
            return ScriptedPlayer(name, spec.action_space)
        model = self.make_model(spec)
        model.load_state_dict(ray.get(ref))
        return SnapshotPlayer(name, model, spec.action_space)

    def opponents(self, storages) -> MatchOpponents:
        """The actor's sampler's ``Opponents`` controller."""
        return MatchOpponents(self.matchmaker, storages, self.cfg.pool_max_snapshots)

    @staticmethod
    def named(results: list[EpisodeResult]) -> list[NamedResult]:
        """Finished episodes by player name (no model crosses processes)."""
        return [NamedResult(r.env_id, {side: p.name for side, p in r.lineup.items()}, r.side_returns, r.scores)
                for r in results]  # fmt: skip
