"""Learning curves from an experiment's own summaries, as PNGs in ``<experiment>/plots/``.

    python -m marl_sf.plot --experiment=spread                                 # train_dir/spread/plots/*.png
    python -m marl_sf.plot --experiment=spread --compare_experiments=spread_b  # + plots/compare_*.png
    python -m marl_sf.plot --sweep=train_dir/spread_grid     # seeds aggregated: IQM, intervals, profiles

Figures (each written when its summaries exist): ``episode_return.png`` (per agent and per policy, with the
random-play line of ``marl_sf.reference_returns`` where known; the evaluations during training beside the
training return), ``episode_length.png``, ``entropy.png``, ``value_loss.png``,
``agent_steps_per_sec.png`` and, for self-play runs, ``elo.png``. The x axis is agent-steps. Training writes
them when it ends (``--save_plots``).
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from marl_sf.aggregate import aggregate_plots, find_experiments
from marl_sf.cfg.arguments import check_folder_name, experiment_dir
from marl_sf.cfg.options import add_basic_args, add_plot_args
from marl_sf.reference_returns import random_play_returns
from marl_sf.utils.attr_dict import AttrDict
from marl_sf.utils.summary_reader import Series, read_all_scalars

log = logging.getLogger("marl_sf")

MAX_LEGEND_LINES = 12  # more lines than this: no legend, the count goes into the title


@dataclass(frozen=True)
class Panel:
    """One axis of a figure: the tags matching ``pattern`` (its first group labels the line)."""

    title: str
    ylabel: str
    pattern: str
    random_line: bool = False  # draw the random-play returns of the env
    in_comparisons: bool = True  # drawn when several experiments share the axis


FIGURES: dict[str, tuple[Panel, ...]] = {
    "episode_return": (
        Panel("episode return per agent", "episode return", r"agents/(.+)/episode_return", True, False),
        Panel(
            "episode return per policy: training and evaluation (eval/sampled, eval/greedy)",
            "episode return (mean over its agents)",
            r"(policy_\d+(?:/eval/\w+)?)/episode_return",
            True,
        ),
    ),
    "episode_length": (
        Panel("episode length: training and evaluation", "steps", r"team/((?:eval/\w+/)?episode_length)"),
    ),
    "entropy": (Panel("policy entropy", "entropy (nats)", r"(policy_\d+)/train/entropy"),),
    "value_loss": (Panel("value loss", "value loss", r"(policy_\d+)/train/value_loss"),),
    "agent_steps_per_sec": (Panel("throughput", "agent-steps/s", r"perf/(agent_steps_per_sec)"),),
    "elo": (Panel("Elo ratings (self-play)", "Elo", r"elo/(.+)"),),
}


def _lines(scalars: dict[str, Series], pattern: str) -> dict[str, Series]:
    """``{label: series}`` of the tags that match ``pattern`` exactly, in tag order."""
    found = {}
    for tag in sorted(scalars):
        match = re.fullmatch(pattern, tag)
        if match and scalars[tag]:
            found[match.group(1)] = scalars[tag]
    return found


def _draw(ax, panel: Panel, lines: dict[str, Series], random_play: dict[str, float]) -> None:
    """Draw ``lines`` (and the random-play lines) on ``ax``."""
    for label, series in lines.items():
        steps, values = zip(*series, strict=True)
        ax.plot(steps, values, label=label, linewidth=1.2)
    if panel.random_line:
        for group, value in random_play.items():
            who = "" if group == "*" else f" ({group})"
            ax.axhline(value, color="gray", linestyle="--", linewidth=1, label=f"random play{who}: {value:g}")
    count = len(lines)
    ax.set_title(panel.title if count <= MAX_LEGEND_LINES else f"{panel.title} ({count} lines)")
    ax.set_xlabel("agent-steps")
    ax.set_ylabel(panel.ylabel)
    from matplotlib.ticker import EngFormatter

    ax.xaxis.set_major_formatter(EngFormatter())
    ax.grid(alpha=0.3)
    if count <= MAX_LEGEND_LINES:
        ax.legend(fontsize=8)


def _save(path: Path, panels: list[tuple[Panel, dict[str, Series]]], random_play: dict[str, float]) -> Path:
    """One PNG with the panels side by side."""
    from matplotlib.figure import Figure  # here: every training run imports this module, few draw

    fig = Figure(figsize=(6.4 * len(panels), 4.2), dpi=90, layout="constrained")
    for ax, (panel, lines) in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels, strict=True):
        _draw(ax, panel, lines, random_play)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def experiment_env(exp_dir: Path) -> str | None:
    """The env named in the experiment's ``config.json`` (None when there is none)."""
    try:
        return json.loads((Path(exp_dir) / "config.json").read_text()).get("env")
    except (OSError, ValueError, AttributeError):
        return None


def write_plots(exp_dir: str | Path) -> list[Path]:
    """Write the figures of ``FIGURES`` that have data into ``<exp_dir>/plots/``; returns their paths.

    Raises:
        FileNotFoundError: the experiment has no summaries (``<exp_dir>/.summary`` holds no event file).
        ImportError: tensorboard, the summaries' reader, is not installed.
    """
    exp_dir = Path(exp_dir)
    scalars = read_all_scalars(exp_dir / ".summary")
    random_play = random_play_returns(experiment_env(exp_dir))
    written = []
    for name, panels in FIGURES.items():
        drawn = [(p, _lines(scalars, p.pattern)) for p in panels]
        drawn = [(p, lines) for p, lines in drawn if lines]
        if drawn:
            written.append(_save(exp_dir / "plots" / f"{name}.png", drawn, random_play))
    return written


def compare_plots(exp_dirs: list[Path], out_dir: Path) -> list[Path]:
    """One ``compare_<figure>.png`` per figure in ``out_dir``, every experiment's lines on the same axis
    (labelled ``<experiment>: <line>``); the random-play line when the experiments share an env.

    Raises:
        FileNotFoundError: an experiment has no summaries.
        ImportError: tensorboard is not installed.
    """
    runs = {Path(d).name: read_all_scalars(Path(d) / ".summary") for d in exp_dirs}
    envs = {experiment_env(Path(d)) for d in exp_dirs}
    random_play = random_play_returns(envs.pop()) if len(envs) == 1 else {}
    written = []
    for name, panels in FIGURES.items():
        drawn = []
        for panel in (p for p in panels if p.in_comparisons):
            lines = {f"{run}: {label}": s for run, scalars in runs.items() for label, s in
                     _lines(scalars, panel.pattern).items()}  # fmt: skip
            if lines:
                drawn.append((panel, lines))
        if drawn:
            written.append(_save(Path(out_dir) / f"compare_{name}.png", drawn, random_play))
    return written


def save_training_plots(exp_dir: Path) -> list[Path]:
    """``write_plots`` at the end of training: a failure is logged, never raised (the run has succeeded)."""
    try:
        paths = write_plots(exp_dir)
    except Exception as exc:  # noqa: BLE001 - plots must not fail a finished run
        log.warning("learning curves not written: %s (python -m marl_sf.plot writes them later)", exc)
        return []
    log.info("learning curves: %s", Path(exp_dir) / "plots")
    return paths


def parse_plot_args(argv: list[str] | None = None) -> AttrDict:
    """``--experiment``, ``--train_dir`` and the plot options (``marl_sf.cfg.options``)."""
    parser = argparse.ArgumentParser(prog="python -m marl_sf.plot", description=__doc__.split("\n")[0])
    add_basic_args(parser)
    add_plot_args(parser)
    return AttrDict(vars(parser.parse_args(argv)))


def main(argv: list[str] | None = None) -> int:
    """``python -m marl_sf.plot``: write the experiment's figures (and comparisons); print their paths.

    Returns 1 with one error line when an experiment has no summaries.
    """
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(message)s", datefmt="%H:%M:%S")
    cfg = parse_plot_args(argv)
    exp_dir = experiment_dir(cfg)
    try:
        if cfg.sweep:
            paths = aggregate_plots(find_experiments(cfg.sweep), Path(cfg.sweep) / "plots")
        else:
            paths = write_plots(exp_dir)
        if cfg.compare_experiments and not cfg.sweep:
            others = [Path(cfg.train_dir) / check_folder_name(n, "--compare_experiments") for n in
                      cfg.compare_experiments]  # fmt: skip
            paths += compare_plots([exp_dir, *others], exp_dir / "plots")
            if cfg.aggregate_seeds:
                paths += aggregate_plots([exp_dir, *others], exp_dir / "plots")
    except (FileNotFoundError, ValueError) as exc:
        log.error("error: %s (check --train_dir and the experiment names)", exc)
        return 1
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
