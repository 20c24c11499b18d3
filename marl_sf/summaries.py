"""Training logs: tensorboardX summaries, a periodic status line and a progress bar in agent-steps."""

from __future__ import annotations

import collections
import logging
import sys
import time
import uuid
from pathlib import Path

import numpy as np
from tensorboardX import SummaryWriter
from tqdm import tqdm

from marl_sf.health import LearningHealth

log = logging.getLogger("marl_sf")


class TrainingLogger:
    """Collects episode statistics and writes summaries under ``<experiment>/.summary``.

    Args:
        cfg: config (``stats_avg``, ``status_every_sec``, ``progress_bar``, ``train_for_env_steps``).
        exp_dir: the experiment folder.
        agent_names: A names; agent_policy: A policy ids.
        start_steps: agent-steps already done (resuming).
        writes: False for a learner process other than rank 0 (``--num_learners``): it keeps the statistics but
            writes no summaries, status lines or progress bar.
    """

    def __init__(
        self, cfg, exp_dir: Path, agent_names: list[str], agent_policy: list[int], start_steps: int, writes=True
    ):
        self.cfg, self.agent_names, self.agent_policy = cfg, agent_names, agent_policy
        # tensorboardX names event files by the second and opens them with "wb": a unique suffix keeps a run resumed
        # within the same second as its predecessor from truncating the predecessor's file.
        suffix = f".{uuid.uuid4().hex[:8]}"
        summary_dir = str(Path(exp_dir) / ".summary")
        self.writer = SummaryWriter(summary_dir, flush_secs=10, filename_suffix=suffix) if writes else _NoSummaries()
        self.status_every_sec = cfg.status_every_sec if writes else float("inf")
        self.recent = collections.deque(maxlen=cfg.stats_avg)  # per-episode [A] returns
        self.last_status = time.time()
        self.status_extra = None  # optional callable -> str appended to the status line (self-play scores)
        self.health = LearningHealth(window=cfg.stats_avg)
        self.start_time, self.start_steps = time.time(), start_steps
        self.progress = tqdm(
            total=cfg.train_for_env_steps,
            initial=start_steps,
            unit="agent-steps",
            unit_scale=True,
            disable=not (cfg.progress_bar and writes),
            mininterval=1.0 if sys.stderr.isatty() else 30.0,
            dynamic_ncols=True,
        )

    def mean_agent_return(self) -> float | None:
        """Mean per-agent episode return over the last ``stats_avg`` episodes (None before any)."""
        return float(np.mean(self.recent)) if self.recent else None

    def mean_policy_return(self, policy_id: int) -> float | None:
        """Mean episode return of policy ``policy_id``'s agents over the last ``stats_avg`` episodes (None before
        any)."""
        if not self.recent:
            return None
        cols = [i for i, p in enumerate(self.agent_policy) if p == policy_id]
        return float(np.stack(self.recent)[:, cols].mean())  # [n, A] -> the policy's agents

    def log_iteration(self, agent_steps: int, new_steps: int, episodes: list, train_stats: dict, lr: float):
        """Write one training iteration's summaries; print the status line when due."""
        self.recent.extend(episodes)
        self.progress.update(new_steps)
        w, step = self.writer, agent_steps
        if episodes:
            returns = np.stack(episodes)  # [n, A]
            for i, name in enumerate(self.agent_names):
                w.add_scalar(f"agents/{name}/episode_return", returns[:, i].mean(), step)
            for pid in sorted(set(self.agent_policy)):
                cols = [i for i, p in enumerate(self.agent_policy) if p == pid]
                w.add_scalar(f"policy_{pid}/episode_return", returns[:, cols].mean(), step)
            w.add_scalar("team/episode_return", returns.sum(axis=1).mean(), step)
        for pid, stats in train_stats.items():
            for k, v in stats.items():
                w.add_scalar(f"policy_{pid}/train/{k}", v, step)
        self._check_health(episodes, train_stats, step)
        fps = (agent_steps - self.start_steps) / max(time.time() - self.start_time, 1e-9)
        w.add_scalar("perf/agent_steps_per_sec", fps, step)
        w.add_scalar("perf/learning_rate", lr, step)
        if time.time() - self.last_status >= self.status_every_sec:
            self.last_status = time.time()
            mean = self.mean_agent_return()
            shown = "n/a" if mean is None else f"{mean:.2f}"
            ent = np.mean([s.get("entropy", np.nan) for s in train_stats.values()])
            extra = f" | {self.status_extra()}" if self.status_extra is not None else ""
            warnings = self.health.active_warnings()
            extra += f" | WARNING {'; '.join(warnings)}" if warnings else ""
            self.progress.write(
                f"agent-steps {agent_steps:,} | {fps:,.0f} agent-steps/s | mean agent return "
                f"(last {len(self.recent)} episodes) {shown} | entropy {ent:.3f}{extra}",
                file=sys.stderr,
            )

    def _check_health(self, episodes: list, train_stats: dict, step: int) -> None:
        """Feed each policy's returns and training statistics to the health checks; log what started, and write
        ``policy_<id>/health/warnings`` (the number of conditions that hold) to the summaries."""
        returns = np.stack(episodes) if episodes else np.zeros((0, len(self.agent_names)))  # [n, A]
        for pid in sorted(set(self.agent_policy)):
            cols = [i for i, p in enumerate(self.agent_policy) if p == pid]
            started = self.health.observe(pid, list(returns[:, cols].mean(axis=1)), train_stats.get(pid, {}))
            for message in started:
                log.warning("learning health: %s", message)
                self.writer.add_text(f"policy_{pid}/health", message, step)
            active = self.health.policies[pid].active
            self.writer.add_scalar(f"policy_{pid}/health/warnings", len(active), step)

    def log_scalars(self, scalars: dict[str, float], agent_steps: int) -> None:
        """Write ``{tag: value}`` summaries at ``agent_steps``."""
        for tag, value in scalars.items():
            self.writer.add_scalar(tag, value, agent_steps)

    def close(self) -> None:
        """Flush and close the writer and the progress bar."""
        self.progress.close()
        self.writer.close()


class _NoSummaries:
    """The writer of a learner process that does not write (``TrainingLogger(writes=False)``)."""

    def add_scalar(self, *args, **kwargs) -> None:
        """Nothing."""

    def add_text(self, *args, **kwargs) -> None:
        """Nothing."""

    def close(self) -> None:
        """Nothing."""
