"""Evaluation episodes: ``evaluate`` (the episodes ``enjoy`` reports) and ``TrainingEvaluation``, the periodic
evaluation of the current policies during training that the best checkpoint is chosen on (as RLlib's evaluation
workers, Stable-Baselines3's ``EvalCallback`` and BenchMARL's ``evaluation_interval`` do)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from marl_sf.algo.runners import LocalEnvs, make_local_envs, uses_env_state
from marl_sf.algo.sampler import Sampler
from marl_sf.experiment import build_storages, seed_everything
from marl_sf.report import build_report
from marl_sf.utils.attr_dict import AttrDict
from marl_sf.utils.rng import capture_rng_states, restore_rng_states

log = logging.getLogger("marl_sf")

MODES = {"sampled": False, "greedy": True}  # action mode -> deterministic (argmax / mean actions)


def evaluate(
    cfg,
    specs,
    models,
    envs: LocalEnvs,
    num_episodes: int,
    deterministic: bool,
    seed: int,
    video=None,
    max_frames: int | None = None,
):
    """Play until ``num_episodes`` episodes finish; returns per-agent returns and lengths, each ``[N, A]``.

    Each of the E envs contributes its first ``ceil(num_episodes / E)`` episodes (the first ``num_episodes`` of
    those, in the order they finish), so an env whose episodes end early (a success that terminates) counts no more
    often than one whose episodes run to the time limit. With ``video`` (a
    ``VideoRecorder``, one of ``envs``) that records a set number of frames, play also goes on until they are
    recorded. ``max_frames`` (``--max_num_frames``; None: no limit) stops play, video included, once this many env
    steps, summed over the E envs (E per step of them all), are played: N is then the episodes finished by then,
    possibly fewer than ``num_episodes``, possibly 0. ``envs``: the envs to play in (``make_local_envs``). Closes
    ``envs``. Env ``e`` is reset with ``seed + e`` and the global RNGs (which sampled actions draw from) are seeded
    with ``seed`` before the first step: the same weights, envs and seed give the same episodes.
    """
    device = next(models[0].parameters()).device
    try:
        runner = envs.runner(uses_env_state(specs))
    except BaseException:
        envs.close()
        raise
    num_envs, num_agents = runner.tensors.active.shape
    returns, lengths = [], []
    quota, played = -(-num_episodes // num_envs), np.zeros(num_envs, np.int64)  # episodes per env: ceil(N / E)
    frames = 0  # env steps, summed over the envs

    def video_wants_frames() -> bool:
        return video is not None and video.max_frames > 0 and video.recording

    try:
        storages = build_storages(cfg, specs, models, num_envs, 1, device)
        seed_everything(seed)
        sampler = Sampler(cfg, runner, specs, models, storages, seed=seed)
        while len(returns) < num_episodes or video_wants_frames():
            if max_frames is not None and frames >= max_frames:
                log.info("evaluation stopped at --max_num_frames=%d env steps: %d of %d episodes finished",
                         max_frames, min(len(returns), num_episodes), num_episodes)  # fmt: skip
                break
            stats = sampler.collect(deterministic=deterministic)  # one step of every env (a rollout of 1)
            frames += num_envs
            for env_id, ret, length in zip(stats.episode_env_ids, stats.episode_returns, stats.episode_lengths,
                                           strict=True):  # fmt: skip
                if played[env_id] < quota:
                    returns.append(ret)
                    lengths.append(length)
                played[env_id] += 1
            for st in storages:
                st.carry_last_step()
    finally:
        runner.close()
    if not returns:
        return np.zeros((0, num_agents), np.float32), np.zeros((0, num_agents), np.int64)
    return np.stack(returns[:num_episodes]), np.stack(lengths[:num_episodes])


@dataclass
class EvaluationResult:
    """One evaluation of the policies at ``agent_steps``: ``reports[mode]`` is ``build_report``'s report of its
    episodes (per agent, per policy and team returns with 95% intervals, lengths) for ``mode`` in ``MODES``."""

    agent_steps: int
    reports: dict[str, dict]
    seconds: float


class TrainingEvaluation:
    """Periodic evaluation of the policies being trained, in both action modes (sampled and greedy), the way
    ``python -m marl_sf.enjoy`` evaluates a checkpoint: ``--eval_episodes`` episodes per mode in
    ``min(--num_envs, --eval_episodes)`` envs made in this process, seeded with ``--eval_seed`` (``evaluate``); the
    global RNG states are restored afterwards, so that the training's random streams are not changed (except with
    ``--async_rl``, whose sampler thread draws from the same streams meanwhile: its runs are not reproducible
    anyway). ``enjoy`` with the same weights, ``--num_envs``, ``--max_num_episodes=<--eval_episodes>`` and seed plays
    the same episodes. The evaluation's wall time counts in ``--train_for_seconds``. Board games are evaluated from
    the empty board, as ``enjoy`` plays them, whatever ``--random_opening_plies`` training uses.

    An evaluation is due every ``--eval_every_sec`` seconds of training (``<= 0``: never), counted from the start of
    this ``Trainer`` (a resumed run or a PBT member's period starts afresh); ``Trainer`` also evaluates the final
    policy of a run that has evaluated before. The mode ``enjoy`` reports by default (``--eval_deterministic``) is
    the one the best checkpoint is chosen on (``policy_metric``; ``source`` names it).

    Args:
        cfg: config (the options above, ``env`` and what ``make_local_envs`` reads).
        specs, models: the policies and their actor-critics (the learners' models, evaluated in place in eval mode).
        agent_names, agent_policy: A names and A policy ids, for the reports.
    """

    def __init__(self, cfg, specs, models, agent_names: list[str], agent_policy: list[int]):
        self.cfg, self.specs, self.models = cfg, specs, models
        self.env_cfg = AttrDict({**cfg, "random_opening_plies": 0}) if cfg.get("random_opening_plies") else cfg
        self.agent_names, self.agent_policy = agent_names, agent_policy
        self.chosen_mode = "greedy" if cfg.eval_deterministic else "sampled"
        self.last_time = time.time()
        self.latest: EvaluationResult | None = None

    @property
    def source(self) -> str:
        """What the metric is measured on, as checkpoints record it: ``evaluation:<mode>``."""
        return f"evaluation:{self.chosen_mode}"

    @staticmethod
    def wanted(cfg, uses_pool: bool, num_learners: int) -> bool:
        """Whether training evaluates: ``--eval_every_sec`` > 0, no opponent pool (self-play's best is its Elo
        rating, a return against a changing pool compares nothing) and one learner (with data-parallel learners the
        others would wait for rank 0's evaluation in their collective calls, which time out)."""
        return cfg.eval_every_sec > 0 and not uses_pool and num_learners == 1

    def due(self) -> bool:
        """Whether ``--eval_every_sec`` seconds have passed since the start or the last evaluation."""
        return time.time() - self.last_time >= self.cfg.eval_every_sec

    def run(self, agent_steps: int) -> EvaluationResult:
        """Evaluate the models as they are now, in both modes; the result is also ``latest``.

        Raises:
            NonFiniteError: an env returned a NaN or inf.
        """
        start, rng = time.time(), capture_rng_states()
        reports, training = {}, [model.training for model in self.models]
        try:
            for model in self.models:
                model.eval()
            for mode in MODES:
                reports[mode] = self._episodes(mode)
        finally:
            for model, mode in zip(self.models, training, strict=True):
                model.train(mode)
            restore_rng_states(rng)
        self.last_time = time.time()
        self.latest = EvaluationResult(agent_steps, reports, self.last_time - start)
        return self.latest

    def _episodes(self, mode: str) -> dict:
        """``--eval_episodes`` episodes in ``mode``, as a ``build_report`` report."""
        cfg = self.cfg
        envs = make_local_envs(self.env_cfg, max(1, min(cfg.num_envs, cfg.eval_episodes)))
        returns, lengths = evaluate(cfg, self.specs, self.models, envs, cfg.eval_episodes, MODES[mode], cfg.eval_seed)
        meta = {"mode": mode, "eval_seed": cfg.eval_seed}
        return build_report(self.agent_names, self.agent_policy, returns, lengths, meta)

    def _of(self, agent_steps: int) -> EvaluationResult | None:
        """The latest evaluation when it is of the policies at ``agent_steps`` (None: the weights changed since)."""
        return self.latest if self.latest is not None and self.latest.agent_steps == agent_steps else None

    def policy_metric(self, policy_id: int, agent_steps: int) -> float | None:
        """Mean episode return of ``policy_id``'s agents in the chosen mode, when the latest evaluation is of the
        policies at ``agent_steps`` (None otherwise)."""
        result = self._of(agent_steps)
        if result is None:
            return None
        return next(
            p["return_mean"] for p in result.reports[self.chosen_mode]["policies"] if p["policy_id"] == policy_id
        )

    def checkpoint_entry(self, agent_steps: int) -> dict | None:
        """What a checkpoint of the policies at ``agent_steps`` records of their evaluation: ``{"agent_steps",
        "chosen_mode", "reports"}``; None when the latest evaluation is of other weights."""
        result = self._of(agent_steps)
        if result is None:
            return None
        return {"agent_steps": agent_steps, "chosen_mode": self.chosen_mode, "reports": result.reports}

    def summaries(self) -> dict[str, float]:
        """The latest evaluation as summaries: ``policy_<id>/eval/<mode>/episode_return``,
        ``team/eval/<mode>/episode_return`` and ``team/eval/<mode>/episode_length``."""
        scalars = {}
        for mode, report in (self.latest.reports if self.latest else {}).items():
            for p in report["policies"]:
                scalars[f"policy_{p['policy_id']}/eval/{mode}/episode_return"] = p["return_mean"]
            scalars[f"team/eval/{mode}/episode_return"] = report["team"]["return_mean"]
            scalars[f"team/eval/{mode}/episode_length"] = report["team"]["length_mean"]
        return scalars

    def describe(self) -> str:
        """One log line: the team return with its 95% interval and the episode length in each mode."""
        result = self.latest
        parts = []
        for mode, report in result.reports.items():
            team = report["team"]
            lo, hi = team["return_ci95"]
            parts.append(f"{mode} {team['return_mean']:.2f} [{lo:.2f}, {hi:.2f}] ({team['length_mean']:.0f} steps)")
        return (
            f"evaluation at {result.agent_steps:,} agent-steps, team return over {self.cfg.eval_episodes} episodes: "
            + ", ".join(parts)
            + f" ({result.seconds:.1f} s; the best checkpoint is chosen on {self.chosen_mode})"
        )
