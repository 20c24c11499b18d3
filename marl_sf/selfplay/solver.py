"""Exact game values of k-in-a-row positions: alpha-beta search to the end of the game, within a node budget.

The endgame solver of decision-time search (``--search_solve_empties``): a PUCT search misjudges long forcing
lines and zugzwang near the end of a connect_four game, where a search to the end is cheap. Negamax with alpha-beta
pruning (Knuth and Moore 1975) over the three outcomes (+1 win, 0 draw, -1 loss for the mover), with

* a transposition table of bounds per position;
* forced moves: a move that wins at once scores +1; when the opponent threatens to win on a playable cell the
  mover must block there (two such threats lose); in a gravity game a move right below a cell that wins for the
  opponent is never played (it loses at once);
* moves after which the mover has the most empty winning cells searched first, then centre first (``Game.moves``).

A win is not told from a slower win: the solver answers who wins, not how fast.
"""

from __future__ import annotations

import numpy as np

from marl_sf.selfplay.search_players import Game


class _OutOfBudgetError(Exception):
    """The search visited more positions than its budget."""


def solve(game: Game, mine: int, theirs: int, max_nodes: int) -> float | None:
    """The mover's exact score with best play on both sides: +1 (win), 0 (draw), -1 (loss); None when it takes
    more than ``max_nodes`` positions to find.

    Args:
        game: the board game (``marl_sf.selfplay.search_players``).
        mine, theirs: bitboards of the mover's and the opponent's pieces; the game must not be over.
        max_nodes: the most positions searched (each costs some 15-20 microseconds on a CPU core).

    Raises:
        ValueError: the game is already over, or ``max_nodes`` is below 1.
    """
    _check(game, mine, theirs, max_nodes)
    try:
        return float(_Search(game, max_nodes).negamax(mine, theirs, -1, 1))
    except _OutOfBudgetError:
        return None


def solve_moves(game: Game, mine: int, theirs: int, actions: list[int], max_nodes: int) -> np.ndarray:
    """Each move's exact score for the mover, ``[k]`` over ``actions`` (+1 / 0 / -1, NaN where unknown): the moves
    are solved in the order given, with one transposition table and ``max_nodes`` positions between them, until the
    budget runs out or a move wins (the moves after a winning one stay NaN).

    Raises:
        ValueError: the game is already over, ``max_nodes`` is below 1, an action is not a legal move.
    """
    _check(game, mine, theirs, max_nodes)
    search, scores = _Search(game, max_nodes), np.full(len(actions), np.nan)
    occupied = mine | theirs
    for i, action in enumerate(actions):
        after = mine | game.action_bit(action, occupied)
        try:
            scores[i] = search.score_after(theirs, after)
        except _OutOfBudgetError:
            break
        if scores[i] == 1.0:
            break
    return scores


def _check(game: Game, mine: int, theirs: int, max_nodes: int) -> None:
    if max_nodes < 1:
        raise ValueError(f"the solver needs a node budget of at least 1, not {max_nodes}")
    if game.won(mine) or game.won(theirs) or (mine | theirs) == game.full:
        raise ValueError("the solver values positions with a move to play, not a finished game")


class _Search:
    def __init__(self, game: Game, max_nodes: int):
        self.game, self.nodes_left, self.table = game, max_nodes, {}

    def score_after(self, mover: int, last: int) -> int:
        """The previous mover's score after it placed ``last`` (its pieces): +1 if that won, 0 on a full board,
        else minus the new mover's score."""
        if self.game.won(last):
            return 1
        if (mover | last) == self.game.full:
            return 0
        return -self.negamax(mover, last, -1, 1)

    def negamax(self, mine: int, theirs: int, alpha: int, beta: int) -> int:
        """The mover's score of a position with a move to play, exact when inside ``(alpha, beta)``, else a bound
        on the side of the window it falls (fail-soft)."""
        game = self.game
        occupied = mine | theirs
        if occupied == game.full:
            return 0
        self.nodes_left -= 1
        if self.nodes_left < 0:
            raise _OutOfBudgetError
        key = (mine, theirs)
        low, high = self.table.get(key, (-1, 1))
        if low >= beta or high <= alpha or low == high:
            return low if low >= beta or low == high else high
        alpha, beta = max(alpha, low), min(beta, high)
        playable = [bit for _, bit in game.moves(occupied)]
        if game.winning_cells(mine) & sum(playable):
            return 1
        wins_for_them = game.winning_cells(theirs) & ~occupied
        threats = [bit for bit in playable if bit & wins_for_them]
        if len(threats) > 1:
            return -1
        candidates = threats or playable
        if game.gravity:  # a move right below a cell that wins for the opponent loses at once
            candidates = [bit for bit in candidates if not (bit << 1) & wins_for_them]
            if not candidates:
                return -1
        if len(candidates) > 1:  # the moves that make the most cells winning for the mover first
            free = ~occupied
            candidates.sort(key=lambda bit: -(game.winning_cells(mine | bit) & free & ~bit).bit_count())
        start, best = alpha, -1
        for bit in candidates:
            after = mine | bit
            value = 0 if (after | theirs) == game.full else -self.negamax(theirs, after, -beta, -alpha)
            best = max(best, value)
            alpha = max(alpha, value)
            if alpha >= beta:
                break
        if best <= start:
            high = best  # failed low: an upper bound
        elif best >= beta:
            low = best  # failed high: a lower bound
        else:
            low = high = best
        self.table[key] = (low, high)
        return best
