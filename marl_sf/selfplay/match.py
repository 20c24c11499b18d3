"""Games between two fixed players from every seat: the engine of evaluation and tournaments.

The sampler plays the games: a matchmaker gives every side of every env to one of the two players (the first
k envs put player A on seat 0, the next k on seat 1, and so on; see ``seat_lineups``), so the policies' own
models never act and the players' inference is batched by the sampler.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from marl_sf.algo.policy_mapping import agent_policies
from marl_sf.algo.runners import LocalEnvs, uses_env_state
from marl_sf.algo.sampler import Sampler
from marl_sf.experiment import build_storages
from marl_sf.selfplay.match_opponents import MatchOpponents
from marl_sf.selfplay.matchmaking import Matchmaker, agent_sides
from marl_sf.selfplay.scoring import game_score
from marl_sf.stats import mean, stratified_bootstrap_ci


@dataclass
class SeatRecord:
    """Wins, draws and losses of player A when it plays one seat (side)."""

    wins: int = 0
    draws: int = 0
    losses: int = 0

    @property
    def games(self) -> int:
        return self.wins + self.draws + self.losses

    @property
    def score(self) -> float:
        """Mean score (win 1, draw 0.5), NaN before any game."""
        return (self.wins + 0.5 * self.draws) / self.games if self.games else float("nan")

    def score_ci(self, confidence: float = 0.95) -> tuple[float, float]:
        """The percentile bootstrap interval of the mean score over the games (NaNs before any game)."""
        if not self.games:
            return float("nan"), float("nan")
        games = np.repeat([1.0, 0.5, 0.0], [self.wins, self.draws, self.losses])  # [games]
        return stratified_bootstrap_ci([games], mean, confidence=confidence)


@dataclass
class MatchResult:
    """Player A against player B: A's record per seat A played.

    Attributes:
        a, b: the players' names.
        seats: ``{side: SeatRecord}`` of A.
    """

    a: str
    b: str
    seats: dict[int, SeatRecord] = field(default_factory=dict)

    def total(self) -> SeatRecord:
        """A's record over every seat."""
        return SeatRecord(*(sum(getattr(r, k) for r in self.seats.values()) for k in ("wins", "draws", "losses")))


def seat_lineups(num_sides: int, player_a, player_b, team_sides=None) -> list[tuple[int, dict[int, object]]]:
    """``(A's side, lineup)`` pairs: in seat games A on each side in turn and B on every other side; in team
    games (``team_sides = (A's side, B's side)``) the one lineup of the two teams."""
    if team_sides is not None:
        return [(team_sides[0], {team_sides[0]: player_a, team_sides[1]: player_b})]
    return [(s, {side: player_a if side == s else player_b for side in range(num_sides)}) for s in range(num_sides)]


def play_match(
    cfg, specs, models, make_envs_fn, player_a, player_b, games_per_seat: int, seed: int, team_sides=None
) -> MatchResult:
    """Play ``games_per_seat`` games with A on each seat against B, in ``S * k`` parallel envs.

    Args:
        cfg: the experiment's config (``num_envs`` sets the parallel games per seat, at least 1).
        specs, models: the experiment's policies (they only shape the storages; the players act).
        make_envs_fn: ``make_envs_fn(n)`` -> n contract envs (or one vectorized env of n).
        player_a, player_b: players (``SnapshotPlayer`` / ``ScriptedPlayer``).
        games_per_seat: games counted per seat of A (the first to finish in each seat's envs).
        seed: env seeds are ``seed + env row``.
        team_sides: ``(A's side, B's side)`` when the players are teams of different policies (each plays
            only its own side); None for seat games, where A plays every seat in turn.

    Returns:
        A's ``MatchResult`` (the side with the higher mean return wins a game; equal returns draw).
    """
    agent_policy = agent_policies(specs)
    sides = agent_sides(agent_policy)
    lineups = seat_lineups(len(sides), player_a, player_b, team_sides)
    per_seat = max(1, min(cfg.num_envs, games_per_seat))
    num_envs = per_seat * len(lineups)
    envs = make_envs_fn(num_envs)
    env_seat = [lineups[e // per_seat][0] for e in range(num_envs)]  # the side A plays in env e, [E]
    result = MatchResult(player_a.name, player_b.name, {seat: SeatRecord() for seat, _ in lineups})
    by_seat = dict(lineups)
    runner = LocalEnvs(envs, cfg.env).runner(uses_env_state(specs))
    try:
        score_fn = game_score(cfg.env)
        matchmaker = Matchmaker(num_envs, len(agent_policy), sides, lambda e: by_seat[env_seat[e]], score_fn)
        storages = build_storages(cfg, specs, models, num_envs, 1, next(models[0].parameters()).device)
        opponents = MatchOpponents(matchmaker, storages, cfg.pool_max_snapshots)
        sampler = Sampler(cfg, runner, specs, models, storages, seed, opponents)
        while min(r.games for r in result.seats.values()) < games_per_seat:
            for episode in sampler.collect(deterministic=cfg.eval_deterministic).match_results:
                seat = env_seat[episode.env_id]
                record = result.seats[seat]
                if record.games >= games_per_seat:
                    continue
                score = episode.score(seat)
                record.wins += score == 1.0
                record.draws += score == 0.5
                record.losses += score == 0.0
            for st in storages:
                st.carry_last_step()
    finally:
        runner.close()
    return result
