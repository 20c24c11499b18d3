"""Decision-time search for turn-based board games: MCTS guided by a trained policy and value (PUCT).

Silver et al. 2017, "Mastering the game of Go without human knowledge" (AlphaGo Zero), Methods "Search
algorithm": each simulation descends the tree by ``a = argmax_a Q(s, a) + U(s, a)`` with
``U(s, a) = c_puct * P(s, a) * sqrt(sum_b N(s, b)) / (1 + N(s, a))``, expands the leaf with the network's priors
``P`` (the policy's masked action distribution) and value ``v`` (the critic's value for the player to move; a
finished game scores +1 / 0 / -1 instead), and backs ``v`` up the path with its sign flipped at every ply (the
players alternate). The move played is the most visited root action (greedy) or one drawn in proportion to the
visits (sampled).

Game-theoretic values found in the tree are kept exact (MCTS-Solver: Winands, Bjornsson and Saito 2008,
"Monte-Carlo Tree Search Solver"): a position is proven won for its mover when one move leads to a position proven
lost for the opponent, and proven at the best of its moves' values when every move is proven. A proven position is
not searched below again (it backs up its exact value), a move proven to lose is not selected while another move
is open, and the root plays a proven win when it has one and never a proven loss when it has another move.

Near the end of the game the root's moves can first be solved exactly (``solve_empties``,
``marl_sf.selfplay.solver``): the wins and losses found are proofs of the tree.

The search runs on a game model that can be copied cheaply: the k-in-a-row bitboards of
``marl_sf.selfplay.search_players`` (connect_four and tictactoe), rebuilt from PettingZoo's board observations.
A batch of ``n`` positions is searched together: every round runs one simulation in each tree and evaluates the
``n`` new leaves in one forward pass of the model.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from marl_sf.algo.storage import scale_obs
from marl_sf.models.batch import PolicyBatch
from marl_sf.selfplay.rollout import random_playouts
from marl_sf.selfplay.search_players import Game, game_of
from marl_sf.selfplay.solver import solve_moves


@dataclass
class Node:
    """A position in the search tree, seen by the player to move.

    Attributes:
        mine, theirs: bitboards of the mover's and the opponent's pieces.
        terminal: the mover's score if the game is over here (-1: the previous mover won, 0: a draw), else None.
        proven: the mover's exact score with best play on both sides once the search has proven it (+1 / 0 / -1;
            a finished game is proven at ``terminal``), else None.
        actions: ``[k]`` legal actions (after expansion).
        priors, visits, value_sums: ``[k]`` float arrays over ``actions``: P, N and the summed values W (from the
            mover's side: Q = W / N).
        exact: ``[k]`` each move's proven score for the mover (NaN while unproven).
        children: ``{index into actions: Node}``.
    """

    mine: int
    theirs: int
    terminal: float | None = None
    actions: np.ndarray | None = None
    priors: np.ndarray | None = None
    visits: np.ndarray | None = None
    value_sums: np.ndarray | None = None
    exact: np.ndarray | None = None
    children: dict[int, Node] = field(default_factory=dict)
    proven: float | None = None

    def __post_init__(self):
        """A finished game is proven at its score."""
        if self.terminal is not None:
            self.proven = self.terminal

    def select(self, c_puct: float) -> int:
        """The index of ``argmax_a Q + U`` (unvisited actions have Q = 0, proven ones their exact score); a move
        proven to lose is taken only when every move is."""
        q = np.divide(self.value_sums, self.visits, out=np.zeros_like(self.value_sums), where=self.visits > 0)
        q = np.where(np.isnan(self.exact), q, self.exact)
        u = c_puct * self.priors * math.sqrt(max(1.0, self.visits.sum())) / (1.0 + self.visits)
        score = q + u
        losing = self.exact == -1.0
        if not losing.all():
            score[losing] = -np.inf
        return int(np.argmax(score))

    def prove(self, index: int) -> None:
        """Record the proven score of move ``index`` (its child is proven) and prove this node when it can: won
        as soon as one move wins, else at the best move's score once every move is proven."""
        self.exact[index] = -self.children[index].proven
        if self.exact[index] == 1.0:
            self.proven = 1.0
        elif not np.isnan(self.exact).any():
            self.proven = float(self.exact.max())


class PolicyValueNet:
    """Priors and values of board positions from an actor-critic, for ``PUCTSearch``.

    Each position is given to the model as the env gives it to the player to move: ``obs [rows, cols, 2]`` from
    the mover's side, ``action_mask [P]`` and, for ``--critic_input=joint_obs``, ``state`` = both seats' views
    joined in seat order (the first mover is seat 0).

    Args:
        model: a feed-forward actor-critic (used under ``torch.no_grad``; observation normalization included).
        value_norm: the learner's ``ValueNorm`` of that model (its outputs are then de-normalized to returns), or
            None when the model's values are in return units.
        critic_input: ``--critic_input`` of the run: ``local`` or ``joint_obs``.
        obs_scale: ``--obs_scale``.
        prior_mix: the priors are ``(1 - prior_mix) * policy + prior_mix * uniform`` over the legal moves: a policy
            trained by PPO is often nearly deterministic, and PUCT never tries a move whose prior is 0.
        obs_subtract_mean: ``--obs_subtract_mean`` (the board is ``(x - obs_subtract_mean) / obs_scale``, as in
            training).

    The model must play both seats (one policy for both, as in self-play): the opponent's positions in the tree are
    evaluated with the same network.

    Raises:
        ValueError: a recurrent model, a critic input a board position alone cannot make (the env's state), a
            ``prior_mix`` outside [0, 1].
    """

    def __init__(self, model: torch.nn.Module, value_norm=None, critic_input: str = "local", obs_scale: float = 1.0,
                 prior_mix: float = 0.0, obs_subtract_mean: float = 0.0):  # fmt: skip
        if not 0.0 <= prior_mix <= 1.0:
            raise ValueError(f"the PUCT prior mix is a fraction in [0, 1], not {prior_mix}")
        if model.is_recurrent:
            raise ValueError("PUCT search evaluates positions out of game order: it needs a feed-forward policy "
                             "(train without --use_rnn)")  # fmt: skip
        if critic_input not in ("local", "joint_obs"):
            raise ValueError(f"PUCT search builds the critic's input from the board: --critic_input={critic_input} "
                             "needs the env's state; train with --critic_input=joint_obs or local")  # fmt: skip
        self.model, self.value_norm, self.critic_input, self.obs_scale = model, value_norm, critic_input, obs_scale
        self.prior_mix, self.obs_subtract_mean = prior_mix, obs_subtract_mean
        self.device = next(model.parameters()).device

    def check_spaces(self, obs_space) -> None:
        """Refuse, before any game, an agent observation space the search cannot build inputs for.

        Raises:
            ValueError: not a connect_four or tictactoe board, or model inputs beyond the board and its mask (an
                agent id, episode progress).
        """
        extra = set(obs_space.spaces) - {"obs", "action_mask", "state"}
        if extra:
            raise ValueError(f"PUCT search builds the model's inputs from the board; it cannot make {sorted(extra)} "
                             "(train without --add_agent_id, or search another run)")  # fmt: skip
        game_of(np.zeros((1, *obs_space["obs"].shape)))

    def inputs(self, game: Game, nodes: list[Node]) -> dict[str, torch.Tensor]:
        """The model's input rows of ``n`` positions: ``obs [n, rows, cols, 2]``, ``action_mask [n, P]`` and, for
        ``joint_obs``, ``state [n, 2 * rows * cols * 2]``."""
        mover = np.stack([game.to_planes(n.mine, n.theirs) for n in nodes])  # [n, rows, cols, 2]
        masks = np.zeros((len(nodes), game.num_actions), np.float32)  # [n, P]
        for i, n in enumerate(nodes):
            masks[i, n.actions] = 1.0
        rows = {"obs": mover, "action_mask": masks}
        if self.critic_input == "joint_obs":
            other = mover[..., ::-1]  # the same board from the other seat: planes swapped
            first = np.array([n.mine.bit_count() == n.theirs.bit_count() for n in nodes])  # seat 0 to move, [n]
            seat0 = np.where(first[:, None, None, None], mover, other)
            seat1 = np.where(first[:, None, None, None], other, mover)
            # [n, rows, cols, 2] x 2 -> [n, 2 * rows * cols * 2], seat order
            rows["state"] = np.concatenate([seat0.reshape(len(nodes), -1), seat1.reshape(len(nodes), -1)], axis=1)
        tensors = {k: torch.as_tensor(np.ascontiguousarray(v), device=self.device) for k, v in rows.items()}
        state = tensors.pop("state", None)
        inputs = scale_obs(tensors, self.obs_scale, self.obs_subtract_mean)
        if state is not None:  # a float critic state is not scaled in training either (RolloutStorage.make_batch)
            inputs["state"] = state
        return inputs

    def __call__(self, game: Game, nodes: list[Node]) -> tuple[list[np.ndarray], np.ndarray]:
        """``(priors, values)`` of ``n`` positions: ``priors[i]`` over ``nodes[i]``'s legal actions (``[k_i]``), and
        ``values [n]``, each the mover's value clipped to [-1, 1]."""
        inputs = self.inputs(game, nodes)
        rnn = torch.zeros(len(nodes), 0, device=self.device)  # feed-forward: [n, R = 0]
        with torch.no_grad():
            out = self.model.forward_batch(PolicyBatch.of_rows(inputs, rnn))
            legal = inputs["action_mask"] > 0
            logits = out["action_logits"][:, 0].masked_fill(~legal, -torch.inf)  # [n, 1, P] -> [n, P]
            probs = torch.softmax(logits, dim=-1).cpu().numpy()
            values = out["values"][:, 0]  # [n, 1] -> [n]
            if self.value_norm is not None:
                values = self.value_norm.denormalize(values)
        mix = self.prior_mix
        priors = [(1.0 - mix) * probs[i, n.actions] + mix / len(n.actions) for i, n in enumerate(nodes)]
        return priors, values.clamp(-1.0, 1.0).cpu().numpy()


class PUCTSearch:
    """PUCT search from many root positions at once (see the module docstring).

    Args:
        net: ``net(game, nodes) -> (priors, values)`` (a ``PolicyValueNet``).
        simulations: simulations per move (per root).
        c_puct: the exploration constant of ``U``.
        rng: draws sampled moves and playouts (ties in the greedy choice go to the higher prior, then centre first).
        rollout_mix: a new leaf's value is ``(1 - rollout_mix) * v + rollout_mix * z``, ``z`` the outcome of one
            random playout from it (``marl_sf.selfplay.rollout``; AlphaGo's mixed leaf evaluation).
        solve_empties: a root with at most this many empty cells has its moves solved to the end of the game
            first (``marl_sf.selfplay.solver``, the moves of higher prior first, while the budget lasts): the wins
            and losses found become proofs of the tree, so the search plays a proven win and never a proven loss;
            draws stay open to the search, and a root lost whatever it plays is searched as usual. 0: never.
        solve_nodes: the solver's budget per root (per move played, shared by its candidate moves), in positions
            searched.

    Raises:
        ValueError: fewer than one simulation, a ``rollout_mix`` outside [0, 1], a negative ``solve_empties``, a
            ``solve_nodes`` below 1.
    """

    def __init__(self, net, simulations: int, c_puct: float = 1.25, rng: np.random.Generator | None = None,
                 rollout_mix: float = 0.0, solve_empties: int = 0, solve_nodes: int = 100_000):  # fmt: skip
        if simulations < 1:
            raise ValueError(f"PUCT search needs at least one simulation per move, not {simulations}")
        if not 0.0 <= rollout_mix <= 1.0:
            raise ValueError(f"the PUCT rollout mix is a fraction in [0, 1], not {rollout_mix}")
        if solve_empties < 0 or solve_nodes < 1:
            raise ValueError(f"the endgame solver needs solve_empties >= 0 and solve_nodes >= 1, not "
                             f"{solve_empties} and {solve_nodes}")  # fmt: skip
        self.net, self.simulations, self.c_puct, self.rollout_mix = net, simulations, c_puct, rollout_mix
        self.solve_empties, self.solve_nodes = solve_empties, solve_nodes
        self.rng = rng or np.random.default_rng()

    def moves(self, game: Game, positions: list[tuple[int, int]], deterministic: bool = True) -> np.ndarray:
        """The chosen action of each ``(mine, theirs)`` position, ``[n]``: the most visited root action
        (``deterministic``) or one drawn in proportion to the root visits."""
        roots = [Node(mine, theirs) for mine, theirs in positions]
        for root in roots:
            if game.won(root.theirs) or (root.mine | root.theirs) == game.full:
                raise ValueError("PUCT search needs positions with a move to play, not a finished game")
        self._expand(game, roots, playouts=False)  # the roots' own values are never used
        for root in roots:
            self._solve(game, root)
        for _ in range(self.simulations):
            leaves, paths = [], []
            for root in roots:
                leaf, path = self._descend(game, root)
                leaves.append(leaf)
                paths.append(path)
            fresh = [leaf for leaf in leaves if leaf.proven is None and leaf.actions is None]
            values = dict(zip(map(id, fresh), self._expand(game, fresh), strict=True))
            for leaf, path in zip(leaves, paths, strict=True):
                value = leaf.proven if leaf.proven is not None else values[id(leaf)]  # every other leaf is fresh
                self._backup(path, value)
            if all(root.proven is not None for root in roots):
                break
        return np.array([self._choose(root, deterministic) for root in roots], dtype=np.int64)

    def _solve(self, game: Game, root: Node) -> None:
        """Prove the expanded ``root``'s moves by the endgame solver when few enough cells are empty."""
        empty = game.rows * game.cols - (root.mine | root.theirs).bit_count()
        if empty > self.solve_empties:
            return
        order = np.argsort(-root.priors, kind="stable")  # [k] the likeliest moves first
        scores = solve_moves(game, root.mine, root.theirs, root.actions[order].tolist(), self.solve_nodes)
        if (scores == -1.0).all():
            return  # lost with best play: searched as usual, for the move that leaves the opponent most to find
        for index, score in zip(order.tolist(), scores.tolist(), strict=True):
            if score in (1.0, -1.0):  # a draw stays open: the search prefers the draws the opponent may yet lose
                root.children[index] = _child(game, root, int(root.actions[index]))  # a fresh root has no child
                root.children[index].proven = -score
                root.prove(index)

    @staticmethod
    def _backup(path: list[tuple[Node, int]], value: float) -> None:
        """Add the leaf's ``value`` (for the leaf's mover) up ``path``, its sign flipped at every ply; proofs move
        up with it, and a node proven on the way backs up its exact score from there."""
        proving = True
        for node, index in reversed(path):
            value = -value
            node.visits[index] += 1.0
            node.value_sums[index] += value
            if proving and node.children[index].proven is not None:
                node.prove(index)
            proving = node.proven is not None
            if proving:
                value = node.proven

    def _descend(self, game: Game, node: Node) -> tuple[Node, list[tuple[Node, int]]]:
        """From ``node`` down to a leaf (unexpanded or proven), with the ``(node, action index)`` path."""
        path = []
        while node.proven is None and node.actions is not None:
            index = node.select(self.c_puct)
            path.append((node, index))
            if index not in node.children:
                node.children[index] = _child(game, node, int(node.actions[index]))
            node = node.children[index]
        return node, path

    def _expand(self, game: Game, nodes: list[Node], playouts: bool = True) -> list[float]:
        """Give ``nodes`` their legal actions and the net's priors; returns their values (``[n]``): the net's,
        mixed with a random playout's outcome when ``rollout_mix`` > 0 and ``playouts``."""
        if not nodes:
            return []
        for node in nodes:
            node.actions = np.array([a for a, _ in game.moves(node.mine | node.theirs)], dtype=np.int64)
        priors, values = self.net(game, nodes)
        for node, p in zip(nodes, priors, strict=True):
            node.priors = p / max(float(p.sum()), 1e-8)
            node.visits = np.zeros(len(node.actions))
            node.value_sums = np.zeros(len(node.actions))
            node.exact = np.full(len(node.actions), np.nan)
        if self.rollout_mix > 0.0 and playouts:
            mine = np.array([node.mine for node in nodes], dtype=np.uint64)
            theirs = np.array([node.theirs for node in nodes], dtype=np.uint64)
            outcomes = random_playouts(game, mine, theirs, self.rng)
            values = (1.0 - self.rollout_mix) * np.asarray(values) + self.rollout_mix * outcomes
        return values.tolist()

    def _choose(self, root: Node, deterministic: bool) -> int:
        """The root's move among its candidates: the moves of the proven score when the root is proven, else every
        move not proven to lose (every move when all lose)."""
        if root.proven is not None:
            candidates = root.exact == root.proven
        else:
            candidates = root.exact != -1.0
            if not candidates.any():
                candidates[:] = True
        visits = np.where(candidates, root.visits, -1.0)
        if deterministic:
            best = np.flatnonzero(visits == visits.max())
            return int(root.actions[best[np.argmax(root.priors[best])]])
        weights = np.where(candidates, root.visits + 1e-9, 0.0)  # a proven win may be found with few visits
        return int(self.rng.choice(root.actions, p=weights / weights.sum()))


def _child(game: Game, node: Node, action: int) -> Node:
    """The position after the mover plays ``action``, seen by the next mover."""
    after = node.mine | game.action_bit(action, node.mine | node.theirs)
    if game.won(after):
        return Node(node.theirs, after, terminal=-1.0)
    if after | node.theirs == game.full:
        return Node(node.theirs, after, terminal=0.0)
    return Node(node.theirs, after)


class PUCTPlayer:
    """A learned player that searches before every move (``<checkpoint player>+puct:<simulations>``).

    Acts like ``SnapshotPlayer`` (same ``act`` contract) for connect_four and tictactoe boards.

    Args:
        name: the player's name.
        search: the ``PUCTSearch`` over the checkpoint's ``PolicyValueNet`` (``puct_player`` builds both from a
            run's options).

    Attributes:
        moves_played, search_seconds: the moves chosen so far and the wall-clock seconds their searches took (a
            batch of positions is searched together, so ``search_seconds / moves_played`` is the cost per move
            amortized over the batch; ``batches`` counts the searches).
    """

    def __init__(self, name: str, search: PUCTSearch):
        self.name, self.search = name, search
        self.moves_played, self.batches, self.search_seconds = 0, 0, 0.0

    def search_budget(self) -> dict[str, float]:
        """``simulations`` per move, ``rollout_mix``, ``solve_empties``, ``solve_nodes``, ``moves``,
        ``seconds_per_move`` (amortized) and ``seconds_per_search``."""
        return {"simulations": self.search.simulations, "rollout_mix": self.search.rollout_mix,
                "solve_empties": self.search.solve_empties, "solve_nodes": self.search.solve_nodes,
                "moves": self.moves_played,
                "seconds_per_move": self.search_seconds / max(1, self.moves_played),
                "seconds_per_search": self.search_seconds / max(1, self.batches)}  # fmt: skip

    def act(self, inputs, raw_obs, rnn_states, deterministic: bool = False):
        """Actions ``[n]`` for the ``n`` board rows of ``raw_obs`` (``{"obs": [n, rows, cols, 2]}``); the
        recurrent states ``[n, 0]`` pass through.

        Raises:
            ValueError: the observations are not connect_four or tictactoe boards (``PolicyValueNet.check_spaces``
                refuses them before any game).
        """
        planes = raw_obs["obs"].cpu().numpy()
        if len(planes) == 0:
            return torch.zeros(0, dtype=torch.int64, device=rnn_states.device), rnn_states
        game = game_of(planes)
        start = time.perf_counter()
        actions = self.search.moves(game, [game.from_planes(p) for p in planes], deterministic)
        self.search_seconds += time.perf_counter() - start
        self.moves_played, self.batches = self.moves_played + len(planes), self.batches + 1
        return torch.as_tensor(actions, device=rnn_states.device), rnn_states


def puct_player(name: str, model: torch.nn.Module, value_norm, cfg, simulations: int, obs_space,
                seed: int | None) -> PUCTPlayer:  # fmt: skip
    """The ``PUCTPlayer`` named ``name`` searching ``simulations`` per move over ``model``, with the run's search
    options (``--search_c_puct``, ``--search_prior_mix``, ``--search_rollout_mix``, ``--search_solve_empties``,
    ``--search_solve_nodes``) and its input options.

    Args:
        value_norm: the model's ``ValueNorm`` or None (see ``PolicyValueNet``).
        obs_space: an agent's observation space, checked before any game (``PolicyValueNet.check_spaces``).
        seed: seeds the sampled moves and the playouts.

    Raises:
        ValueError: what ``PolicyValueNet`` and ``PUCTSearch`` refuse.
    """
    net = PolicyValueNet(model, value_norm, cfg.critic_input, cfg.obs_scale, cfg.search_prior_mix,
                         cfg.obs_subtract_mean)  # fmt: skip
    net.check_spaces(obs_space)
    search = PUCTSearch(net, simulations, cfg.search_c_puct, np.random.default_rng(seed), cfg.search_rollout_mix,
                        cfg.search_solve_empties, cfg.search_solve_nodes)  # fmt: skip
    return PUCTPlayer(name, search)


def split_search_name(name: str) -> tuple[str, int | None]:
    """``("latest", 200)`` for the player name ``latest+puct:200``, ``(name, None)`` for a name without search.

    Raises:
        ValueError: a ``+puct:`` suffix without a positive number of simulations.
    """
    base, sep, sims = name.partition("+puct:")
    if not sep:
        return name, None
    if not sims.isdigit() or int(sims) < 1:
        raise ValueError(f"player {name!r}: write <player>+puct:<simulations>, simulations a positive number")
    return base, int(sims)


def checkpoint_value_norm(path, model: torch.nn.Module, cfg):
    """The ``ValueNorm`` saved with checkpoint ``path`` (read as weights only), or None when the run that wrote it
    did not normalize returns.

    Raises:
        ValueError: the file keeps no learner state (a pool snapshot) and ``cfg`` normalizes returns: its values
            cannot be read in return units.
    """
    from marl_sf.algo.value_norm import ValueNorm
    from marl_sf.checkpoint import load_weights_file

    state = load_weights_file(path, "cpu")
    learner = state.get("learner") if isinstance(state, dict) else None
    if learner is None:
        if not cfg.normalize_returns:
            return None
        raise ValueError(f"{path} keeps no value normalizer (a pool snapshot of a --normalize_returns run): "
                         "search with a checkpoint (latest, best or a checkpoint_*.pth file)")  # fmt: skip
    if learner.get("value_norm") is None:
        return None
    norm = ValueNorm().to(next(model.parameters()).device)
    norm.load_state_dict(learner["value_norm"])
    return norm
