"""Results across seeds: experiments grouped into configurations, each summarized by the interquartile mean (IQM)
of its runs with a stratified-bootstrap 95% interval, and performance profiles (``marl_sf.stats``; Agarwal et al.
2021).

    python -m marl_sf.plot --sweep=train_dir/spread_grid               # every experiment of a launcher run
    python -m marl_sf.plot --experiment=a --compare_experiments b c --aggregate_seeds

A configuration is the experiments whose ``config.json`` agree on every option but ``RUN_KEYS`` (the seed, the names
and folders, the command line, and the env: the env is the task, a configuration run on several envs is scored on
each). A run's
score is its training ``episode_return`` (the mean over its policies) averaged over the last 10% of the logged
points. With several envs, each env's scores are min-max normalized over the whole sweep before aggregation.

Writes ``aggregate_curves.png`` (IQM over seeds along agent-steps, with its band), ``aggregate_scores.png`` (IQM
and mean of the final scores with their intervals), ``performance_profile.png`` (fraction of runs above each
score) and ``aggregate.json`` (every number drawn) into the output folder.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from marl_sf.stats import iqm, mean, performance_profile, stratified_bootstrap_ci
from marl_sf.utils.io import atomic_write
from marl_sf.utils.summary_reader import read_all_scalars

# what may differ between the runs of one configuration: the seed, names and folders, how the run was started
RUN_KEYS = ("seed", "experiment", "train_dir", "env", "command_line", "pool_dir", "restart_behavior", "device",
            "progress_bar", "save_plots", "save_every_sec", "keep_checkpoints", "load_checkpoint_kind")  # fmt: skip
log = logging.getLogger(__name__)
_OLD_FOLDER = re.compile(r".+_old_\d{8}_\d{6}$")  # what --restart_behavior=restart leaves
_RETURN_TAG = re.compile(r"policy_\d+/episode_return")
_CURVE_POINTS = 50


@dataclass
class RunCurve:
    """One experiment's training curve: ``steps [n]`` agent-steps and ``returns [n]`` (mean over policies)."""

    name: str
    env: str
    config: dict
    steps: np.ndarray
    returns: np.ndarray

    @property
    def score(self) -> float:
        """The mean of the last 10% of the curve's points (at least the last one)."""
        tail = max(1, len(self.returns) // 10)
        return float(self.returns[-tail:].mean())


def find_experiments(folder: str | Path) -> list[Path]:
    """Every experiment folder below ``folder`` (any depth) with a ``config.json`` and summaries, sorted; the
    ``<name>_old_<time>`` folders that ``--restart_behavior=restart`` leaves are not experiments of the sweep."""
    found = (p.parent for p in Path(folder).rglob("config.json") if (p.parent / ".summary").is_dir())
    return sorted(p for p in found if not any(_OLD_FOLDER.fullmatch(part) for part in p.parts))


def read_run(exp_dir: Path) -> RunCurve:
    """The experiment's curve: its policies' ``episode_return`` points, averaged over policies per step.

    Raises:
        FileNotFoundError: no summaries, or no episode return logged yet.
    """
    scalars = read_all_scalars(exp_dir / ".summary")
    per_step: dict[int, list[float]] = {}
    for tag, series in scalars.items():
        if _RETURN_TAG.fullmatch(tag):
            for step, value in series:
                per_step.setdefault(step, []).append(value)
    if not per_step:
        raise FileNotFoundError(f"{exp_dir} has logged no episode return yet")
    steps = np.array(sorted(per_step))
    config = json.loads((exp_dir / "config.json").read_text())
    returns = np.array([np.mean(per_step[s]) for s in steps])
    return RunCurve(exp_dir.name, str(config.get("env")), config, steps, returns)


def configurations(runs: list[RunCurve]) -> dict[str, list[RunCurve]]:
    """Runs grouped by the options that differ between the runs of the same env (``RUN_KEYS`` aside: an env's own
    options and defaults do not split a configuration run on several envs), labelled ``k=v, ...`` ("all runs" when
    nothing differs)."""
    groups: dict[str, list[RunCurve]] = {}
    for env in sorted({r.env for r in runs}):
        same_env = [r for r in runs if r.env == env]
        keys = sorted({k for r in same_env for k in r.config} - set(RUN_KEYS))
        varying = [k for k in keys if len({json.dumps(r.config.get(k), sort_keys=True) for r in same_env}) > 1]
        for run in same_env:
            label = ", ".join(f"{k}={run.config.get(k)}" for k in varying) or "all runs"
            groups.setdefault(label, []).append(run)
    return groups


def task_scores(runs: list[RunCurve], normalize: dict[str, tuple[float, float]] | None) -> list[np.ndarray]:
    """Per env (sorted), the runs' final scores ``[runs_env]``, min-max normalized with ``normalize``
    ``{env: (low, high)}``."""
    out = []
    for env in sorted({r.env for r in runs}):
        low, high = normalize.get(env, (0.0, 1.0)) if normalize else (0.0, 1.0)
        out.append(np.array([(r.score - low) / ((high - low) or 1.0) for r in runs if r.env == env]))
    return out


def aggregate(exp_dirs: list[Path], reps: int = 2000) -> dict:
    """The numbers of every figure (see the module docstring) for the experiments ``exp_dirs``.

    Raises:
        FileNotFoundError: an experiment without summaries or without an episode return.
        ValueError: no experiment given.
    """
    if not exp_dirs:
        raise ValueError("no experiment to aggregate (a sweep folder holds experiments with config.json)")
    runs = []
    for d in exp_dirs:
        try:
            runs.append(read_run(Path(d)))
        except FileNotFoundError as e:  # a run that crashed before its first episode: left out, said so
            log.warning("left out of the aggregate: %s", e)
    if not runs:
        raise ValueError(f"none of the {len(exp_dirs)} experiments has logged an episode return")
    envs = sorted({r.env for r in runs})
    normalize = None
    if len(envs) > 1:
        normalize = {e: (min(r.score for r in runs if r.env == e), max(r.score for r in runs if r.env == e))
                     for e in envs}  # fmt: skip
    groups = configurations(runs)
    all_scores = np.concatenate([np.concatenate(task_scores(g, normalize)) for g in groups.values()])
    thresholds = np.linspace(all_scores.min(), all_scores.max(), 41)
    out = {"envs": envs, "normalized": normalize is not None, "thresholds": thresholds.tolist(), "configurations": []}
    for label, group in groups.items():
        scores = task_scores(group, normalize)
        fraction, low, high = performance_profile(scores, thresholds, reps)
        out["configurations"].append({
            "label": label, "experiments": [r.name for r in group], "seeds": [r.config.get("seed") for r in group],
            "scores": [r.score for r in group],
            "iqm": iqm(scores), "iqm_ci95": stratified_bootstrap_ci(scores, iqm, reps),
            "mean": mean(scores), "mean_ci95": stratified_bootstrap_ci(scores, mean, reps),
            "profile": {"fraction": fraction.tolist(), "low": low.tolist(), "high": high.tolist()},
            "curve": _iqm_curve(group, reps // 4),
        })  # fmt: skip
    return out


def _iqm_curve(runs: list[RunCurve], reps: int) -> dict:
    """IQM over runs along agent-steps: each run interpolated on ``_CURVE_POINTS`` steps up to the shortest run's
    last step, with a bootstrap band (raw returns, not normalized)."""
    end = min(r.steps[-1] for r in runs)
    grid = np.linspace(min(r.steps[0] for r in runs), end, _CURVE_POINTS)
    values = np.stack([np.interp(grid, r.steps, r.returns) for r in runs])  # [runs, points]
    bands = [stratified_bootstrap_ci(values[:, i : i + 1], iqm, reps) for i in range(grid.size)]
    return {"steps": grid.tolist(), "iqm": [iqm(values[:, i]) for i in range(grid.size)],
            "low": [b[0] for b in bands], "high": [b[1] for b in bands]}  # fmt: skip


def aggregate_plots(exp_dirs: list[Path], out_dir: Path, reps: int = 2000) -> list[Path]:
    """Write the three figures and ``aggregate.json`` into ``out_dir``; returns their paths."""
    from matplotlib.figure import Figure

    data = aggregate(exp_dirs, reps)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "aggregate.json"
    atomic_write(json_path, lambda f: json.dump(data, f, indent=1), mode="w")
    configs = data["configurations"]
    unit = "normalized score" if data["normalized"] else "episode return"
    paths = [json_path]

    fig = Figure(figsize=(7.5, 4.5), dpi=90, layout="constrained")
    ax = fig.subplots()
    for c in configs:
        curve = c["curve"]
        ax.plot(curve["steps"], curve["iqm"], label=f"{c['label']} ({len(c['scores'])} runs)")
        ax.fill_between(curve["steps"], curve["low"], curve["high"], alpha=0.2)
    _finish(ax, "IQM of the training return over runs (95% bootstrap band)", "agent-steps", "episode return")
    paths.append(_write(fig, out_dir / "aggregate_curves.png"))

    fig = Figure(figsize=(9, 1.2 + 0.45 * len(configs)), dpi=90, layout="constrained")
    for ax, stat in zip(fig.subplots(1, 2), ("iqm", "mean"), strict=True):
        for y, c in enumerate(configs):
            low, high = c[f"{stat}_ci95"]
            ax.plot([low, high], [y, y], linewidth=6, alpha=0.5)
            ax.plot([c[stat]], [y], "k|", markersize=14)
        ax.set_yticks(range(len(configs)), [c["label"] for c in configs] if stat == "iqm" else [])
        _finish(ax, f"{stat.upper() if stat == 'iqm' else 'mean'} of final scores (95% CI)", unit, None, legend=False)
    paths.append(_write(fig, out_dir / "aggregate_scores.png"))

    fig = Figure(figsize=(7.5, 4.5), dpi=90, layout="constrained")
    ax = fig.subplots()
    for c in configs:
        p = c["profile"]
        ax.plot(data["thresholds"], p["fraction"], label=c["label"])
        ax.fill_between(data["thresholds"], p["low"], p["high"], alpha=0.2)
    _finish(ax, "performance profile: runs scoring above tau (95% band)", f"tau ({unit})", "fraction of runs")
    paths.append(_write(fig, out_dir / "performance_profile.png"))
    return paths


def _finish(ax, title: str, xlabel: str, ylabel: str | None, legend: bool = True) -> None:
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if legend:
        ax.legend(fontsize=8)


def _write(fig, path: Path) -> Path:
    fig.savefig(path)
    return path
