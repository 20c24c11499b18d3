"""``python -m marl_sf.play``: a person plays a whole connect_four game against a trained policy through a terminal."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys

from marl_sf.train import Trainer

ENDINGS = ("you win", "the policy wins", "a draw")


class Terminal:
    """The parent's end of a pseudo-terminal: reads what the child writes, waits for patterns in order."""

    def __init__(self, fd: int):
        self.fd, self.text, self.pos = fd, "", 0  # pos: where the next wait starts looking

    def wait_for(self, *patterns: str, timeout: float = 60.0) -> str:
        """Read until one of ``patterns`` appears after ``pos``; returns it and moves ``pos`` past it."""
        while True:
            found = [(self.text.find(p, self.pos), p) for p in patterns if self.text.find(p, self.pos) >= 0]
            if found:
                at, pattern = min(found)
                self.pos = at + len(pattern)
                return pattern
            ready, _, _ = select.select([self.fd], [], [], timeout)
            assert ready, f"no output for {timeout} s; so far:\n{self.text[-2000:]}"
            chunk = os.read(self.fd, 4096).decode(errors="replace")
            assert chunk, f"the terminal closed; so far:\n{self.text[-2000:]}"
            self.text += chunk

    def write(self, line: str) -> None:
        os.write(self.fd, f"{line}\n".encode())


def test_a_person_plays_connect_four_through_a_terminal_and_an_illegal_move_is_refused(make_cfg):
    trainer = Trainer(make_cfg("--env=classic_connect_four", "--experiment=c4", "--num_envs=2",
                               "--train_for_env_steps=300"))  # fmt: skip
    assert trainer.train() == 0
    command = [sys.executable, "-m", "marl_sf.play", "--env=classic_connect_four", "--experiment=c4",
               f"--train_dir={trainer.cfg.train_dir}"]  # fmt: skip
    master, slave = pty.openpty()
    proc = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    terminal = Terminal(master)
    try:
        terminal.wait_for("your move")
        first_board = terminal.text[: terminal.pos].splitlines()[-3]  # the bottom row of the board, before the prompt
        assert "X" not in first_board and "O" not in first_board  # an empty board: the person moves first
        terminal.write("9")  # connect_four has columns 0-6
        terminal.wait_for("is not a legal move")
        moves = 0
        while terminal.wait_for("your move", *ENDINGS) == "your move":
            start = terminal.pos
            terminal.wait_for("]: ")  # the legal moves, then the prompt
            legal = re.findall(r"[0-9]+", terminal.text[start : terminal.pos])
            terminal.write(legal[0])
            moves += 1
        assert proc.wait(timeout=60) == 0 and moves >= 3
    finally:
        proc.kill()
        os.close(master)
