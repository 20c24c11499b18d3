"""Search players for connect_four and tictactoe, by name wherever scripted policies go (tournaments, pools,
evaluation): players nobody here trained, to measure a learned policy against.

* ``alphabeta:<depth>``: negamax with alpha-beta pruning to ``depth`` plies (Knuth and Moore 1975), moves searched
  centre first; a leaf that is not the end of the game scores the open lines (windows of ``connect`` cells holding
  one player's pieces only, 2 and more pieces weighted up). Ties between equally good moves are broken at random.
* ``perfect``: tictactoe searched to the end (a player that never loses).
* ``openspiel_mcts:<simulations>``: OpenSpiel's ``MCTSBot`` (UCT, random rollouts; ``pip install
  'marl-sf[openspiel]'``) on the OpenSpiel state of the same board, rebuilt from the PettingZoo observation by
  replaying a legal move sequence that leads to it.

The players read PettingZoo's board observations, ``obs [n, rows, cols, 2]`` (plane 0: the mover's pieces, plane 1:
the opponent's; connect_four's row 0 is the top) with ``action_mask [n, actions]``, and return ``[n]`` actions:
connect_four's column, tictactoe's cell ``3 * row + col`` of the observation.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from marl_sf.selfplay.scripted import register_scripted_family
from marl_sf.utils.extras import require

WIN = 1_000_000  # a won game, less the plies it takes (a faster win scores higher)


@dataclass(frozen=True)
class Game:
    """A k-in-a-row board game on a bitboard: cell (row, col) is bit ``col * (rows + 1) + row`` (a spare bit per
    column keeps the line shifts from wrapping), row 0 at the bottom for a gravity game.

    Attributes:
        name: the game (its OpenSpiel name in ``openspiel``).
        rows, cols, connect: the board and the line length that wins.
        gravity: a move is a column and lands on its lowest empty cell (connect_four); else a move is a cell.
    """

    name: str
    openspiel: str
    rows: int
    cols: int
    connect: int
    gravity: bool

    def bit(self, row: int, col: int) -> int:
        return 1 << (col * (self.rows + 1) + row)

    def won(self, pieces: int) -> bool:
        """Whether ``pieces`` hold ``connect`` in a row (vertical, horizontal, both diagonals)."""
        for shift in (1, self.rows + 1, self.rows, self.rows + 2):
            line = pieces
            for i in range(1, self.connect):
                line &= pieces >> (i * shift)
            if line:
                return True
        return False

    @functools.cached_property
    def _line_shifts(self) -> list[list[int]]:
        """Per line direction and per place of the missing cell in a line, the signed shifts (in bits) that
        bring the line's other cells onto that cell: ``winning_cells`` ANDs the pieces over them."""
        out = []
        for step in (1, self.rows + 1, self.rows, self.rows + 2):
            for missing in range(self.connect):
                out.append([(i - missing) * step for i in range(self.connect) if i != missing])
        return out

    def winning_cells(self, pieces: int) -> int:
        """The cells of the board (occupied or not) that would complete a line of ``connect`` with ``pieces``."""
        cells = 0
        for shifts in self._line_shifts:
            line = -1  # every bit
            for shift in shifts:
                line &= pieces >> shift if shift > 0 else pieces << -shift
            cells |= line
        return cells & self.full

    @functools.cached_property
    def windows(self) -> list[int]:
        """Every line of ``connect`` cells, as a bitmask."""
        out = []
        for row in range(self.rows):
            for col in range(self.cols):
                for dr, dc in ((1, 0), (0, 1), (1, 1), (-1, 1)):
                    cells = [(row + i * dr, col + i * dc) for i in range(self.connect)]
                    if all(0 <= r < self.rows and 0 <= c < self.cols for r, c in cells):
                        out.append(sum(self.bit(r, c) for r, c in cells))
        return out

    @functools.cached_property
    def cell_bits(self) -> np.ndarray:
        """``[rows * cols]`` uint64 bits of every cell, column by column, bottom row first."""
        return np.array([self.bit(r, c) for c in range(self.cols) for r in range(self.rows)], dtype=np.uint64)

    @functools.cached_property
    def full(self) -> int:
        return sum(self.bit(r, c) for r in range(self.rows) for c in range(self.cols))

    @functools.cached_property
    def _move_masks(self) -> list[tuple[int, int]]:
        """``[(action, mask)]`` centre first: a column's cells (gravity) or the action's one cell."""
        if self.gravity:
            centre = (self.cols - 1) / 2
            columns = sorted(range(self.cols), key=lambda c: abs(c - centre))
            return [(c, sum(self.bit(r, c) for r in range(self.rows))) for c in columns]
        cells = sorted(range(self.rows * self.cols), key=lambda a: abs(a // self.cols - 1) + abs(a % self.cols - 1))
        return [(a, self.bit(a // self.cols, a % self.cols)) for a in cells]

    def moves(self, occupied: int) -> list[tuple[int, int]]:
        """``[(action, bit)]`` of the legal moves, centre first."""
        out = []
        for action, mask in self._move_masks:
            free = mask & ~occupied
            if free:
                out.append((action, free & -free))  # the lowest free cell of a column (bits run bottom-up)
        return out

    def from_planes(self, planes: np.ndarray) -> tuple[int, int]:
        """``(mine, theirs)`` bitboards of one observation ``[rows, cols, 2]``."""
        boards = []
        for plane in (planes[..., 0], planes[..., 1]):
            rows, cols = np.nonzero(plane)
            if self.gravity:
                rows = self.rows - 1 - rows  # the observation's row 0 is the top
            boards.append(sum(self.bit(int(r), int(c)) for r, c in zip(rows, cols, strict=True)))
        return boards[0], boards[1]

    def to_planes(self, mine: int, theirs: int) -> np.ndarray:
        """The observation ``[rows, cols, 2]`` (float32) of ``(mine, theirs)``: the inverse of ``from_planes``."""
        planes = np.zeros((self.rows, self.cols, 2), np.float32)
        for k, board in enumerate((mine, theirs)):
            for row in range(self.rows):
                for col in range(self.cols):
                    if board & self.bit(row, col):
                        planes[self.rows - 1 - row if self.gravity else row, col, k] = 1.0
        return planes

    @property
    def num_actions(self) -> int:
        """Actions of the env: a column (gravity) or a cell."""
        return self.cols if self.gravity else self.rows * self.cols

    def action_bit(self, action: int, occupied: int) -> int:
        """The cell ``action`` fills on a board with ``occupied`` cells (a column's lowest empty cell).

        Raises:
            ValueError: ``action`` is not a legal move there (a full column, an occupied cell, out of range).
        """
        if not 0 <= action < self.num_actions:
            raise ValueError(f"action {action} is out of range for {self.name} ({self.num_actions} actions)")
        cells = [(r, action) for r in range(self.rows)] if self.gravity else [divmod(action, self.cols)]
        free = [self.bit(r, c) for r, c in cells if not occupied & self.bit(r, c)]
        if not free:
            raise ValueError(f"action {action} is not a legal move in {self.name}: its cell or column is full")
        return free[0]

    def evaluate(self, mine: int, theirs: int) -> int:
        """A leaf's value for the mover: open lines, weighted by the pieces in them (cubed)."""
        score = 0
        for w in self.windows:
            a, b = (mine & w).bit_count(), (theirs & w).bit_count()
            if a and not b:
                score += a**3
            elif b and not a:
                score -= b**3
        return score


CONNECT_FOUR = Game("connect_four", "connect_four", 6, 7, 4, True)
TICTACTOE = Game("tictactoe", "tic_tac_toe", 3, 3, 3, False)
_GAMES = {(6, 7): CONNECT_FOUR, (3, 3): TICTACTOE}


def game_of(planes: np.ndarray) -> Game:
    """The game of board observations ``[n, rows, cols, 2]``.

    Raises:
        ValueError: not a connect_four or tictactoe board.
    """
    shape = tuple(planes.shape[1:3])
    if planes.ndim != 4 or planes.shape[-1] != 2 or shape not in _GAMES:
        raise ValueError(f"search players play connect_four [6, 7, 2] and tictactoe [3, 3, 2] boards, not observations "
                         f"of shape {tuple(planes.shape[1:])}")  # fmt: skip
    return _GAMES[shape]


def negamax(game: Game, mine: int, theirs: int, depth: int, alpha: float, beta: float) -> float:
    """The mover's value of a position searched ``depth`` plies (Knuth and Moore 1975, negamax form)."""
    occupied = mine | theirs
    if occupied == game.full:
        return 0
    if depth == 0:
        return game.evaluate(mine, theirs)
    best = -np.inf
    for _, bit in game.moves(occupied):
        after = mine | bit
        value = WIN + depth if game.won(after) else -negamax(game, theirs, after, depth - 1, -beta, -alpha)
        best = max(best, value)
        alpha = max(alpha, value)
        if alpha >= beta:
            break
    return best


@functools.lru_cache(maxsize=1 << 20)
def _exact(game: Game, mine: int, theirs: int, depth: int) -> float:
    """``negamax``'s value without pruning, remembered per position: what a small board (tictactoe: 5,478 positions)
    searches once and then looks up."""
    if mine | theirs == game.full:
        return 0
    if depth == 0:
        return game.evaluate(mine, theirs)
    best = -np.inf
    for _, bit in game.moves(mine | theirs):
        after = mine | bit
        best = max(best, WIN + depth if game.won(after) else -_exact(game, theirs, after, depth - 1))
    return best


def search_move(game: Game, mine: int, theirs: int, depth: int, rng: np.random.Generator) -> int:
    """The mover's best action by ``negamax`` to ``depth`` plies (tictactoe: exact values, remembered); equally
    good moves drawn at random."""
    values = []
    for action, bit in game.moves(mine | theirs):
        after = mine | bit
        if game.won(after):
            value = WIN + depth
        elif game is TICTACTOE:
            value = -_exact(game, theirs, after, depth - 1)
        else:
            value = -negamax(game, theirs, after, depth - 1, -np.inf, np.inf)
        values.append((value, action))
    top = max(v for v, _ in values)
    return int(rng.choice([a for v, a in values if v == top]))


def alphabeta_player(depth: int, seed: int | None = None):
    """The batched ``alphabeta:<depth>`` policy: ``fn({"obs": [n, rows, cols, 2], ...}) -> [n]`` actions."""
    rng = np.random.default_rng(seed)

    def act(obs: dict[str, np.ndarray]) -> np.ndarray:
        planes = np.asarray(obs.get("obs", obs.get("observation")))
        game = game_of(planes)
        return np.array([search_move(game, *game.from_planes(p), depth, rng) for p in planes], dtype=np.int64)

    return act


def openspiel_state(game: Game, mine: int, theirs: int):
    """The OpenSpiel state of the position: a legal move sequence that leads to it, found backwards (the last
    mover's pieces are taken off, top pieces first for connect_four), then replayed.

    Raises:
        ValueError: no legal sequence leads to the position.
    """
    pyspiel = require("pyspiel", "openspiel", "openspiel_mcts players")
    sequence = _unplay(game, mine, theirs, seen=set())
    if sequence is None:
        raise ValueError("no legal move sequence leads to this board")
    state = pyspiel.load_game(game.openspiel).new_initial_state()
    for action in sequence:
        state.apply_action(action)
    return state


def _unplay(game: Game, mine: int, theirs: int, seen: set) -> list[int] | None:
    """Actions from the empty board to ``(mine, theirs)`` where ``mine`` moves next, or None. Backwards: the
    player who moved last (``theirs``) takes a piece back, and it was their move before."""
    if not mine | theirs:
        return []
    if (mine, theirs) in seen:
        return None
    seen.add((mine, theirs))
    for action, bit in _removable(game, mine | theirs):
        if theirs & bit:
            earlier = _unplay(game, theirs & ~bit, mine, seen)
            if earlier is not None:
                return [*earlier, action]
    return None


def _removable(game: Game, occupied: int) -> list[tuple[int, int]]:
    """The pieces a move could have placed last: each column's top piece (gravity), else any piece."""
    out = []
    for col in range(game.cols):
        for row in reversed(range(game.rows)) if game.gravity else range(game.rows):
            bit = game.bit(row, col)
            if occupied & bit:
                out.append((col if game.gravity else row * game.cols + col, bit))
                if game.gravity:
                    break
    return out


class OpenSpielMCTSPlayer:
    """The batched ``openspiel_mcts:<simulations>`` policy (OpenSpiel's MCTSBot, UCT c = 2, one random rollout per
    leaf): ``player({"obs": [n, rows, cols, 2], ...}) -> [n]`` actions.

    The bots are built on first use and left out when the player is pickled (a registry shipped to Ray sampler
    actors carries the player; pyspiel objects cannot be pickled).
    """

    def __init__(self, simulations: int, seed: int | None = None):
        require("pyspiel", "openspiel", "openspiel_mcts players")
        self.simulations, self.random_state, self.bots = simulations, np.random.RandomState(seed), {}

    def __getstate__(self) -> dict:
        return {**self.__dict__, "bots": {}}

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        planes = np.asarray(obs.get("obs", obs.get("observation")))
        game = game_of(planes)
        if game.name not in self.bots:
            import pyspiel
            from open_spiel.python.algorithms import mcts

            evaluator = mcts.RandomRolloutEvaluator(1, self.random_state)
            self.bots[game.name] = mcts.MCTSBot(pyspiel.load_game(game.openspiel), 2.0, self.simulations, evaluator,
                                                random_state=self.random_state)  # fmt: skip
        bot = self.bots[game.name]
        return np.array([bot.step(openspiel_state(game, *game.from_planes(p))) for p in planes], dtype=np.int64)


def _depth(arg: str) -> int:
    if not arg.isdigit() or int(arg) < 1:
        raise ValueError(f"alphabeta:<depth> takes a positive number of plies, not {arg!r}")
    return int(arg)


def _perfect(arg: str):
    if arg:
        raise ValueError("'perfect' takes no argument")
    search = alphabeta_player(TICTACTOE.rows * TICTACTOE.cols)

    def act(obs: dict[str, np.ndarray]) -> np.ndarray:
        if game_of(np.asarray(obs.get("obs", obs.get("observation")))) is not TICTACTOE:
            raise ValueError("'perfect' plays tictactoe (connect_four is too large to search to the end): use "
                             "alphabeta:<depth>")  # fmt: skip
        return search(obs)

    return act


def _simulations(arg: str):
    if not arg.isdigit() or int(arg) < 1:
        raise ValueError(f"openspiel_mcts:<simulations> takes a positive number, not {arg!r}")
    return OpenSpielMCTSPlayer(int(arg))


register_scripted_family("alphabeta", lambda arg: alphabeta_player(_depth(arg)), batched=True)
register_scripted_family("perfect", _perfect, batched=True)
register_scripted_family("openspiel_mcts", _simulations, batched=True)
