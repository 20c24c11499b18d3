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
from marl_sf.wandb_utils import finish_wandb, init_wandb

log = logging.getLogger("marl_sf")

MIN_FLUSH_SECS = 0.5  # tensorboardX's writer thread spins without waiting at a flush period of 0


def summary_step_scale(cfg) -> int:
    """What the summaries' x-axis counts per agent-step: ``--env_frameskip`` frames with
    ``--summaries_use_frameskip`` (as Sample Factory's x-axis counts simulated frames), else 1."""
    return max(1, int(cfg.env_frameskip)) if cfg.summaries_use_frameskip else 1


class TrainingLogger:
    """Collects episode and training statistics and writes summaries under ``<experiment>/.summary``.

    Summaries are written at most once per ``--experiment_summaries_interval`` seconds (0: every iteration), the
    first iteration's always, and once more at ``close()`` when anything arrived after the last write. A write
    holds what arrived since the previous one: the mean episode returns and length of every episode that finished
    since (none written when none did), each training statistic averaged over the updates since, the agent-steps per
    second since, the latest learning rate, health-warning counts and ``log_scalars`` values. The x-axis is agent-steps,
    times ``--env_frameskip`` with ``--summaries_use_frameskip`` (``summary_step_scale``). The writer flushes
    to disk every ``--flush_summaries_interval`` seconds (at least ``MIN_FLUSH_SECS``) and at ``close()``.

    With ``--with_wandb``, the Weights & Biases run that mirrors the summaries (``marl_sf.wandb_utils``) starts
    before the writer and finishes at ``close()``.

    Args:
        cfg: config (``stats_avg``, ``status_every_sec``, ``progress_bar``, ``train_for_env_steps``, the summary
            options above, the ``--wandb_*`` options).
        exp_dir: the experiment folder.
        agent_names: A names; agent_policy: A policy ids.
        start_steps: agent-steps already done (resuming).
        writes: False for a learner process other than rank 0 (``--num_learners``): it keeps the statistics but
            writes no summaries, status lines or progress bar, and starts no W&B run.

    Raises:
        MissingExtraError: ``--with_wandb`` without the wandb extra.
    """

    def __init__(
        self, cfg, exp_dir: Path, agent_names: list[str], agent_policy: list[int], start_steps: int, writes=True
    ):
        self.cfg, self.agent_names, self.agent_policy = cfg, agent_names, agent_policy
        self.step_scale = summary_step_scale(cfg)
        self.summaries_every_sec = cfg.experiment_summaries_interval
        summary_dir = Path(exp_dir) / ".summary"
        self.wandb_run = init_wandb(cfg, exp_dir, summary_dir) if writes and cfg.with_wandb else None  # first
        try:
            # tensorboardX names event files by the second and opens them with "wb": a unique suffix keeps a run
            # resumed within the same second as its predecessor from truncating the predecessor's file.
            suffix = f".{uuid.uuid4().hex[:8]}"
            flush_secs = max(float(cfg.flush_summaries_interval), MIN_FLUSH_SECS)
            self.writer = (
                SummaryWriter(str(summary_dir), flush_secs=flush_secs, filename_suffix=suffix)
                if writes
                else _NoSummaries()
            )
        except BaseException:
            finish_wandb(self.wandb_run)
            raise
        self.status_every_sec = cfg.status_every_sec if writes else float("inf")
        self.recent = collections.deque(maxlen=cfg.stats_avg)  # per-episode [A] returns
        self.last_status = time.time()
        self.status_extra = None  # optional callable -> str appended to the status line (self-play scores)
        self.health = LearningHealth(window=cfg.stats_avg)
        self.start_time, self.start_steps = time.time(), start_steps
        # what arrived since the last write (see the class docstring)
        self.last_write: float | None = None  # time of the last write; None: nothing written yet
        self.last_write_steps = start_steps  # agent-steps at the last write
        self.written_at: int | None = None  # agent-steps of the last write (log_scalars of that step join it)
        self.steps = start_steps  # agent-steps of the latest iteration
        self.iterations = 0  # iterations since the last write
        self.episodes: list[np.ndarray] = []  # [A] returns
        self.lengths: list[int] = []  # episode lengths (steps of the env's longest-acting agent)
        self.train_stats: dict[int, dict[str, list[float]]] = {}  # policy -> statistic -> one value per update
        self.lr: float | None = None
        self.scalars: dict[str, float] = {}  # log_scalars' latest value of each tag
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

    def log_iteration(
        self, agent_steps: int, new_steps: int, episodes: list, train_stats: dict, lr: float, lengths: list = ()
    ):  # fmt: skip
        """Take one training iteration's statistics (``episodes``: ``[A]`` returns of each episode finished,
        ``lengths``: their ``[A]`` per-agent lengths in agent-steps, when known); write the summaries when due (see
        the class docstring) and print the status line when due."""
        self.recent.extend(episodes)
        self.lengths.extend(np.max(n) for n in lengths)  # an episode lasts as long as its longest-acting agent
        self.progress.update(new_steps)
        self.episodes.extend(episodes)
        for pid, stats in train_stats.items():
            for k, v in stats.items():
                self.train_stats.setdefault(pid, {}).setdefault(k, []).append(float(v))
        self.steps, self.lr, self.iterations = agent_steps, lr, self.iterations + 1
        self._check_health(episodes, train_stats, agent_steps)
        now = time.time()
        if self.last_write is None or now - self.last_write >= self.summaries_every_sec:
            self._write(now)
        if now - self.last_status >= self.status_every_sec:
            self.last_status = now
            self._print_status(agent_steps, train_stats)

    def _print_status(self, agent_steps: int, train_stats: dict) -> None:
        """The status line: agent-steps (and frames, when ``summary_step_scale`` > 1), their rate since the start,
        the recent mean return, the entropy, self-play scores and active health warnings."""
        fps = (agent_steps - self.start_steps) / max(time.time() - self.start_time, 1e-9)
        mean = self.mean_agent_return()
        shown = "n/a" if mean is None else f"{mean:.2f}"
        ent = np.mean([s.get("entropy", np.nan) for s in train_stats.values()])
        extra = f" | {self.status_extra()}" if self.status_extra is not None else ""
        warnings = self.health.active_warnings()
        extra += f" | WARNING {'; '.join(warnings)}" if warnings else ""
        steps = f"agent-steps {agent_steps:,} | {fps:,.0f} agent-steps/s"
        if self.step_scale > 1:
            steps = (
                f"agent-steps {agent_steps:,} ({agent_steps * self.step_scale:,} frames) | {fps:,.0f} agent-steps/s "
                f"({fps * self.step_scale:,.0f} frames/s)"
            )
        self.progress.write(
            f"{steps} | mean agent return (last {len(self.recent)} episodes) {shown} | entropy {ent:.3f}{extra}",
            file=sys.stderr,
        )

    def _write(self, now: float) -> None:
        """Write what arrived since the last write at the latest iteration's x-axis step, then start afresh."""
        w, step = self.writer, self.steps * self.step_scale
        if self.episodes:
            returns = np.stack(self.episodes)  # [n, A]
            for i, name in enumerate(self.agent_names):
                w.add_scalar(f"agents/{name}/episode_return", returns[:, i].mean(), step)
            for pid in sorted(set(self.agent_policy)):
                cols = [i for i, p in enumerate(self.agent_policy) if p == pid]
                w.add_scalar(f"policy_{pid}/episode_return", returns[:, cols].mean(), step)
            w.add_scalar("team/episode_return", returns.sum(axis=1).mean(), step)
        if self.lengths:
            w.add_scalar("team/episode_length", float(np.mean(self.lengths)), step)
        for pid, stats in self.train_stats.items():
            for k, values in stats.items():
                w.add_scalar(f"policy_{pid}/train/{k}", _mean_of_finite(values), step)
        if self.iterations:
            for pid in sorted(set(self.agent_policy)):
                w.add_scalar(f"policy_{pid}/health/warnings", len(self.health.policies[pid].active), step)
            since = now - (self.last_write if self.last_write is not None else self.start_time)
            rate = (self.steps - self.last_write_steps) / max(since, 1e-9)
            w.add_scalar("perf/agent_steps_per_sec", rate, step)
            if self.step_scale > 1:
                w.add_scalar("perf/frames_per_sec", rate * self.step_scale, step)
            if self.lr is not None:
                w.add_scalar("perf/learning_rate", self.lr, step)
        for tag, value in self.scalars.items():
            w.add_scalar(tag, value, step)
        self.last_write, self.last_write_steps, self.written_at = now, self.steps, self.steps
        self.iterations, self.episodes, self.lengths, self.train_stats, self.scalars = 0, [], [], {}, {}

    def _check_health(self, episodes: list, train_stats: dict, agent_steps: int) -> None:
        """Feed each policy's returns and training statistics to the health checks; log what started and write it
        as text to the summaries at once (the number of conditions that hold, ``policy_<id>/health/warnings``,
        goes with the next write)."""
        returns = np.stack(episodes) if episodes else np.zeros((0, len(self.agent_names)))  # [n, A]
        for pid in sorted(set(self.agent_policy)):
            cols = [i for i, p in enumerate(self.agent_policy) if p == pid]
            started = self.health.observe(pid, list(returns[:, cols].mean(axis=1)), train_stats.get(pid, {}))
            for message in started:
                log.warning("learning health: %s", message)
                self.writer.add_text(f"policy_{pid}/health", message, agent_steps * self.step_scale)

    def log_scalars(self, scalars: dict[str, float], agent_steps: int) -> None:
        """Take ``{tag: value}`` summaries of levels (ratings, counts, lags) at ``agent_steps``: the latest value
        of each tag is written with the next write; logged at the agent-steps of the write just made (the same
        iteration), they are written at once, with it."""
        if agent_steps == self.written_at:
            for tag, value in scalars.items():
                self.writer.add_scalar(tag, value, agent_steps * self.step_scale)
        else:
            self.scalars.update(scalars)

    def log_at(self, scalars: dict[str, float], agent_steps: int) -> None:
        """Write ``{tag: value}`` summaries at once at ``agent_steps`` (measurements of the policy there, such as an
        evaluation's)."""
        for tag, value in scalars.items():
            self.writer.add_scalar(tag, value, agent_steps * self.step_scale)

    def close(self) -> None:
        """Write what arrived since the last write, flush and close the writer and the progress bar, then finish
        the W&B run (after the writer, so that it mirrors the last summaries)."""
        try:
            self.progress.close()
            if self.iterations or self.scalars:
                self._write(time.time())
            self.writer.close()
        finally:
            finish_wandb(self.wandb_run)
            self.wandb_run = None


class _NoSummaries:
    """The writer of a learner process that does not write (``TrainingLogger(writes=False)``)."""

    def add_scalar(self, *args, **kwargs) -> None:
        """Nothing."""

    def add_text(self, *args, **kwargs) -> None:
        """Nothing."""

    def close(self) -> None:
        """Nothing."""


def _mean_of_finite(values: list[float]) -> float:
    """The mean of the finite values (a NaN statistic of one update, such as the explained variance of a rollout
    whose returns are all equal, does not erase the others); NaN when none is finite."""
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")
