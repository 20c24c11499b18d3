"""The learning panel's side-by-side rows: peers (Sample Factory 2.1.1's APPO, BenchMARL 1.5.2's MAPPO) run here on
the panel's tasks they support, through the scripts in ``../shared/peers`` (each peer in its own venv under
``/tmp/peers``: ``bash ../shared/peers/setup_venvs.sh sf benchmarl``).

A peer trains with its own defaults (BenchMARL's YAML configs, Sample Factory's APPO with a 64x64 MLP): BenchMARL for
about the wall time of marl_sf's row, Sample Factory for marl_sf's agent-steps on simple_spread; then it evaluates
100 episodes greedy and sampled. The row puts beside it marl_sf's own evaluation during training
(``--eval_every_sec``, 10 sampled and 10 greedy episodes) at the same agent-steps: per seed, the latest evaluation
at or before the peer's agent-steps (so marl_sf never had more experience than the peer), and the minutes marl_sf
took to first reach the peer's return in the peer's default evaluation mode (BenchMARL: greedy, Sample Factory:
sampled).
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

PEERS_DIR = Path(__file__).resolve().parents[2] / "shared" / "peers"
VENVS = Path("/tmp/peers")


@dataclass(frozen=True)
class Peer:
    """A peer's run of one panel task: the command (run from ``../shared/peers``) and its default action mode."""

    task: str  # the panel task it sits beside
    system: str
    command: tuple[str, ...]
    default_mode: str  # "greedy" or "sampled": what the peer reports by default


def _benchmarl(script: str, *args: str) -> tuple[str, ...]:
    return (str(VENVS / "venv_benchmarl" / "bin" / "python"), script, "--algo", "mappo", *args)


PEERS = {
    "simple_spread/sample_factory_appo": Peer(
        "simple_spread", "Sample Factory 2.1.1 APPO (64x64 MLP, 2 workers x 8 envs)",
        ("bash", "run_sf.sh", "9000000"), "sampled",
    ),
    "simple_spread/benchmarl_mappo": Peer(
        "simple_spread", "BenchMARL 1.5.2 MAPPO (its defaults)",
        _benchmarl("run_benchmarl.py", "--time-limit", "585", "--agent-steps", "100000000"), "greedy",
    ),
    "vmas_navigation/benchmarl_mappo": Peer(
        "vmas_navigation", "BenchMARL 1.5.2 MAPPO (its defaults)",
        _benchmarl("run_benchmarl_vmas.py", "--task", "navigation", "--time-limit", "600", "--agent-steps", "5000000"),
        "greedy",
    ),
    "vmas_balance/benchmarl_mappo": Peer(
        "vmas_balance", "BenchMARL 1.5.2 MAPPO (its defaults)",
        _benchmarl("run_benchmarl_vmas.py", "--task", "balance", "--time-limit", "600", "--agent-steps", "5000000"),
        "greedy",
    ),
}  # fmt: skip


def parse_summary(output: str) -> dict:
    """The peer script's ``SUMMARY`` line as ``{"agent_steps", "minutes", "sampled", "greedy"}``.

    Raises:
        ValueError: no SUMMARY line, or one without the agent-steps and both evaluation returns.
    """
    lines = [line for line in output.splitlines() if line.startswith("SUMMARY ")]
    if not lines:
        raise ValueError("the peer printed no SUMMARY line")
    fields = dict(re.findall(r"(\w+)=([^\s(]+)", lines[-1]))
    steps = fields.get("agent_steps") or fields.get("frames")  # Sample Factory's frames are agent-steps
    seconds = fields.get("train_s") or fields.get("train_wall_s")
    try:
        return {
            "agent_steps": int(steps),
            "minutes": round(float(seconds) / 60, 1),
            "sampled": float(fields["eval_per_agent_return_stoch"].split("+-")[0]),
            "greedy": float(fields["eval_per_agent_return_det"].split("+-")[0]),
        }
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"the peer's SUMMARY line lacks a field ({e}): {lines[-1]}") from e


def run_peer(name: str, peer: Peer, log_dir: Path) -> dict:
    """Run one peer to the end; returns its parsed SUMMARY with the command and the date.

    Raises:
        SystemExit: ``../shared/peers`` or the peer's venv is missing, or its script failed (the log names why).
    """
    if not PEERS_DIR.is_dir():
        raise SystemExit(f"{name}: the peers' scripts are not at {PEERS_DIR} (this checkout beside ../shared)")
    if peer.command[0] != "bash" and not Path(peer.command[0]).exists():
        raise SystemExit(f"{name}: {peer.command[0]} is missing: bash ../shared/peers/setup_venvs.sh sf benchmarl")
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name.replace('/', '__')}.log"
    result = subprocess.run(peer.command, cwd=PEERS_DIR, capture_output=True, text=True)
    log.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise SystemExit(f"{name} failed (exit {result.returncode}): see {log}")
    try:
        row = parse_summary(result.stdout)
    except ValueError as e:
        raise SystemExit(f"{name}: {e}; see {log}") from e
    command = "../shared/peers: " + " ".join(peer.command)
    return {"peer": name, "task": peer.task, "system": peer.system, "default_mode": peer.default_mode,
            "command": command, "date": time.strftime("%Y-%m-%d"), **row}  # fmt: skip


def at_agent_steps(curves: list[list[list[float]]], agent_steps: int) -> list[tuple[float, float] | None]:
    """Per seed, (sampled, greedy) of the latest evaluation at or before ``agent_steps`` (None: no evaluation yet).

    ``curves``: per seed, the training's evaluations ``[seconds since launch, agent_steps, sampled, greedy]`` in time
    order.
    """
    out = []
    for curve in curves:
        before = [point for point in curve if point[1] <= agent_steps]
        out.append((before[-1][2], before[-1][3]) if before else None)
    return out


def minutes_to(curves: list[list[list[float]]], value: float, mode: str) -> list[float | None]:
    """Per seed, the minutes from launch to the first evaluation at or above ``value`` in ``mode`` (None: never)."""
    column = 2 if mode == "sampled" else 3
    return [next((round(p[0] / 60, 1) for p in curve if p[column] >= value), None) for curve in curves]
