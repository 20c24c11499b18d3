"""``eval/report.html``: one self-contained page per evaluation, readable offline.

Sections (each ``<section id=...>``): ``config`` (what was evaluated and how it was trained), ``results`` (the
per-agent / per-policy / team table with 95% intervals), ``video`` (when ``--save_video`` recorded one, with the
recorded episodes' per-agent returns), ``curves`` (the learning curves of ``marl_sf.plot``) and ``tournaments``
(ratings with 95% intervals and the score heatmap of every ``python -m marl_sf.tournament`` run in the
experiment). Images and the video are embedded as base64 ``data:`` URLs, so the page needs no other file.
"""

from __future__ import annotations

import base64
import html
import json
import logging
from pathlib import Path
from typing import Any

from marl_sf.plot import FIGURES, write_plots
from marl_sf.utils.io import write_text

log = logging.getLogger("marl_sf")

# training options shown in the config summary (all of config.json is in a collapsed table below it)
KEY_OPTIONS = (
    "env", "seed", "policy_mapping", "critic_input", "actor_critic_share_weights", "encoder_mlp_layers",
    "use_rnn", "num_envs", "rollout", "train_for_env_steps", "train_for_seconds", "learning_rate", "gamma",
    "gae_lambda", "exploration_loss_coeff", "self_play", "pool_scripted",
)  # fmt: skip

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1240px; color: #222; }
table { border-collapse: collapse; margin: 0.3em 0 1em; } td, th { border: 1px solid #ccc; padding: 2px 8px; }
th { background: #f0f0f0; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
h2 { border-bottom: 1px solid #ddd; margin-top: 1.2em; } .row { display: flex; gap: 2em; flex-wrap: wrap; }
img { max-width: 100%; } video { max-width: 560px; width: 100%; } figure { display: inline-block; margin: 0.3em; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _data_url(path: Path, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _table(header: list[str], rows: list[list[Any]], numeric_from: int = 1, table_id: str = "") -> str:
    """An HTML table; cells from column ``numeric_from`` on are right-aligned."""
    ident = f' id="{table_id}"' if table_id else ""
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td{" class=num" if j >= numeric_from else ""}>{_e(c)}</td>' for j, c in enumerate(r))
        + "</tr>"
        for r in rows
    )  # fmt: skip
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _config_section(report: dict, config: dict) -> str:
    shown = [[k, json.dumps(config[k])] for k in KEY_OPTIONS if k in config]
    settings = [[k, json.dumps(v)] for k, v in report.get("settings", {}).items()]
    everything = [[k, json.dumps(v)] for k, v in sorted(config.items())]
    return (
        '<section id="config"><h2>Configuration</h2>'
        f"<p>Checkpoint: <code>{_e(report.get('checkpoint', '?'))}</code></p>"
        f"<div class=row><div><h3>Training</h3>{_table(['option', 'value'], shown, 1)}</div>"
        f"<div><h3>Evaluation</h3>{_table(['setting', 'value'], settings, 1)}</div></div>"
        f"<details><summary>every option of config.json</summary>{_table(['option', 'value'], everything, 1)}"
        "</details></section>"
    )


def _results_section(report: dict) -> str:
    def row(who: str, policy: Any, s: dict) -> list[Any]:
        lo, hi = s["return_ci95"]
        return [who, policy, s["episodes"], f"{s['return_mean']:.2f}", f"[{lo:.2f}, {hi:.2f}]",
                f"{s['return_std']:.2f}", f"{s['return_min']:.2f}", f"{s['return_max']:.2f}",
                f"{s['length_mean']:.1f}"]  # fmt: skip

    rows = [row(a["name"], a["policy_id"], a) for a in report["agents"]]
    rows += [row(f"policy {p['policy_id']} ({', '.join(p['agents'])})", p["policy_id"], p) for p in report["policies"]]
    rows += [row("team (sum over agents)", "-", report["team"])]
    header = ["who", "policy", "episodes", "mean return", "95% CI", "std", "min", "max", "length"]
    return (
        '<section id="results"><h2>Returns</h2><p>Mean episode return per agent, per policy (its agents pooled) and '
        "of the team; 95% CI: mean &plusmn; 1.96 standard errors.</p>"
        f"{_table(header, rows, 2, 'returns')}</section>"
    )


def _video_section(report: dict, eval_dir: Path) -> str:
    entry = report.get("video")
    if not entry or not (eval_dir / entry["file"]).exists():
        return ""
    agents = [a["name"] for a in report["agents"]]
    rows = [[i, *(f"{ep[a]:.2f}" for a in agents), f"{sum(ep.values()):.2f}"]
            for i, ep in enumerate(entry["recorded_episodes"], 1)]  # fmt: skip
    episodes = _table(["episode", *agents, "team"], rows, 1) if rows else "<p>No episode finished in the video.</p>"
    src = _data_url(eval_dir / entry["file"], "video/mp4")
    return (
        f'<section id="video"><h2>Video</h2><p>{_e(entry["file"])}: {entry["frames"]} frames at {entry["fps"]:g} '
        f'fps, the first evaluation env.</p><video controls muted loop src="{src}"></video>'
        f"<h3>Recorded episodes: per-agent return</h3>{episodes}</section>"
    )


def _curves_section(exp_dir: Path, write: bool) -> str:
    """The experiment's ``plots/`` figures of ``FIGURES`` (comparisons left out); written first when there are none
    and ``write``."""
    paths = [exp_dir / "plots" / f"{name}.png" for name in FIGURES]  # in FIGURES' order
    paths = [p for p in paths if p.exists()]
    why = "--save_plots=False"
    if not paths and write:
        try:
            paths = write_plots(exp_dir)
        except (FileNotFoundError, ImportError) as exc:
            why = str(exc)
    if not paths:
        return f'<section id="curves"><h2>Learning curves</h2><p>None: {_e(why)}.</p></section>'
    images = "".join(f'<figure><img alt="{_e(p.stem)}" src="{_data_url(p, "image/png")}"></figure>' for p in paths)
    return f'<section id="curves"><h2>Learning curves</h2>{images}</section>'


def _tournaments_section(exp_dir: Path) -> str:
    parts = []
    for results_path in sorted(exp_dir.glob("*/results.json")):
        try:
            results = json.loads(results_path.read_text())
            ratings, se = results["ratings"], results["rating_se"]
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not a tournament's results
        rows = [[n, f"{ratings[n]:.0f}", f"[{ratings[n] - 1.96 * se[n]:.0f}, {ratings[n] + 1.96 * se[n]:.0f}]"]
                for n in sorted(ratings, key=lambda n: -ratings[n])]  # fmt: skip
        heatmap = results_path.parent / "scores.png"
        image = f'<img alt="scores" src="{_data_url(heatmap, "image/png")}">' if heatmap.exists() else ""
        parts.append(f"<h3>{_e(results_path.parent.name)}</h3>{_table(['player', 'Elo', '95% CI'], rows)}{image}")
    if not parts:
        return ""
    note = "<p>Bradley-Terry Elo (mean 1200) with 95% intervals; heatmap: the row player's mean score.</p>"
    return f'<section id="tournaments"><h2>Tournaments</h2>{note}{"".join(parts)}</section>'


def report_html(report: dict, exp_dir: Path, write_plots_if_missing: bool = True) -> str:
    """The page for ``report`` (``marl_sf.report.build_report`` plus ``video``) of the experiment in ``exp_dir``;
    its learning curves are the experiment's ``plots/``, written first (``marl_sf.plot``) when missing and
    ``write_plots_if_missing``."""
    exp_dir = Path(exp_dir)
    try:
        config = json.loads((exp_dir / "config.json").read_text())
    except (OSError, ValueError):
        config = {}
    title = f"{report.get('experiment', exp_dir.name)} on {report.get('env', '?')}"
    body = (
        _config_section(report, config)
        + _results_section(report)
        + _video_section(report, exp_dir / "eval")
        + _curves_section(exp_dir, write_plots_if_missing)
        + _tournaments_section(exp_dir)
    )
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f"<style>{STYLE}</style></head><body><h1>Evaluation: {_e(title)}</h1>{body}</body></html>\n"
    )


def write_html_report(report: dict, exp_dir: Path, write_plots_if_missing: bool = True) -> Path:
    """Write ``<exp_dir>/eval/report.html`` (``report_html``); returns its path.

    Raises:
        OSError: the file cannot be written.
    """
    path = Path(exp_dir) / "eval" / "report.html"
    write_text(path, report_html(report, exp_dir, write_plots_if_missing))
    return path
