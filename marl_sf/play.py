"""Take a seat against a trained policy in a turn-based board game, in the terminal:
``python -m marl_sf.play --env=classic_connect_four --experiment=<name> [--seat=0|1]``.

The board is drawn from the observation's two planes (``X``: your pieces, ``O``: the policy's; rows top to
bottom), the legal moves are listed, and a move that is not a legal one is refused with a message and asked again.
The policy plays greedily (``marl_sf.load_policy``). Works for PettingZoo AEC games whose observation is a
``[rows, columns, 2]`` board with an action mask (connect_four, tictactoe).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from marl_sf.policy import load_policy


def draw_board(board: np.ndarray) -> str:
    """``[rows, columns, 2]`` planes (the viewer's pieces, the other side's) as text, with column numbers."""
    rows = [" ".join("X" if cell[0] else "O" if cell[1] else "." for cell in row) for row in board]
    return "\n".join([*rows, " ".join(str(c) for c in range(board.shape[1]))])


def read_move(legal: list[int], read=input, write=print) -> int:
    """Ask until the answer is one of ``legal``."""
    while True:
        answer = read(f"your move {legal}: ").strip()
        if answer.isdigit() and int(answer) in legal:
            return int(answer)
        write(f"{answer!r} is not a legal move; choose one of {legal}")


def play(experiment: Path, env_name: str, seat: int, seed: int = 0, read=input, write=print) -> float:
    """One game against the experiment's policy, the person on seat ``seat``; returns the person's reward.

    Raises:
        FileNotFoundError: no experiment or checkpoint there (``load_policy``).
        ValueError: the experiment trained on another env than ``env_name``.
    """
    policy = load_policy(experiment)
    if policy.cfg.env != env_name:
        raise ValueError(f"{experiment} trained on {policy.cfg.env!r}, not {env_name!r}: give --env={policy.cfg.env}")
    env = policy.make_env()
    env.reset(seed=seed)
    human = env.possible_agents[seat]
    result = 0.0
    for agent in env.agent_iter():
        obs, reward, terminated, truncated, _ = env.last()
        if agent == human:
            result += reward
        if terminated or truncated:
            env.step(None)
            continue
        if agent != human:
            move = policy.act({agent: obs})[agent]
            write(f"the policy plays {move}")
            env.step(move)
            continue
        write(draw_board(np.asarray(obs["observation"])))
        env.step(read_move([int(a) for a in np.flatnonzero(obs["action_mask"])], read, write))
    env.close()
    write({1: "you win", -1: "the policy wins"}.get(int(np.sign(result)), "a draw"))
    return result


def main(argv: list[str] | None = None) -> int:
    """``python -m marl_sf.play``; a missing experiment or another env ends it with one line and exit code 1."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", required=True, help="the game the experiment trained on")
    p.add_argument("--experiment", required=True)
    p.add_argument("--train_dir", default="train_dir")
    p.add_argument("--seat", type=int, default=0, choices=[0, 1], help="0: you move first")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        play(Path(args.train_dir) / args.experiment, args.env, args.seat, args.seed)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
