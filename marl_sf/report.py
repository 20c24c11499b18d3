"""Per-agent, per-policy and team evaluation reports (``eval/report.json`` and ``eval/report.md``)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from marl_sf.utils.io import write_json, write_text


def return_stats(returns: np.ndarray, lengths: np.ndarray | None = None) -> dict[str, Any]:
    """Statistics of episode returns ``[N]``.

    ``return_ci95`` is the normal-approximation 95% confidence interval of the mean,
    ``mean +- 1.96 * std / sqrt(N)`` (std with Bessel's correction).
    """
    returns = np.asarray(returns, dtype=np.float64)
    n = len(returns)
    mean = float(returns.mean()) if n else float("nan")
    std = float(returns.std(ddof=1)) if n > 1 else 0.0
    half = 1.96 * std / math.sqrt(n) if n else float("nan")
    stats = {
        "episodes": n,
        "return_mean": mean,
        "return_std": std,
        "return_min": float(returns.min()) if n else float("nan"),
        "return_max": float(returns.max()) if n else float("nan"),
        "return_ci95": [mean - half, mean + half],
    }
    if lengths is not None:
        stats["length_mean"] = float(np.mean(lengths)) if n else float("nan")
    return stats


def build_report(
    agent_names: list[str],
    agent_policy: list[int],
    returns: np.ndarray,
    lengths: np.ndarray,
    meta: dict[str, Any],
) -> dict[str, Any]:
    """The evaluation report.

    Args:
        agent_names: A agent names.
        agent_policy: A policy ids.
        returns: ``[N, A]`` per-episode, per-agent returns.
        lengths: ``[N, A]`` per-episode, per-agent lengths (agent-steps).
        meta: env, checkpoint and settings, stored as they are.

    Returns:
        ``{"agents": [...], "policies": [...], "team": {...}, **meta}``; ``policies`` pools the episodes of
        every agent a policy controls; ``team`` is the sum over agents of each episode.
    """
    agents = [
        {"name": name, "policy_id": pid, **return_stats(returns[:, i], lengths[:, i])}
        for i, (name, pid) in enumerate(zip(agent_names, agent_policy, strict=True))
    ]
    policies = []
    for pid in sorted(set(agent_policy)):
        cols = [i for i, p in enumerate(agent_policy) if p == pid]
        stats = return_stats(returns[:, cols].reshape(-1), lengths[:, cols].reshape(-1))
        policies.append({"policy_id": pid, "agents": [agent_names[i] for i in cols], **stats})
    team = return_stats(returns.sum(axis=1), lengths.max(axis=1))
    return {"agents": agents, "policies": policies, "team": team, **meta}


def report_markdown(report: dict[str, Any]) -> str:
    """The report as a Markdown table (agents, then policies, then the team)."""
    head = "| who | policy | episodes | return mean | std | min | max | 95% CI | length |\n"
    head += "|---|---|---|---|---|---|---|---|---|\n"

    def row(who: str, policy: str, s: dict) -> str:
        lo, hi = s["return_ci95"]
        return (
            f"| {who} | {policy} | {s['episodes']} | {s['return_mean']:.2f} | {s['return_std']:.2f} | "
            f"{s['return_min']:.2f} | {s['return_max']:.2f} | [{lo:.2f}, {hi:.2f}] | {s['length_mean']:.1f} |\n"
        )

    body = "".join(row(a["name"], str(a["policy_id"]), a) for a in report["agents"])
    body += "".join(row(f"policy {p['policy_id']}", str(p["policy_id"]), p) for p in report["policies"])
    body += row("team (sum)", "-", report["team"])
    title = f"# Evaluation: {report.get('env', '?')} ({report.get('checkpoint', '?')})\n\n"
    return title + head + body


def write_report(report: dict[str, Any], eval_dir: Path) -> str:
    """Write ``report.json`` and ``report.md`` into ``eval_dir``; returns the Markdown."""
    markdown = report_markdown(report)
    write_json(Path(eval_dir) / "report.json", report)
    write_text(Path(eval_dir) / "report.md", markdown)
    return markdown
