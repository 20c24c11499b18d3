"""Round-robin tournaments: ``python -m marl_sf.tournament --env=<name> --experiment=<name> --players ...``.

Players are named on the command line:

* ``latest`` / ``best``: the experiment's latest or best checkpoint of ``--tournament_policy_id``;
* ``pool``: every snapshot in the experiment's opponent pool of that policy (``<experiment>/pool/p<id>``);
* a path to a ``.pth`` file (a checkpoint or a pool snapshot of the same env and model options);
* a scripted policy registered with ``marl_sf.register_scripted_policy`` (``random``,
  ``connect_four_lookahead``, yours);
* a search player for connect_four and tictactoe (``marl_sf.selfplay.search_players``): ``alphabeta:<depth>``,
  ``perfect`` (tictactoe), ``openspiel_mcts:<simulations>`` (the ``openspiel`` extra);
* a checkpoint player with decision-time search on connect_four and tictactoe: ``<player>+puct:<simulations>``
  (``latest+puct:200``: MCTS guided by the checkpoint's policy and value, ``marl_sf.selfplay.puct``).

Every pair plays ``--games_per_pair`` games, half with each player on each seat; learned players sample their
actions (``--eval_deterministic=False`` by default here, else two checkpoints replay one game). Written to
``<experiment>/<--tournament_name>/`` (default ``tournament``): ``results.json``, ``report.md`` (ratings,
win/draw/loss matrix, results per seat) and ``scores.png`` (a heatmap of the row player's score).
"""

from __future__ import annotations

import argparse
import itertools
import logging
import sys
from pathlib import Path

import numpy as np
import torch

from marl_sf.algo.runners import make_envs
from marl_sf.cfg.arguments import check_folder_name, experiment_dir, parse_full_cfg, parse_sf_args
from marl_sf.checkpoint import find_checkpoint
from marl_sf.experiment import build_run
from marl_sf.models.actor_critic import create_actor_critic
from marl_sf.selfplay.elo import bradley_terry_covariance, bradley_terry_elo
from marl_sf.selfplay.match import MatchResult, play_match
from marl_sf.selfplay.players import ScriptedPlayer, SnapshotPlayer
from marl_sf.selfplay.pool import load_snapshot_model
from marl_sf.selfplay.puct import checkpoint_value_norm, puct_player, split_search_name
from marl_sf.utils.io import check_writable, write_json, write_text
from marl_sf.utils.types import str2bool

log = logging.getLogger("marl_sf")


def add_tournament_args(parser: argparse.ArgumentParser) -> None:
    """The tournament's own options."""
    g = parser.add_argument_group("tournament")
    g.add_argument("--players", nargs="+", default=["latest", "random"], help="latest, best, pool, .pth paths "
                   "or registered scripted policies")  # fmt: skip
    g.add_argument("--games_per_pair", type=int, default=100, help="games per pair of players (split over seats)")
    g.add_argument("--tournament_policy_id", type=int, default=0, help="the policy whose checkpoints play")
    g.add_argument("--tournament_name", default="tournament", help="output folder inside the experiment")
    g.add_argument("--gauntlet", type=str2bool, default=False, help="play only the first player against each of "
                   "the others (an evaluation against fixed opponents) instead of every pair")  # fmt: skip
    # learned players sample their actions: two deterministic checkpoints would replay one game over and over
    parser.set_defaults(eval_deterministic=False)


def _checkpoint_paths(name: str, exp_dir: Path, pid: int) -> list[tuple[str, Path]] | None:
    """``[(player name, path)]`` for a checkpoint-like player name of policy ``pid``; None for a scripted name.

    Raises:
        ValueError: no checkpoint of that kind, an empty pool, a missing file.
    """
    if name in ("latest", "best"):
        path = find_checkpoint(exp_dir, pid, name)
        if path is None:
            raise ValueError(f"no {name} checkpoint of policy {pid} in {exp_dir}: train it first")
        return [(name, path)]
    if name == "pool":
        paths = [(p.stem, p) for p in sorted((exp_dir / "pool" / f"p{pid}").glob("*.pth"))]
        if not paths:
            raise ValueError(f"no snapshots in {exp_dir / 'pool' / f'p{pid}'}: train with --self_play=True first")
        return paths
    if Path(name).suffix == ".pth" or Path(name).exists():
        if not Path(name).is_file():
            raise ValueError(f"player {name!r}: no such checkpoint file")
        return [(Path(name).stem, Path(name))]
    return None


def resolve_players(cfg, specs, make_model, device: torch.device | None = None) -> list[tuple[object, int]]:
    """``[(player, policy_id)]`` for the names in ``cfg.players`` (see the module docstring).

    With one policy (seat games) every name is a player of ``--tournament_policy_id``. With several (team
    games) every name is resolved for each policy, as ``p<id>:<name>`` (pool snapshots keep their names), and
    a ``.pth`` path belongs to the policy of its folder (``checkpoint_p<id>`` or ``pool/p<id>``).

    Raises:
        ValueError: see ``_checkpoint_paths``; an unknown scripted policy; an incompatible checkpoint.
    """
    exp_dir = experiment_dir(cfg)
    teams = len(specs) > 1
    chosen = specs if teams else [s for s in specs if s.policy_id == cfg.tournament_policy_id]
    players = []
    for full_name in cfg.players:
        name, simulations = split_search_name(full_name)
        for spec in chosen:
            pid = spec.policy_id
            folder = Path(name).parent.name
            if teams and Path(name).suffix == ".pth" and folder not in (f"p{pid}", f"checkpoint_p{pid}"):
                continue
            paths = _checkpoint_paths(name, exp_dir, pid)
            if paths is None:
                if simulations is not None:
                    raise ValueError(f"player {full_name!r}: +puct searches with a checkpoint's policy and value")
                players.append((ScriptedPlayer(name, spec.action_space, f"p{pid}:{name}" if teams else None), pid))
                continue
            for player_name, path in paths:
                model = load_snapshot_model(path, lambda s=spec: make_model(s)).to(device or torch.device("cpu"))
                label = f"p{pid}:{player_name}" if teams and not player_name.startswith(f"p{pid}_") else player_name
                if simulations is None:
                    players.append((SnapshotPlayer(label, model, spec.action_space), pid))
                    continue
                norm = checkpoint_value_norm(path, model, cfg)
                label = f"{label}+puct:{simulations}"
                player = puct_player(label, model.eval(), norm, cfg, simulations, spec.obs_space, seed=cfg.eval_seed)
                players.append((player, pid))
    return players


def run_tournament(cfg, players: list[tuple[object, int]], specs, models) -> dict:
    """Play every pair (in team games only players of different policies meet); returns the results
    (ratings, per-pair records per seat)."""
    names = [p.name for p, _ in players]
    count = len(players)
    scores, games = np.zeros((count, count)), np.zeros((count, count))
    policy_ids = sorted(s.policy_id for s in specs)
    matches = []
    pairs = [(0, j) for j in range(1, count)] if cfg.gauntlet else itertools.combinations(range(count), 2)
    for i, j in pairs:
        (a, pid_a), (b, pid_b) = players[i], players[j]
        teams = None if len(specs) == 1 else (policy_ids.index(pid_a), policy_ids.index(pid_b))
        if teams is not None and pid_a == pid_b:
            continue  # team-mates do not play each other
        per_seat = max(1, cfg.games_per_pair // (2 if teams is None else 1))
        result = play_match(cfg, specs, models, lambda n: make_envs(cfg, n), a, b, per_seat, cfg.eval_seed, teams)
        total = result.total()
        scores[i, j], scores[j, i] = total.wins + 0.5 * total.draws, total.losses + 0.5 * total.draws
        games[i, j] = games[j, i] = total.games
        matches.append(result)
        log.info("%s vs %s: %d-%d-%d (W-D-L)", names[i], names[j], total.wins, total.draws, total.losses)
    search = {p.name: p.search_budget() for p, _ in players if hasattr(p, "search_budget")}
    ratings = bradley_terry_elo(scores, games)
    covariance = bradley_terry_covariance(ratings, games)  # [P, P] Elo points^2
    return {"players": names, "ratings": dict(zip(names, ratings.tolist(), strict=True)), "matches": matches,
            "scores": scores, "games": games, "covariance": covariance, "search": search,
            "rating_se": dict(zip(names, np.sqrt(np.diag(covariance)).tolist(), strict=True))}  # fmt: skip


def _match_json(m: MatchResult) -> dict:
    return {
        "a": m.a,
        "b": m.b,
        "seats": {s: {**vars(r), "score": r.score, "score_ci95": list(r.score_ci())} for s, r in m.seats.items()},
    }


def report_markdown(results: dict, env: str) -> str:
    """The tournament report: ratings, the row player's W/D/L against each column, results per seat."""
    names, ratings, se = results["players"], results["ratings"], results["rating_se"]
    lines = [f"# Tournament on {env}", "", "| player | Elo | 95% CI |", "|---|---|---|"]
    lines += [f"| {n} | {ratings[n]:.0f} | [{ratings[n] - 1.96 * se[n]:.0f}, {ratings[n] + 1.96 * se[n]:.0f}] |"
              for n in sorted(names, key=lambda n: -ratings[n])]  # fmt: skip
    lines += [
        "",
        "Bradley-Terry maximum-likelihood Elo (mean 1200); the interval is +-1.96 standard errors from "
        "the inverse Fisher information, relative to that mean (for a difference between two players: "
        "`marl_sf.selfplay.elo.rating_difference_ci`).",
    ]
    cells = {(m.a, m.b): m.total() for m in results["matches"]}
    lines += ["", "W/D/L of the row player against the column player (all seats):", ""]
    lines += ["| | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for a in names:
        row = []
        for b in names:
            rec, flip = cells.get((a, b)), cells.get((b, a))
            if rec is not None:
                row.append(f"{rec.wins}/{rec.draws}/{rec.losses}")
            elif flip is not None:
                row.append(f"{flip.losses}/{flip.draws}/{flip.wins}")
            else:
                row.append("-")  # itself, or a team-mate
        lines.append(f"| {a} | " + " | ".join(row) + " |")
    lines += [
        "",
        "Per seat (A's W/D/L with A on the seat):",
        "",
        "| A | B | seat | W/D/L | A's score | 95% CI |",
        "|---|---|---|---|---|---|",
    ]
    for m in results["matches"]:
        for seat, r in m.seats.items():
            low, high = r.score_ci()
            lines.append(f"| {m.a} | {m.b} | {seat} | {r.wins}/{r.draws}/{r.losses} | {r.score:.2f} | "
                         f"[{low:.2f}, {high:.2f}] |")  # fmt: skip
    lines += [
        "",
        "A's score: win 1, draw 0.5, loss 0; the interval is a percentile bootstrap over the seat's games, "
        "which assumes independent games (two deterministic players replay one game).",
    ]
    for name, budget in results.get("search", {}).items():
        mix = budget.get("rollout_mix", 0.0)
        playouts = f" (leaf values {mix:g} random playout, {1 - mix:g} critic)" if mix else ""
        empties = budget.get("solve_empties", 0)
        solver = (f", endgame solver from {empties} empty cells ({budget['solve_nodes']} positions per move at most)"
                  if empties else "")  # fmt: skip
        lines += ["", f"{name}: {budget['simulations']} simulations per move{playouts}{solver}, "
                  f"{budget['seconds_per_move']:.3f} s per "
                  f"move ({budget['moves']} moves, searched in batches of parallel games: "
                  f"{budget['seconds_per_search']:.3f} s per batch)"]  # fmt: skip
    return "\n".join(lines) + "\n"


def plot_scores(results: dict, path: Path) -> None:
    """A heatmap of the row player's mean score against each column player."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, scores, games = results["players"], results["scores"], results["games"]
    with np.errstate(invalid="ignore"):
        frac = np.where(games > 0, scores / np.maximum(games, 1), np.nan)
    fig, ax = plt.subplots(figsize=(1.2 * len(names) + 2, 1.0 * len(names) + 1.5))
    im = ax.imshow(frac, vmin=0, vmax=1, cmap="RdYlGn")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    for i, j in itertools.product(range(len(names)), repeat=2):
        if games[i, j]:
            ax.text(j, i, f"{frac[i, j]:.2f}", ha="center", va="center", fontsize=8)
    fig.colorbar(im, ax=ax, label="row player's score")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def tournament(cfg) -> dict:
    """Run the tournament of ``cfg.players`` and write the report; returns the results.

    Checkpoints and pool snapshots are read as weights only (``marl_sf.checkpoint.load_weights_file``).

    Raises:
        UnsafeCheckpointError: a player's file would run code when unpickled (nothing in it has run).
        OSError: the output folder cannot be written (checked before any game is played).
        ValueError: a bad ``--experiment`` or ``--tournament_name`` (checked before any game), unknown players
            (see ``resolve_players``), ``--gauntlet`` with ``pool`` first or in team games, a ``+puct`` player
            whose model the search cannot feed (``PolicyValueNet``).
    """
    out = experiment_dir(cfg) / check_folder_name(cfg.tournament_name, "--tournament_name")
    run = build_run(cfg, cfg.eval_seed)
    specs, models, device = run.specs, run.models, run.device
    if cfg.tournament_policy_id not in [s.policy_id for s in specs]:
        raise ValueError(f"--tournament_policy_id={cfg.tournament_policy_id}: the experiment has policies "
                         f"{[s.policy_id for s in specs]}")  # fmt: skip
    if cfg.gauntlet and (len(specs) > 1 or split_search_name(cfg.players[0])[0] == "pool"):
        raise ValueError("--gauntlet plays one player (the first name, not 'pool') against the others in seat games "
                         "of one learning policy")  # fmt: skip
    players = resolve_players(cfg, specs, lambda s: create_actor_critic(cfg, s.obs_space, s.action_space), device)
    check_writable(out, "the tournament report")
    results = run_tournament(cfg, players, specs, models)
    write_json(out / "results.json", {**{k: results[k] for k in ("players", "ratings", "rating_se", "search")},
                                      "covariance": results["covariance"].tolist(),
                                      "matches": [_match_json(m) for m in results["matches"]]})  # fmt: skip
    report = report_markdown(results, cfg.env)
    write_text(out / "report.md", report)
    plot_scores(results, out / "scores.png")
    print(report)
    return results


def parse_tournament_args(argv: list[str] | None = None):
    """The experiment's config plus the tournament options."""
    parser, _ = parse_sf_args(argv, evaluation=True)
    add_tournament_args(parser)
    return parse_full_cfg(parser, argv)


def main() -> int:
    """``python -m marl_sf.tournament``."""
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(message)s", datefmt="%H:%M:%S")
    tournament(parse_tournament_args())
    return 0


if __name__ == "__main__":
    sys.exit(main())
