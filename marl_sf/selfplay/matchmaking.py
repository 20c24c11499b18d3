"""Matchmaking: which player controls each side of each env, decided anew only at episode boundaries.

A *side* is a set of agents that one player controls together: each agent is its own side when one policy
plays every agent (seat games: connect_four's two seats), and each policy's agents form a side otherwise
(team games: predators vs prey). A *lineup* maps sides to players; a side missing from the lineup is played
by the learning policy that owns its agents. The sampler asks ``opponents_in`` which rows to hand to which
player and never changes a lineup mid-episode.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from marl_sf.selfplay.scoring import GameScore, higher_return_wins

ChooseLineup = Callable[[int], dict[int, object]]


@dataclass
class EpisodeResult:
    """One finished episode of env ``env_id``: who played which side, each side's return and game score.

    Attributes:
        env_id: the env's row.
        lineup: ``{side: player}`` (sides of the learning policies are absent).
        side_returns: ``[S]`` mean episode return of each side's agents.
        scores: ``[S]`` game score of each side (1 win, 0.5 draw, 0 loss; see ``marl_sf.selfplay.scoring``).
    """

    env_id: int
    lineup: dict[int, object]
    side_returns: np.ndarray
    scores: np.ndarray

    def score(self, side: int) -> float:
        """Side ``side``'s game score."""
        return float(self.scores[side])


def agent_sides(agent_policy: list[int]) -> list[list[int]]:
    """Sides from each agent's policy id: one side per agent with a single policy, else one per policy."""
    if len(set(agent_policy)) == 1:
        return [[i] for i in range(len(agent_policy))]
    return [[i for i, p in enumerate(agent_policy) if p == pid] for pid in sorted(set(agent_policy))]


def draw_lineup(rng: np.random.Generator, opponent_prob: float, side_policy: list[int], draw_member) -> dict:
    """A new episode's lineup: with probability ``opponent_prob`` one side drawn at random (so seats swap at random)
    goes to ``draw_member(policy_id, rng)``, a member of that side's policy pool (None: the pool is empty), else
    the learning policies play every side (``{}``)."""
    if rng.random() >= opponent_prob:
        return {}
    side = int(rng.integers(len(side_policy)))
    player = draw_member(side_policy[side], rng)
    return {side: player} if player is not None else {}


class Matchmaker:
    """Per-env lineups for ``num_envs`` envs of ``num_agents`` agents.

    Args:
        num_envs: E.
        num_agents: A.
        sides: agent indices of each side (see ``agent_sides``).
        choose_lineup: ``choose_lineup(env_id) -> {side: player}``, called when an episode starts.
        score_fn: ``score_fn(side_returns [S]) -> scores [S]`` (default: the higher mean return wins).
    """

    def __init__(
        self, num_envs: int, num_agents: int, sides: list[list[int]], choose_lineup: ChooseLineup,
        score_fn: GameScore = higher_return_wins,
    ):  # fmt: skip
        self.sides, self.choose_lineup, self.score_fn = sides, choose_lineup, score_fn
        self.lineups: list[dict[int, object]] = [{} for _ in range(num_envs)]
        self.learner_controlled = np.ones((num_envs, num_agents), bool)  # [E, A]

    def start_episodes(self, env_ids) -> None:
        """Choose new lineups for envs ``env_ids``, whose episodes start now."""
        for e in env_ids:
            self.lineups[e] = self.choose_lineup(int(e))
            self.learner_controlled[e] = True
            for side in self.lineups[e]:
                self.learner_controlled[e, self.sides[side]] = False

    def finish_episodes(self, env_ids, returns: np.ndarray) -> list[EpisodeResult]:
        """Results of the episodes that ended in envs ``env_ids`` with per-agent returns ``[n, A]``."""
        results = []
        for e, agent_returns in zip(env_ids, returns, strict=True):
            side_returns = np.array([agent_returns[side].mean() for side in self.sides])
            results.append(EpisodeResult(int(e), self.lineups[e], side_returns, self.score_fn(side_returns)))
        return results

    def opponents_in(self, rows: slice, agent_indices: list[int]) -> list[tuple[object, np.ndarray]]:
        """The players controlling some of the agents ``agent_indices`` (one policy's) in envs ``rows``.

        Returns:
            ``[(player, mask)]`` with ``mask [E_g, A_p]`` bool: the rows that player acts for.
        """
        found: dict[int, tuple[object, np.ndarray]] = {}
        col = {agent: j for j, agent in enumerate(agent_indices)}
        for i, e in enumerate(range(rows.start, rows.stop)):
            for side, player in self.lineups[e].items():
                cols = [col[a] for a in self.sides[side] if a in col]
                if not cols:
                    continue
                mask = found.setdefault(id(player), (player, np.zeros((rows.stop - rows.start, len(col)), bool)))[1]
                mask[i, cols] = True
        return list(found.values())
