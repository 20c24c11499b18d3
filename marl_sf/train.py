"""Training entry point: ``run_rl(cfg)`` and ``python -m marl_sf.train --env=<name> --experiment=<name>``."""

from __future__ import annotations

import logging
import math
import os
import signal
import sys
import time
from pathlib import Path

import torch

from marl_sf.algo.async_sampler import AsyncSampler, check_async_cfg
from marl_sf.algo.distributed import Reducer
from marl_sf.algo.env_factory import log_critic_time_input
from marl_sf.algo.learner import Learner, describe_minibatches
from marl_sf.algo.policy_mapping import agent_policies
from marl_sf.algo.runners import resolve_num_workers
from marl_sf.cfg.arguments import parse_full_cfg, parse_sf_args
from marl_sf.cfg.options import model_option_diff
from marl_sf.checkpoint import (
    CHECKPOINT_FORMAT,
    CheckpointWriteError,
    UnsafeCheckpointError,
    cfg_json,
    find_checkpoint,
    load_checkpoint,
    save_best_checkpoint,
    save_checkpoint,
    save_milestone,
)
from marl_sf.evaluation import TrainingEvaluation
from marl_sf.experiment import build_run, make_sampler
from marl_sf.experiment_dir import inside_train_dir, prepare_experiment_dir
from marl_sf.launch import check_num_learners, joined_group, process_alive, run_learners
from marl_sf.pbt import PBTConfigError, PopulationBasedTraining
from marl_sf.plot import save_training_plots
from marl_sf.ray_sampling import check_ray_cfg
from marl_sf.run_log import release_log_file, start_log_file
from marl_sf.selfplay.league import League, learner_name, uses_opponents
from marl_sf.status import ExperimentStatus
from marl_sf.summaries import TrainingLogger
from marl_sf.utils.experiment_lock import ExperimentLock, ExperimentLockedError
from marl_sf.utils.extras import MissingExtraError
from marl_sf.utils.finite import NonFiniteError, non_finite_tensors
from marl_sf.utils.io import remove_stale_temp_files, write_json
from marl_sf.utils.rng import capture_rng_states, continued_seed, restore_rng_states

log = logging.getLogger("marl_sf")

SUCCESS, FAILURE, INTERRUPTED = ExperimentStatus.SUCCESS, ExperimentStatus.FAILURE, ExperimentStatus.INTERRUPTED
_RANK0_EXIT_SEC = 5.0  # a learner's sockets close while it exits, before the kernel marks it dead
TRAINING = "training"  # a best metric measured on training episodes (or Elo); TrainingEvaluation.source outranks it


def remove_stale_writes(exp_dir: Path) -> None:
    """Delete the temporary files of checkpoint, snapshot and config writes that a killed run left in the
    experiment (its root, ``checkpoint_p*/`` and their ``milestones/``, ``pool/p*/``)."""
    folders = [exp_dir, *exp_dir.glob("checkpoint_p*"), *exp_dir.glob("checkpoint_p*/milestones"),
               *(exp_dir / "pool").glob("p*")]  # fmt: skip
    for folder in folders:
        for path in remove_stale_temp_files(folder):
            log.info("removed %s, left by an interrupted write", path)


def cpu_copy(state):
    """A copy of a (nested) state dict with every tensor copied to the CPU (a snapshot that takes no device
    memory and that later optimizer steps do not change)."""
    if isinstance(state, torch.Tensor):
        return state.detach().to("cpu", copy=True)
    if isinstance(state, dict):
        return {k: cpu_copy(v) for k, v in state.items()}
    if isinstance(state, list | tuple):
        return type(state)(cpu_copy(v) for v in state)
    return state


def load_learner_state(learner: Learner, state: dict, cfg, path: Path) -> None:
    """Load a checkpoint's ``state["learner"]`` into ``learner``.

    Raises:
        RuntimeError: the checkpoint's parameters do not fit the model; the message names the model options that
            differ between the checkpoint's saved config (``state["cfg"]``, a dict or JSON) and ``cfg``.
    """
    try:
        learner.load_state_dict(state["learner"])
    except (RuntimeError, ValueError) as exc:  # torch: size mismatch / missing keys; optimizer: group sizes
        diff = model_option_diff(state.get("cfg"), cfg)
        why = (
            "these model options differ from the checkpoint's: " + "; ".join(diff) + ". Resume without them "
            "(the saved config.json supplies them) or start afresh with --restart_behavior=restart"
            if diff
            else "no model option differs from the checkpoint's config: the env's spaces (its options) or a "
            "custom model changed; start afresh with --restart_behavior=restart"
        )
        torch_says = " ".join(str(exc).split())[:300]  # the first mismatch, on one line
        raise RuntimeError(f"checkpoint {path} does not fit the model: {why} (torch: {torch_says})") from exc


class Trainer:
    """Owns one training run: envs, policies, learners, the sampler, logs and checkpoints.

    A resumed run continues the one it resumes: the checkpoint restores the weights, the optimizer, the value
    normalizer and the global RNG states (torch, NumPy, Python); the envs, which start new episodes, are reset
    with ``continued_seed(cfg.seed, agent_steps)``, a fresh stream rather than a replay of the first one.

    The run holds its experiment's lock (``marl_sf.utils.experiment_lock``) from before the folder is touched until
    ``close()``.

    Raises:
        ExperimentLockedError: another process is training the same experiment (nothing was touched).
    """

    def __init__(self, cfg):
        self.cfg = cfg
        self.reducer = Reducer()  # data-parallel learners (--num_learners); rank 0 alone writes the experiment
        self.writes = self.reducer.rank == 0
        self.lock = None  # one writer per experiment: held by rank 0 until close()
        self.stop_at: int | None = None  # train(stop_at_agent_steps): an earlier end than --train_for_env_steps
        if self.writes:
            inside_train_dir(cfg)  # a bad --experiment fails before anything is locked
            self.lock = ExperimentLock(cfg.train_dir, cfg.experiment)
            self.lock.acquire()
        try:
            self._start()
        except BaseException:
            if self.lock is not None:
                self.lock.release()
            raise

    def _start(self) -> None:
        """Prepare the experiment folder, build the run, resume from its checkpoints, start the sampler."""
        cfg = self.cfg
        if self.writes:
            remove_stale_writes(prepare_experiment_dir(cfg))
        self.reducer.barrier()  # the other learners read the folder rank 0 prepared
        self.learner_pids = self.reducer.pids()  # rank 1 writes the exit checkpoint when rank 0 is gone
        self.exp_dir = inside_train_dir(cfg)
        self.log_file = start_log_file(cfg, self.exp_dir, enabled=self.writes)  # <experiment>/sf_log.txt
        self.learner_threads = cfg.learner_torch_threads or os.cpu_count() or 1
        run = build_run(cfg, cfg.seed, num_envs=cfg.num_envs, rollout=cfg.rollout)
        self.device, self.env_spec, self.specs, self.models = run.device, run.env_spec, run.specs, run.models
        self.storages = run.storages
        self.names = list(self.env_spec.agent_names)
        log_critic_time_input(cfg, self.env_spec)
        self.learners = [Learner(cfg, m, self.device) for m in self.models]
        for spec, st in zip(self.specs, self.storages, strict=True):
            note = describe_minibatches(cfg, st, spec.policy_id, self.reducer.world_size)
            if note is not None:
                log.info("minibatches: %s", note)
        self.agent_steps, self.best_metric = 0, {s.policy_id: None for s in self.specs}
        self.best_source = {s.policy_id: TRAINING for s in self.specs}  # what each best metric was measured on
        self.last_best_check = self.last_milestone = time.time()  # --save_best_every_sec, --save_milestones_sec
        self.before_update = None  # (agent-steps, learner states) while an update runs
        self.evaluation = self._make_evaluation()  # before resuming: it ranks the saved best metrics' sources
        rng_states = self._maybe_resume()
        for learner in self.learners:  # data-parallel learners start from rank 0's weights
            self.reducer.broadcast_(learner.model.state_dict().values())
        self.env_seed = continued_seed(cfg.seed, self.agent_steps)
        if self.env_seed is not None:  # each learner's envs get their own seeds
            self.env_seed += self.reducer.rank * cfg.num_envs
        self.agent_policy = agent_policies(self.specs)
        self.league = None
        if uses_opponents(cfg):
            value_norms = {s.policy_id: lr.value_norm for s, lr in zip(self.specs, self.learners, strict=True)}
            self.league = League(cfg, self.exp_dir, self.specs, self.models, self.agent_policy, cfg.num_envs,
                                 seed=self.env_seed, value_norms=value_norms)  # fmt: skip
            self.league.maybe_snapshot(self.agent_steps)
        self.sampler = self._make_sampler()
        self.sampler.set_training_info(self.agent_steps)
        try:
            # only a config that built a run (and loaded its checkpoint) becomes the experiment's saved config
            if self.writes:
                write_json(self.exp_dir / "config.json", dict(cfg))
            if rng_states is not None:  # last, so that nothing above draws from the restored streams
                restore_rng_states(rng_states)
            self.logger = TrainingLogger(cfg, self.exp_dir, self.names, self.agent_policy, self.agent_steps,
                                         self.writes)  # fmt: skip
        except BaseException:
            self.sampler.close()  # no env worker or sampler actor outlives a failed start
            raise
        if self.league is not None:
            self.logger.status_extra = self.league.status

    def _make_evaluation(self) -> TrainingEvaluation | None:
        """The periodic evaluation (``TrainingEvaluation``) in the process that writes the experiment, or None.

        Raises:
            ValueError: ``--eval_episodes`` below 1 while evaluations are on.
        """
        wanted = TrainingEvaluation.wanted(self.cfg, uses_opponents(self.cfg), self.reducer.world_size)
        if self.cfg.eval_every_sec > 0 and self.reducer.world_size > 1 and self.writes:
            log.info("no evaluation during training with --num_learners > 1: the training return picks the best")
        if not (self.writes and wanted):
            return None
        if self.cfg.eval_episodes < 1:
            raise ValueError(f"--eval_episodes={self.cfg.eval_episodes}: evaluate at least 1 episode, or never "
                             "evaluate during training with --eval_every_sec=0")  # fmt: skip
        return TrainingEvaluation(self.cfg, self.specs, self.models, self.names, agent_policies(self.specs))

    def _make_sampler(self):
        """The sampler: marl_sf's ``Sampler`` over this process's envs (in a thread of its own with ``--async_rl``),
        or ``RaySampler`` over sampler actors."""
        cfg = self.cfg
        if cfg.distributed == "ray":
            from marl_sf.ray_sampling import RaySampler

            return RaySampler(cfg, self.specs, self.models, self.storages, self.agent_steps, self.league)
        opponents = self.league.opponents(self.storages) if self.league is not None else None
        if cfg.async_rl:
            check_async_cfg(
                cfg, opponents is not None, resolve_num_workers(cfg, self.env_spec), self.env_spec.vectorized
            )

            def make(models, storages):
                return make_sampler(cfg, self.specs, models, storages, self.env_spec, self.env_seed)

            return AsyncSampler(cfg, make, self.models, self.storages)
        return make_sampler(cfg, self.specs, self.models, self.storages, self.env_spec, self.env_seed, opponents)

    def _maybe_resume(self) -> dict | None:
        """Load each policy's latest checkpoint when resuming; returns the saved RNG states (None when there
        is no checkpoint, or it keeps none)."""
        rng_states = None
        for spec, learner in zip(self.specs, self.learners, strict=True):
            path = find_checkpoint(self.exp_dir, spec.policy_id)
            if path is None:
                continue
            state = load_checkpoint(path, self.device)
            load_learner_state(learner, state, self.cfg, path)
            self.agent_steps = state["agent_steps"]
            self.best_metric[spec.policy_id], self.best_source[spec.policy_id] = self._saved_best(spec.policy_id, state)
            rng_states = state.get("rng", rng_states)  # every policy's checkpoint keeps the same states
            log.info("resumed policy %d from %s (%d agent-steps)", spec.policy_id, path, self.agent_steps)
        return rng_states

    def _source_rank(self, source: str) -> int:
        """1 for this run's evaluation (``TrainingEvaluation.source``: the same action mode), else 0 (training
        episodes, Elo, or an evaluation in the other mode, which this run's evaluations replace)."""
        return int(self.evaluation is not None and source == self.evaluation.source)

    def _saved_best(self, policy_id: int, latest: dict) -> tuple[float | None, str]:
        """The best metric to beat after resuming and what it was measured on: of the latest checkpoint's
        (``latest``) and the best checkpoint's own (bests are written between the latest checkpoints, so after a
        hard kill the best file is the newer), the larger among those of the highest-ranked source (checkpoints
        without a source count as training)."""
        saved = [latest]
        path = find_checkpoint(self.exp_dir, policy_id, "best")
        if path is not None:
            saved.append(load_checkpoint(path, self.device))
        sources = [s.get("best_metric_source", TRAINING) for s in saved]
        known = [(self._source_rank(src), s["best_metric"], src) for s, src in zip(saved, sources, strict=True)
                 if s.get("best_metric") is not None]  # fmt: skip
        if not known:
            return None, TRAINING
        _, metric, source = max(known)
        return metric, source

    def best_metric_of(self, policy_id: int) -> tuple[float | None, str]:
        """What makes a policy's checkpoint its best, and its source: once this run has evaluated
        (``TrainingEvaluation``), the mean return of the policy's agents in the latest evaluation, when it is of
        the current weights (None otherwise); before, its agents' recent mean training episode return; when it
        plays opponents from a pool (self-play), its Elo rating (a return against a changing pool compares
        nothing). None before there is any."""
        if self.league is not None:
            name = learner_name(policy_id)
            return (self.league.elo.rating(name) if self.league.elo.games.get(name, 0) > 0 else None), TRAINING
        if self.evaluation is not None and self.evaluation.latest is not None:
            return self.evaluation.policy_metric(policy_id, self.agent_steps), self.evaluation.source
        return self.logger.mean_policy_return(policy_id), TRAINING

    def save(self) -> bool:
        """Checkpoint every policy (the latest; ``--keep_checkpoints`` of them are kept); also as its best when
        ``_new_bests`` finds a new best for it (as the ``--save_best_every_sec`` checks of
        ``_maybe_save_best_and_milestone`` do; the exit checkpoint's check is the run's last).

        Writes nothing, and logs why, when any policy's weights, optimizer or value-normalizer state holds
        NaN or inf: the newest checkpoint stays the last finite one. Returns whether it wrote.

        Raises:
            CheckpointWriteError: a checkpoint cannot be written (no space left, permission denied).
        """
        bests = self._new_bests()
        states = self._checkpoint_states(bests)
        if states is None:
            return False
        for pid, state in states.items():
            best = bests[pid][0] if pid in bests else None
            save_checkpoint(self.exp_dir, pid, state, self.cfg.keep_checkpoints, best)
        if self.league is not None:
            self.league.save()
        return True

    def _maybe_save_best_and_milestone(self, check_best: bool = False) -> None:
        """Between checkpoints, in the process that writes the experiment: every ``--save_best_every_sec`` seconds,
        and when ``check_best`` (an evaluation just ran), write the best checkpoint of each policy that
        ``_new_bests`` finds a new best for (the best file alone);
        every ``--save_milestones_sec`` seconds (when above 0), a milestone of every policy, a copy of its
        checkpoint now in ``checkpoint_p<id>/milestones/`` that is never deleted (``save_milestone``). A state
        that holds NaN or inf is not written (see ``save``).

        Raises:
            CheckpointWriteError: a checkpoint cannot be written (no space left, permission denied).
        """
        if not self.writes:
            return
        cfg, now, bests = self.cfg, time.time(), {}
        if check_best or now - self.last_best_check >= cfg.save_best_every_sec:
            self.last_best_check = now
            bests = self._new_bests()
        milestone = cfg.save_milestones_sec > 0 and now - self.last_milestone >= cfg.save_milestones_sec
        if milestone:
            self.last_milestone = now
        if not (bests or milestone):
            return
        states = self._checkpoint_states(bests)
        for pid, state in (states or {}).items():
            if pid in bests:
                save_best_checkpoint(self.exp_dir, pid, state, bests[pid][0])
            if milestone:
                log.info("milestone: %s", save_milestone(self.exp_dir, pid, state))

    def _new_bests(self) -> dict[int, tuple[float, str]]:
        """``{policy id: (metric, source)}`` of the policies whose ``best_metric_of`` (``--save_best_metric=reward``)
        is finite and beats their best so far: measured on a higher-ranked source (an evaluation beats training
        episodes), or on the same one and larger (on any, when this run does not evaluate); none before
        ``--save_best_after`` agent-steps."""
        if self.agent_steps < self.cfg.save_best_after:
            return {}
        bests = {}
        for spec in self.specs:
            pid = spec.policy_id
            (metric, source), old, old_source = self.best_metric_of(pid), self.best_metric[pid], self.best_source[pid]
            if metric is None or not math.isfinite(metric):
                continue
            comparable = source == old_source or self.evaluation is None
            if (
                old is None
                or self._source_rank(source) > self._source_rank(old_source)
                or (comparable and metric > old)
            ):
                bests[pid] = (metric, source)
        return bests

    def _checkpoint_states(self, bests: dict[int, tuple[float, str]]) -> dict[int, dict] | None:
        """Each policy's checkpoint state now, ``{policy id: state}``, after taking ``bests`` (``_new_bests``) as
        the policies' best metrics. None, logged, with the best metrics unchanged, when any policy's weights,
        optimizer or value-normalizer state holds NaN or inf."""
        states = {spec.policy_id: learner.state_dict() for spec, learner in zip(self.specs, self.learners, strict=True)}
        for pid, learner_state in states.items():
            bad = non_finite_tensors(learner_state)
            if bad:
                log.error("not saving a checkpoint: policy %d holds non-finite values (%s); the newest checkpoint "
                          "in %s stays the last finite one", pid, ", ".join(bad[:5]), self.exp_dir)  # fmt: skip
                return None
        for pid, (metric, source) in bests.items():
            self.best_metric[pid], self.best_source[pid] = metric, source
        rng = capture_rng_states()
        evaluation = self.evaluation.checkpoint_entry(self.agent_steps) if self.evaluation is not None else None
        return {
            spec.policy_id: {
                "format": CHECKPOINT_FORMAT,
                "learner": states[spec.policy_id],
                "policy_id": spec.policy_id,
                "agent_steps": self.agent_steps,
                "train_step": learner.train_step,
                "best_metric": self.best_metric[spec.policy_id],
                "best_metric_source": self.best_source[spec.policy_id],
                "evaluation": evaluation,  # of these weights, when they were evaluated
                "rng": rng,
                "cfg": cfg_json(self.cfg),
            }
            for spec, learner in zip(self.specs, self.learners, strict=True)
        }

    def train(self, stop_at_agent_steps: int | None = None) -> int:
        """The loop: rollout, PPO update per policy, logs; checkpoints periodically, on exit and on Ctrl-C; the
        learning curves (``marl_sf.plot``) when it ends with ``--save_plots``. ``stop_at_agent_steps`` ends it
        earlier than ``--train_for_env_steps`` without changing the learning-rate schedule (a PBT period).

        Whatever ends the run, ``close()`` runs and the exit checkpoint is written unless the state is not
        finite (see ``save``) or a checkpoint write has already failed; a run stopped during an update checkpoints
        the last completed update; the error that ended the run is raised after that, alone (no chain of
        tracebacks).

        Returns:
            ``SUCCESS`` (0) or ``INTERRUPTED`` (2, Ctrl-C or SIGTERM).

        Raises:
            NonFiniteError: a NaN or inf came from an env or arose in a learner (named in the message).
            CheckpointWriteError: a checkpoint could not be written (no space left, permission denied).
        """
        start, status, failure = time.time(), SUCCESS, None
        self.stop_at = stop_at_agent_steps
        try:
            self._loop(start)
            self._evaluate_final_policy()
        except KeyboardInterrupt:
            log.warning("interrupted: saving a checkpoint before exiting")
            status = INTERRUPTED
        except BaseException as exc:  # noqa: BLE001 - saved, closed, then raised again below
            failure = exc
        self._rewind_partial_update()
        self._take_over_writes(failed=failure is not None)
        try:
            if self.writes and not isinstance(failure, CheckpointWriteError):
                self.save()
        except CheckpointWriteError as exc:
            failure = failure or exc
            log.error("%s", exc)
        finally:
            self.close()
        if failure is not None:
            raise failure
        log.info("done: %d agent-steps in %.1f s", self.agent_steps, time.time() - start)
        if self.cfg.save_plots and self.writes:
            save_training_plots(self.exp_dir)
        return status

    def _loop(self, start: float) -> None:
        """Train until ``--train_for_env_steps`` or ``--train_for_seconds``, saving every ``--save_every_sec``."""
        cfg, last_save = self.cfg, time.time()
        while not self._done(start):
            rollout = self.sampler.collect()
            rollout.agent_steps = int(self.reducer.sum(torch.tensor(rollout.agent_steps)))  # every learner's
            # what a run stopped during this update checkpoints: the last completed one (see _rewind_partial_update)
            self.before_update = (self.agent_steps, [cpu_copy(learner.state_dict()) for learner in self.learners])
            self.agent_steps += rollout.agent_steps
            self.sampler.set_training_info(self.agent_steps)
            # lr decays toward whichever limit comes first: agent-steps or wall time
            progress = max(self.agent_steps / cfg.train_for_env_steps, (time.time() - start) / cfg.train_for_seconds)
            train_stats = {}
            torch.set_num_threads(self.learner_threads)  # the envs wait while the learner runs
            for spec, learner, st in zip(self.specs, self.learners, self.storages, strict=True):
                lr = learner.set_learning_rate(progress)
                train_stats[spec.policy_id] = learner.train(st, spec.policy_id)
                st.carry_last_step()
            self.before_update = None
            torch.set_num_threads(cfg.torch_threads)
            self.logger.log_iteration(
                self.agent_steps, rollout.agent_steps, rollout.episode_returns, train_stats, lr, rollout.episode_lengths
            )  # fmt: skip
            self.logger.log_scalars(rollout.scalars, self.agent_steps)
            if self.league is not None:
                self.league.record(rollout.match_results)
                self.league.maybe_snapshot(self.agent_steps)
                self.logger.log_scalars(self.league.summary(), self.agent_steps)
            evaluated = self.evaluation is not None and self.evaluation.due()
            if evaluated:
                self._evaluate()
            if self.writes and time.time() - last_save >= cfg.save_every_sec:
                self.save()
                last_save = time.time()
            self._maybe_save_best_and_milestone(check_best=evaluated)

    def _evaluate(self) -> None:
        """Evaluate the current policies (``TrainingEvaluation``): a log line and summaries at these agent-steps."""
        self.evaluation.run(self.agent_steps)
        log.info("%s", self.evaluation.describe())
        self.logger.log_at(self.evaluation.summaries(), self.agent_steps)

    def _evaluate_final_policy(self) -> None:
        """At the end of a run that has evaluated, evaluate the final policies too (the exit checkpoint's best
        check then sees them), unless the latest evaluation is of them already."""
        latest = self.evaluation.latest if self.evaluation is not None else None
        if latest is not None and latest.agent_steps != self.agent_steps:
            self._evaluate()

    def _rewind_partial_update(self) -> None:
        """When the run stopped during an update (Ctrl-C, an error in a learner), put every learner back to where
        the last completed update left it, and the agent-step count with it: the exit checkpoint then holds that
        update, never a part of one."""
        if self.before_update is None:
            return
        self.agent_steps, states = self.before_update
        for learner, state in zip(self.learners, states, strict=True):
            learner.load_state_dict(state)
        self.before_update = None
        log.warning("stopped during an update: the checkpoint holds the last completed update (%d agent-steps)",
                    self.agent_steps)  # fmt: skip

    def _take_over_writes(self, failed: bool) -> None:
        """When rank 0 of data-parallel learners died, rank 1 (whose weights are the same, rewound to the last
        completed update) writes the exit checkpoint in its place. After a failure (a collective broken by the lost
        peer) rank 0 may still be exiting: its death is awaited for up to ``_RANK0_EXIT_SEC``."""
        if self.reducer.rank != 1:
            return
        deadline = time.monotonic() + (_RANK0_EXIT_SEC if failed else 0.0)
        while process_alive(self.learner_pids[0]):
            if time.monotonic() >= deadline:
                return
            time.sleep(0.05)
        log.warning("learner rank 0 (pid %d) is gone: rank 1 writes the exit checkpoint (%d agent-steps, the last "
                    "completed update)", self.learner_pids[0], self.agent_steps)  # fmt: skip
        self.writes = True
        for spec in self.specs:  # the best so far is rank 0's, on disk: rank 1 never tracked it
            self.best_metric[spec.policy_id], self.best_source[spec.policy_id] = self._saved_best(spec.policy_id, {})

    def _done(self, start: float) -> bool:
        """Whether the step budget or the time budget is spent (decided together by data-parallel learners, so
        that all of them stop after the same update)."""
        limit = min(self.cfg.train_for_env_steps, self.stop_at or self.cfg.train_for_env_steps)
        over = self.agent_steps >= limit or time.time() - start >= self.cfg.train_for_seconds
        return bool(self.reducer.sum(torch.tensor(int(over))) > 0)

    def close(self) -> None:
        """Close the logger and the sampler (stopping env workers or sampler actors), then release the
        experiment's lock."""
        try:
            self.logger.close()
            self.sampler.close()
        finally:
            release_log_file(self.log_file)
            if self.lock is not None:
                self.lock.release()


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def run_rl(cfg) -> int:
    """Train ``cfg.env`` as configured; returns 0 on success, 2 when interrupted (Ctrl-C or SIGTERM).

    Both signals raise KeyboardInterrupt here even when the parent process started us with SIGINT ignored
    (as shells do for background jobs), so an interrupted run always saves its checkpoint.
    """
    check_num_learners(cfg)
    check_ray_cfg(cfg)
    if cfg.num_learners > 1 or joined_group():
        return run_learners(cfg, _run_one)
    return _run_one(cfg)


def _run_one(cfg) -> int:
    """One training process (the only one, or one of ``--num_learners``), or a PBT population (``--with_pbt``)."""
    previous = {sig: signal.signal(sig, _raise_keyboard_interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if cfg.with_pbt:
            if cfg.seed is None:
                cfg.seed = int(torch.randint(0, 2**31 - 1, ()).item())
            return PopulationBasedTraining(cfg, train_pbt_member).run()
        try:
            trainer = Trainer(cfg)
        except KeyboardInterrupt:  # nothing trained yet: nothing to save (env workers are stopped at exit)
            log.warning("interrupted while starting: nothing was trained, no checkpoint written")
            return INTERRUPTED
        return trainer.train()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def train_pbt_member(cfg, stop_at_agent_steps: int) -> tuple[int, float | None]:
    """One PBT member's turn: train it (resuming) to ``stop_at_agent_steps``; its exit code and the mean return of
    its last episodes."""
    try:
        trainer = Trainer(cfg)
    except KeyboardInterrupt:
        return INTERRUPTED, None
    code = trainer.train(stop_at_agent_steps)
    return code, trainer.logger.mean_agent_return()


def parse_args(argv: list[str] | None = None, evaluation: bool = False):
    """The full config from the command line (marl_sf options plus the env's own)."""
    parser, _ = parse_sf_args(argv, evaluation=evaluation)
    return parse_full_cfg(parser, argv)


def main() -> int:
    """``python -m marl_sf.train``; a non-finite value, an unsafe checkpoint, a failed checkpoint write or a missing
    optional extra ends it with one error line and exit code 1."""
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(message)s", datefmt="%H:%M:%S")
    try:
        return run_rl(parse_args())
    except (NonFiniteError, UnsafeCheckpointError, CheckpointWriteError, MissingExtraError,
            ExperimentLockedError, PBTConfigError) as exc:  # fmt: skip
        log.error("error: %s", exc)
        return FAILURE


if __name__ == "__main__":
    sys.exit(main())
