"""Decision-time PUCT search (marl_sf.selfplay.puct): the search on known positions and with an exact value
function, the model inputs it builds against the env's own, and ``<player>+puct:<n>`` in a tournament."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch
from pettingzoo.classic import connect_four_v3, tictactoe_v3

from envs.pettingzoo_aec import PettingZooAECEnv
from marl_sf.algo.value_norm import ValueNorm
from marl_sf.selfplay.puct import Node, PolicyValueNet, PUCTSearch, split_search_name
from marl_sf.selfplay.search_players import CONNECT_FOUR, TICTACTOE, _exact, search_move
from marl_sf.tournament import parse_tournament_args, tournament
from marl_sf.train import Trainer
from tests.configs import TICTACTOE_POOL_ARGS

TICTACTOE_ARGS = TICTACTOE_POOL_ARGS


def uniform_net(game, nodes):
    """Uniform priors, value 0: the search learns only from finished games."""
    return [np.full(len(n.actions), 1.0 / len(n.actions)) for n in nodes], np.zeros(len(nodes))


def exact_net(game, nodes):
    """Uniform priors and tictactoe's exact value for the mover (+1 won, 0 drawn, -1 lost with best play)."""
    values = [np.sign(_exact(game, n.mine, n.theirs, 9)) for n in nodes]
    return [np.full(len(n.actions), 1.0 / len(n.actions)) for n in nodes], np.array(values, dtype=float)


class _FeedForward(torch.nn.Module):
    """A stand-in for the model: every position gets all probability on action 0 and the value ``raw_value``
    (before the value normalizer)."""

    is_recurrent = False

    def __init__(self, raw_value: float = 0.3):
        super().__init__()
        self.layer = torch.nn.Linear(1, 1)
        self.raw_value = raw_value

    def forward_batch(self, batch):
        n, actions = batch.obs["action_mask"].shape[0], batch.obs["action_mask"].shape[-1]
        logits = torch.full((n, 1, actions), -50.0)
        logits[..., 0] = 50.0
        return {"action_logits": logits, "values": torch.full((n, 1), self.raw_value)}


def cells(*indices: int) -> int:
    return sum(TICTACTOE.bit(i // 3, i % 3) for i in indices)


def test_puct_takes_a_win_and_blocks_a_loss_from_finished_games_alone():
    search = PUCTSearch(uniform_net, simulations=100, rng=np.random.default_rng(0))
    # tictactoe: 0 1 _ / 3 4 _ / 6 _ 8; the mover holds 0, 1, 6 (2 wins), the opponent 3, 4, 8 (5 would win)
    assert search.moves(TICTACTOE, [(cells(0, 1, 6), cells(3, 4, 8))]).tolist() == [2]
    assert search.moves(TICTACTOE, [(cells(4), cells(0, 1))]).tolist() == [2]  # the only move that does not lose
    bit = CONNECT_FOUR.bit  # (row from the bottom, column)
    # connect_four: the opponent has three in column 3, the mover must play there (two positions searched at once)
    block = (bit(0, 0) | bit(1, 0) | bit(0, 6), bit(0, 3) | bit(1, 3) | bit(2, 3))
    win = (bit(0, 1) | bit(0, 2) | bit(0, 3), bit(1, 1) | bit(1, 2) | bit(1, 3))  # columns 0 and 4 win now
    assert search.moves(CONNECT_FOUR, [block, win])[0] == 3
    assert search.moves(CONNECT_FOUR, [block, win])[1] in (0, 4)


def _game_against_perfect(search: PUCTSearch, seat: int, rng: np.random.Generator) -> float:
    """One tictactoe game of the search (on ``seat``) against exact minimax; the search's score."""
    mine, theirs, mover = 0, 0, 0  # bitboards of the player to move and of the other
    while True:
        if mover == seat:
            action = int(search.moves(TICTACTOE, [(mine, theirs)])[0])
        else:
            action = search_move(TICTACTOE, mine, theirs, 9, rng)
        after = mine | TICTACTOE.action_bit(action, mine | theirs)
        if TICTACTOE.won(after):
            return 1.0 if mover == seat else 0.0
        if after | theirs == TICTACTOE.full:
            return 0.5
        mine, theirs, mover = theirs, after, 1 - mover


def test_puct_with_exact_values_never_loses_to_perfect_play_from_either_seat():
    rng = np.random.default_rng(1)
    search = PUCTSearch(exact_net, simulations=30, rng=rng)
    scores = [_game_against_perfect(search, seat, rng) for seat in (0, 1) for _ in range(10)]
    assert min(scores) == 0.5  # perfect play on both sides: every game drawn


def _random_positions(rng: np.random.Generator, count: int, max_plies: int) -> list[tuple[int, int]]:
    """Unfinished tictactoe positions after up to ``max_plies`` random moves, as ``(mine, theirs)``."""
    out = []
    while len(out) < count:
        mine = theirs = 0
        for _ in range(rng.integers(0, max_plies + 1)):
            _, bit = TICTACTOE.moves(mine | theirs)[rng.integers(len(TICTACTOE.moves(mine | theirs)))]
            if TICTACTOE.won(mine | bit) or (mine | bit | theirs) == TICTACTOE.full:
                break
            mine, theirs = theirs, mine | bit
        else:
            out.append((mine, theirs))
    return out


def test_every_proof_of_the_solver_is_the_exact_minimax_value():
    """MCTS-Solver: every position the search proves, at any depth of its tree, has the value exhaustive minimax
    gives it, and a root proven won stops the search early."""
    rng = np.random.default_rng(0)
    search = PUCTSearch(uniform_net, simulations=300, rng=rng)
    proven = 0
    for mine, theirs in _random_positions(rng, 60, 5):
        root = Node(mine, theirs)
        search._expand(TICTACTOE, [root])
        for _ in range(300):
            leaf, path = search._descend(TICTACTOE, root)
            search._backup(path, leaf.proven if leaf.proven is not None else search._expand(TICTACTOE, [leaf])[0])
        stack = [root]
        while stack:
            node = stack.pop()
            stack.extend(node.children.values())
            if node.proven is not None and node.terminal is None:
                proven += 1
                assert node.proven == np.sign(_exact(TICTACTOE, node.mine, node.theirs, 9))
    assert proven > 500
    win_now = PUCTSearch(uniform_net, simulations=10_000)
    root = Node(cells(0, 1, 6), cells(3, 4, 8))
    win_now._expand(TICTACTOE, [root])
    simulations = 0
    while root.proven is None and simulations < 10_000:
        leaf, path = win_now._descend(TICTACTOE, root)
        win_now._backup(path, leaf.proven if leaf.proven is not None else win_now._expand(TICTACTOE, [leaf])[0])
        simulations += 1
    assert root.proven == 1.0 and simulations <= 4  # proven won within the first few simulations
    assert win_now.moves(TICTACTOE, [(root.mine, root.theirs)]).tolist() == [2]


def test_the_solver_alone_never_loses_to_perfect_play():
    """With uniform priors and value 0 the search learns only from finished games; its proofs make it play
    perfectly from both seats with 1,600 simulations per move (without them it loses some second-seat games)."""
    rng = np.random.default_rng(0)
    search = PUCTSearch(uniform_net, simulations=1600, rng=rng)
    scores = [_game_against_perfect(search, seat, rng) for seat in (0, 1) for _ in range(6)]
    assert min(scores) == 0.5


def test_leaf_values_mix_the_critic_with_random_playouts():
    """``rollout_mix=1``: a position whose every playout ends the same way gets that outcome exactly; ``0.5``:
    half the critic's value plus half the playout."""

    def net_of(value):
        return lambda game, nodes: (uniform_net(game, nodes)[0], np.full(len(nodes), value))

    # the mover holds 0, 1 and the last empty cell, 2, wins; in the other board the last cell, 6, draws
    won, drawn = Node(cells(0, 1, 3, 7), cells(4, 5, 6, 8)), Node(cells(0, 2, 5, 7), cells(1, 3, 4, 8))
    search = PUCTSearch(net_of(0.4), simulations=1, rollout_mix=1.0)
    assert search._expand(TICTACTOE, [won, drawn]) == [1.0, 0.0]
    mixed = PUCTSearch(net_of(0.4), simulations=1, rollout_mix=0.5)
    assert mixed._expand(TICTACTOE, [Node(won.mine, won.theirs)]) == [0.7]
    with pytest.raises(ValueError, match="rollout mix is a fraction"):
        PUCTSearch(uniform_net, simulations=1, rollout_mix=-0.1)


@pytest.mark.parametrize("module", [tictactoe_v3, connect_four_v3], ids=["tictactoe", "connect_four"])
def test_the_search_builds_the_observations_the_env_gives(module):
    """Along a random game, the model inputs of the mover's position equal the env adapter's: the mover's board,
    its legal moves and the joint observation (both seats' boards) of ``--critic_input=joint_obs``."""
    env = PettingZooAECEnv(module.env())
    game = TICTACTOE if module is tictactoe_v3 else CONNECT_FOUR
    net = PolicyValueNet(_FeedForward(), critic_input="joint_obs")
    obs, infos = env.reset(seed=3)
    rng = np.random.default_rng(3)
    for _ in range(7):
        mover = next(i for i, info in enumerate(infos) if info["is_active"])
        node = Node(*game.from_planes(obs[mover]["obs"]))
        node.actions = np.array([a for a, _ in game.moves(node.mine | node.theirs)])
        inputs = net.inputs(game, [node])
        np.testing.assert_array_equal(inputs["obs"][0].numpy(), obs[mover]["obs"])
        np.testing.assert_array_equal(inputs["action_mask"][0].numpy(), obs[mover]["action_mask"])
        joint = np.concatenate([obs[0]["obs"].ravel(), obs[1]["obs"].ravel()])
        np.testing.assert_array_equal(inputs["state"][0].numpy(), joint)
        action = int(rng.choice(np.flatnonzero(obs[mover]["action_mask"])))
        actions = [action, action]
        obs, _, terminated, _, infos = env.step(actions)
        if any(terminated):
            break


def test_priors_mix_the_policy_with_uniform_and_values_are_clipped_returns():
    node = Node(0, 0)
    node.actions = np.arange(9)
    norm = ValueNorm()
    norm.update(torch.tensor([-1.0, 0.0, 1.0]))  # returns of mean 0, variance 2/3
    priors, values = PolicyValueNet(_FeedForward(0.3), norm, "local", prior_mix=0.25)(TICTACTOE, [node])
    np.testing.assert_allclose(priors[0], [0.75 + 0.25 / 9] + [0.25 / 9] * 8, rtol=1e-6)
    np.testing.assert_allclose(values, [0.3 * np.sqrt(2 / 3)], rtol=1e-5)  # de-normalized to returns
    _, values = PolicyValueNet(_FeedForward(3.0), norm, "local")(TICTACTOE, [node])
    assert values.tolist() == [1.0]  # 2.45 in returns, clipped to a won game
    with pytest.raises(ValueError, match="prior mix is a fraction"):
        PolicyValueNet(_FeedForward(), None, "local", prior_mix=1.5)


def test_search_player_names_and_models_it_cannot_search_with():
    assert split_search_name("latest+puct:200") == ("latest", 200)
    assert split_search_name("alphabeta:4") == ("alphabeta:4", None)
    with pytest.raises(ValueError, match="<player>\\+puct:<simulations>"):
        split_search_name("latest+puct:0")
    with pytest.raises(ValueError, match="at least one simulation"):
        PUCTSearch(uniform_net, simulations=0)
    with pytest.raises(ValueError, match="needs the env's state"):
        PolicyValueNet(_FeedForward(), None, "state")
    net = PolicyValueNet(_FeedForward(), None, "local")
    board = gym.spaces.Box(0, 1, (3, 3, 2))
    with pytest.raises(ValueError, match="cannot make \\['agent_id'\\]"):
        net.check_spaces(gym.spaces.Dict({"obs": board, "agent_id": gym.spaces.Box(0, 1, (2,))}))
    with pytest.raises(ValueError, match="search players play connect_four"):
        net.check_spaces(gym.spaces.Dict({"obs": gym.spaces.Box(0, 1, (5,))}))
    with pytest.raises(ValueError, match="not a finished game"):
        PUCTSearch(uniform_net, 5).moves(TICTACTOE, [(cells(3, 4), cells(0, 1, 2))])  # the opponent has won
    with pytest.raises(ValueError, match="not a legal move"):
        CONNECT_FOUR.action_bit(3, sum(CONNECT_FOUR.bit(r, 3) for r in range(6)))


def test_a_checkpoint_with_search_plays_a_gauntlet(make_cfg, tmp_path):
    trainer = Trainer(make_cfg(*TICTACTOE_ARGS, "--experiment=searched", "--train_for_env_steps=300"))
    assert trainer.train() == 0
    argv = [f"--train_dir={tmp_path}", "--device=cpu", *TICTACTOE_ARGS, "--experiment=searched", "--games_per_pair=8"]
    players = ["latest+puct:60", "latest", "perfect"]
    results = tournament(parse_tournament_args([*argv, "--eval_deterministic=True", "--gauntlet=True", "--players",
                                                *players]))  # fmt: skip
    assert [(m.a, m.b) for m in results["matches"]] == [("latest+puct:60", "latest"), ("latest+puct:60", "perfect")]
    for match in results["matches"]:
        assert [r.games for r in match.seats.values()] == [4, 4]
        low, high = match.seats[0].score_ci()
        assert low <= match.seats[0].score <= high
    assert results["matches"][1].total().wins == 0  # nobody beats perfect play
    saved = json.loads((tmp_path / "searched" / "tournament" / "results.json").read_text())
    assert len(saved["matches"][0]["seats"]["0"]["score_ci95"]) == 2
    budget = saved["search"]["latest+puct:60"]
    assert budget["simulations"] == 60 and budget["moves"] >= 8 * 2 and budget["seconds_per_move"] > 0
    assert "60 simulations per move" in (tmp_path / "searched" / "tournament" / "report.md").read_text()
    with pytest.raises(ValueError, match="searches with a checkpoint"):
        tournament(parse_tournament_args([*argv, "--players", "random+puct:5", "latest"]))
    with pytest.raises(ValueError, match="--gauntlet plays one player"):
        tournament(parse_tournament_args([*argv, "--gauntlet=True", "--players", "pool", "random"]))


def test_a_pool_member_searches_with_the_learner_s_current_weights(make_cfg):
    argv = [*TICTACTOE_ARGS, "--experiment=live", "--policy_mapping=self_play", "--pool_scripted", "latest+puct:4"]
    trainer = Trainer(make_cfg(*argv, "--pool_snapshot_every=100000", "--train_for_env_steps=400"))
    member = trainer.league.pools[0].members["latest+puct:4"]
    assert member.search.net.model is trainer.models[0]  # the live model, not a copy
    assert member.search.net.value_norm is trainer.learners[0].value_norm
    assert trainer.train() == 0
    assert trainer.league.pools[0].games["latest+puct:4"] > 0 and member.moves_played > 0
    with pytest.raises(ValueError, match="write latest\\+puct:<simulations>"):
        Trainer(make_cfg(*TICTACTOE_ARGS, "--experiment=bad", "--pool_scripted", "best+puct:4"))
