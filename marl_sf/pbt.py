"""Population-based training (Jaderberg et al. 2017, "Population Based Training of Neural Networks", section 3;
Sample Factory's rules): ``python -m marl_sf.train --with_pbt=True --num_policies=4 ...``.

The population is ``--num_policies`` members, each a whole copy of the experiment (its policies, as the agent ->
policy mapping makes them, its envs, its own seed) in ``<experiment>/member_<i>/``. The members train in turns for
``--pbt_period_env_steps`` agent-steps each; then, from ``--pbt_start_mutation`` on, PBT updates the population:

* exploit: members are ranked by ``--pbt_target_objective`` (the mean training episode return over their last
  episodes); a member among the worst ``--pbt_replace_fraction`` takes the latest checkpoint (weights, optimizer,
  normalizers) and the hyperparameters of a randomly chosen member among the best, when that one is ahead by more
  than ``--pbt_replace_reward_gap`` of its magnitude and ``--pbt_replace_reward_gap_absolute``;
* explore: every member that is not among the best, except member 0 (kept as the reference, though it may be
  replaced), perturbs each hyperparameter with probability ``--pbt_mutation_rate``: multiplied or divided by a
  factor in ``[--pbt_perturb_min, --pbt_perturb_max]``, gamma through ``1 - gamma``, and with probability 0.01 back
  to its default. Members 1.. start perturbed.

The hyperparameters are ``TUNED`` (and ``gamma`` with ``--pbt_optimize_gamma``). Every member trains
``--train_for_env_steps`` agent-steps (its learning-rate schedule runs over that budget). The summaries of
``<experiment>/.summary`` hold, per member and update, ``pbt/member_<i>/<hyperparameter>``, ``pbt/member_<i>/
objective`` and ``pbt/member_<i>/replaced_by`` (the member whose weights it took, -1 for none); ``pbt.json`` holds
the population's state (a resumed run continues it) and every replacement and mutation.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

from marl_sf.checkpoint import checkpoint_dir, find_checkpoint
from marl_sf.experiment_dir import prepare_experiment_dir
from marl_sf.utils.experiment_lock import ExperimentLock
from marl_sf.utils.io import atomic_write, write_json

log = logging.getLogger(__name__)

TUNED = ("learning_rate", "exploration_loss_coeff", "value_loss_coeff", "max_grad_norm", "ppo_clip_ratio",
         "ppo_clip_value")  # fmt: skip
_BACK_TO_DEFAULT = 0.01
_GAMMA_FACTOR = (1.01, 1.2)  # gamma moves slowly: 1 - gamma is perturbed by a smaller factor


class PBTConfigError(ValueError):
    """A PBT configuration marl_sf does not run; the message says which option and what to give."""


@dataclass
class Member:
    """One member of the population: its hyperparameters and its last objective."""

    index: int
    hyperparams: dict[str, float]
    objective: float | None = None
    replaced_by: int = -1  # the member whose weights it took at the last update (-1: none)
    agent_steps: int = 0  # how far it has trained in the current period (a resumed population skips it then)


@dataclass
class PopulationState:
    """What ``pbt.json`` holds: the members, the agent-steps each has trained, and the events so far."""

    members: list[Member]
    agent_steps: int = 0
    events: list[dict] = field(default_factory=list)


class PopulationBasedTraining:
    """The PBT controller of one experiment (see the module docstring).

    Args:
        cfg: the experiment's config (``with_pbt``, ``num_policies`` members, the ``pbt_*`` options).
        train_member: ``train_member(member_cfg, stop_at_agent_steps) -> (exit code, objective or None)``: trains a
            member until that many agent-steps (``marl_sf.train`` passes one that runs a ``Trainer``).

    Raises:
        PBTConfigError: fewer than 2 members, a period that is not positive, ``--num_learners`` above 1 or
            ``--pbt_mix_policies_in_one_env`` (not supported).
    """

    def __init__(self, cfg, train_member):
        if cfg.num_policies < 2:
            raise PBTConfigError(f"--with_pbt needs a population: --num_policies={cfg.num_policies}; give 2 or more")
        if cfg.num_learners > 1:
            raise PBTConfigError(
                "--with_pbt trains its members one after another in this process: give --num_learners=1"
            )
        if cfg.pbt_period_env_steps <= 0:
            raise PBTConfigError(f"--pbt_period_env_steps={cfg.pbt_period_env_steps}: give a positive number of "
                                 "agent-steps")  # fmt: skip
        if cfg.pbt_mix_policies_in_one_env:
            raise PBTConfigError("--pbt_mix_policies_in_one_env is not supported: each member has its own envs (for "
                             "policies that meet in an env use self-play pools, docs/selfplay.md)")  # fmt: skip
        self.cfg, self.train_member = cfg, train_member
        self.tuned = TUNED + (("gamma",) if cfg.pbt_optimize_gamma else ())
        self.rng = random.Random(cfg.seed)
        self.exp_dir = Path(cfg.train_dir) / cfg.experiment
        self.writer = None

    def run(self) -> int:
        """Train the population to ``--train_for_env_steps`` agent-steps per member; returns 0, or a member's
        non-zero exit code (2: interrupted) after saving the population's state."""
        lock = ExperimentLock(self.cfg.train_dir, self.cfg.experiment)
        lock.acquire()
        try:
            prepare_experiment_dir(self.cfg)  # --restart_behavior applies to the whole population
            state = self.load_or_start()
            while state.agent_steps < self.cfg.train_for_env_steps:
                target = min(state.agent_steps + self.cfg.pbt_period_env_steps, self.cfg.train_for_env_steps)
                for member in state.members:
                    if member.agent_steps >= target:
                        continue  # trained this period before an interrupted run stopped
                    code, objective = self.train_member(self.member_cfg(member), target)
                    if code != 0:
                        self._save(state)
                        return code
                    member.agent_steps = target
                    member.objective = objective if objective is not None else member.objective
                state.agent_steps = target
                if self.cfg.pbt_start_mutation <= target < self.cfg.train_for_env_steps:
                    self.update(state)
                self._summaries(state)
                self._save(state)
            return 0
        finally:
            if self.writer is not None:
                self.writer.close()
            lock.release()

    def member_cfg(self, member: Member):
        """The config member ``member`` trains with: the experiment's, in ``<experiment>/member_<i>``, its own seed
        and hyperparameters."""
        cfg = copy.deepcopy(self.cfg)
        cfg.update(member.hyperparams)
        cfg.update(train_dir=str(self.exp_dir), experiment=f"member_{member.index}", seed=self.cfg.seed + member.index,
                   with_pbt=False, num_policies=-1, restart_behavior="resume", save_plots=False)  # fmt: skip
        return cfg

    def update(self, state: PopulationState) -> None:
        """One exploit-and-explore step over the population (see the module docstring)."""
        ranked = sorted(state.members, key=lambda m: -math.inf if m.objective is None else m.objective, reverse=True)
        count = math.ceil(self.cfg.pbt_replace_fraction * len(ranked))
        best, worst = ranked[:count], {m.index for m in ranked[-count:]}
        log.info("PBT update at %d agent-steps per member: ranking %s", state.agent_steps,
                 ", ".join(f"member {m.index} ({m.objective if m.objective is not None else float('nan'):.3f})"
                           for m in ranked))  # fmt: skip
        for member in ranked:
            member.replaced_by = -1
        for member in ranked[count:]:
            source = member
            if member.index in worst and member.objective is not None:
                candidate = self.rng.choice(best)
                gap = candidate.objective - member.objective
                if gap > self.cfg.pbt_replace_reward_gap_absolute and gap > self.cfg.pbt_replace_reward_gap * abs(
                    candidate.objective
                ):
                    source = candidate
            if source is not member:
                self._copy_weights(source, member)
                state.events.append({"agent_steps": state.agent_steps, "replaced": member.index, "by": source.index,
                                     "objectives": [source.objective, member.objective]})  # fmt: skip
                log.info("PBT: member %d (objective %.3f) takes the weights and hyperparameters of member %d (%.3f)",
                         member.index, member.objective, source.index, source.objective)  # fmt: skip
            params = dict(source.hyperparams)
            if member.index != 0:
                params = self.perturb(params)
            for name in sorted(params):
                if params[name] != member.hyperparams.get(name):
                    state.events.append({"agent_steps": state.agent_steps, "member": member.index, "param": name,
                                         "from": member.hyperparams.get(name), "to": params[name]})  # fmt: skip
            member.hyperparams = params
            member.replaced_by = source.index if source is not member else -1

    def perturb(self, params: dict[str, float]) -> dict[str, float]:
        """Each hyperparameter perturbed with probability ``--pbt_mutation_rate`` (see the module docstring)."""
        out = dict(params)
        for name, value in params.items():
            if self.rng.random() > self.cfg.pbt_mutation_rate:
                continue
            default = self.cfg[name]
            if value != default and self.rng.random() < _BACK_TO_DEFAULT:
                out[name] = default
            elif name == "gamma":
                out[name] = 1.0 - self._scaled(1.0 - value, *_GAMMA_FACTOR)
            else:
                out[name] = self._scaled(value, self.cfg.pbt_perturb_min, self.cfg.pbt_perturb_max)
        return out

    def _scaled(self, value: float, low: float, high: float) -> float:
        """``value`` multiplied or divided (even odds) by a factor drawn uniformly in ``[low, high]``."""
        factor = self.rng.uniform(low, high)
        return value * factor if self.rng.random() < 0.5 else value / factor

    def _copy_weights(self, source: Member, target: Member) -> None:
        """Make ``source``'s latest checkpoints ``target``'s latest, for every policy (its older ones removed)."""
        source_dir, target_dir = self.exp_dir / f"member_{source.index}", self.exp_dir / f"member_{target.index}"
        for folder in sorted(source_dir.glob("checkpoint_p*")):
            policy_id = int(folder.name.removeprefix("checkpoint_p"))
            latest = find_checkpoint(source_dir, policy_id)
            if latest is None:
                continue
            destination = checkpoint_dir(target_dir, policy_id)
            data = latest.read_bytes()
            atomic_write(destination / latest.name, lambda f, data=data: f.write(data))
            for old in destination.glob("checkpoint_*.pth"):
                if old.name != latest.name:
                    old.unlink()

    def load_or_start(self) -> PopulationState:
        """The saved population (resume), or a new one: member 0 with the config's hyperparameters, the others
        perturbed from them."""
        saved = self.exp_dir / "pbt.json"
        if saved.exists():
            data = json.loads(saved.read_text())
            members = [Member(**m) for m in data["members"]]
            log.info("PBT: resuming the population at %d agent-steps per member", data["agent_steps"])
            if data.get("rng_state") is not None:
                version, internal, gauss = data["rng_state"]
                self.rng.setstate((version, tuple(internal), gauss))
            return PopulationState(members, data["agent_steps"], data["events"])
        defaults = {name: self.cfg[name] for name in self.tuned}
        members = [Member(i, dict(defaults) if i == 0 else self.perturb_all(defaults)) for i in
                   range(self.cfg.num_policies)]  # fmt: skip
        return PopulationState(members)

    def perturb_all(self, params: dict[str, float]) -> dict[str, float]:
        """Every hyperparameter perturbed once (a new member's start)."""
        out = {}
        for name, value in params.items():
            if name == "gamma":
                out[name] = 1.0 - self._scaled(1.0 - value, *_GAMMA_FACTOR)
            else:
                out[name] = self._scaled(value, self.cfg.pbt_perturb_min, self.cfg.pbt_perturb_max)
        return out

    def _save(self, state: PopulationState) -> None:
        data = {"members": [asdict(m) for m in state.members], "agent_steps": state.agent_steps,
                "events": state.events, "rng_state": list(self.rng.getstate())}  # fmt: skip
        write_json(self.exp_dir / "pbt.json", data)

    def _summaries(self, state: PopulationState) -> None:
        """The population's hyperparameters, objectives and replacements at this update, in the summaries."""
        if self.writer is None:
            from tensorboardX import SummaryWriter

            self.writer = SummaryWriter(str(self.exp_dir / ".summary"))
        for m in state.members:
            tag = f"pbt/member_{m.index}"
            for name, value in m.hyperparams.items():
                self.writer.add_scalar(f"{tag}/{name}", value, state.agent_steps)
            if m.objective is not None:
                self.writer.add_scalar(f"{tag}/objective", m.objective, state.agent_steps)
            self.writer.add_scalar(f"{tag}/replaced_by", m.replaced_by, state.agent_steps)
        self.writer.flush()
