"""The PPO learner of one policy, with MAPPO's practice (Yu et al. 2022).

Per rollout: GAE per agent (``compute_gae``), value targets folded into the running ``ValueNorm``,
advantage normalization, then ``num_epochs`` passes of ``minibatch_count`` minibatches with the
clipped surrogate, the clipped value loss and the entropy bonus; Adam with grad-norm clipping and a
constant or linearly decaying learning rate. Inactive agent-steps are masked out of every loss.

Non-finite values stop the update before they touch any state: advantages and value targets before they
reach the value normalizer, losses and the gradient norm before the optimizer step (``NonFiniteError``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch

from marl_sf.algo.distributed import Reducer, global_cells
from marl_sf.algo.gae import compute_gae
from marl_sf.algo.losses import (
    entropy_bonus,
    kl_penalty,
    normalize_advantages,
    policy_loss,
    symmetric_kl_exploration,
    value_loss,
)
from marl_sf.algo.storage import RolloutStorage
from marl_sf.algo.value_norm import ValueNorm
from marl_sf.algo.vtrace import compute_vtrace
from marl_sf.models.actor_critic import EvaluationResult
from marl_sf.models.batch import PolicyBatch
from marl_sf.utils.extras import MissingExtraError
from marl_sf.utils.finite import NonFiniteError


def minibatch_count(cfg, storage: RolloutStorage, shards: int = 1) -> int:
    """Minibatches per epoch for one policy's rollout of ``rows = rollout * num_envs * A_p`` agent-steps (with
    ``shards`` data-parallel learners holding ``num_envs`` envs each: of all their envs).

    ``--batch_size`` (agent-steps) when it is set (> 0): ``round(rows / batch_size)``, at least 1; a batch size
    that does not divide the rollout gives near-equal minibatches. Otherwise ``--num_minibatches`` (MAPPO's
    ``num_mini_batch``). Either way the count is clipped to the units a minibatch is made of ((step, env) cells
    holding all of the policy's agents; with an RNN, whole env columns of T steps), so no config contradicts the
    rollout, whatever the number of agents.
    """
    return max(min(_requested_count(cfg, storage, shards), minibatch_units(cfg, storage, shards)), 1)


def _requested_count(cfg, storage: RolloutStorage, shards: int = 1) -> int:
    """The minibatch count the options ask for, before clipping to whole units."""
    rows = storage.rollout * storage.num_envs * shards * storage.num_agents
    return max(round(rows / cfg.batch_size), 1) if cfg.batch_size > 0 else cfg.num_minibatches


def minibatch_units(cfg, storage: RolloutStorage, shards: int = 1) -> int:
    """The indivisible pieces of a rollout that minibatches are made of (see ``minibatch_count``)."""
    envs = storage.num_envs * shards
    return envs if storage.recurrent else storage.rollout * envs


def describe_minibatches(cfg, storage: RolloutStorage, policy_id: int, shards: int = 1) -> str | None:
    """A note when the minibatches differ from what was asked (a batch size clipped or not dividing the
    rollout of all ``shards`` data-parallel learners); None when they are as asked."""
    rows = storage.rollout * storage.num_envs * shards * storage.num_agents
    count = minibatch_count(cfg, storage, shards)
    asked = f"--batch_size={cfg.batch_size}" if cfg.batch_size > 0 else f"--num_minibatches={cfg.num_minibatches}"
    exact = cfg.batch_size <= 0 or rows % cfg.batch_size == 0
    if count == _requested_count(cfg, storage, shards) and exact:
        return None
    return (
        f"policy {policy_id}: {asked} on a rollout of {rows} agent-steps (rollout={storage.rollout} x "
        f"num_envs={storage.num_envs * shards} x agents={storage.num_agents}): {count} minibatches of about "
        f"{rows // count} agent-steps per epoch"
    )


@dataclass
class Minibatch:
    """One minibatch of n (step, env) cells of one policy, each with all of the policy's A_p agents.

    Attributes:
        inputs: the model inputs of the n cells (``PolicyBatch``; recurrent: ``num_steps`` time-major steps of
            ``n / num_steps`` env columns, with the stored states of each cell).
        actions: ``[n, A_p, ...]`` the actions taken (stored layout).
        old_log_probs: ``[n, A_p]`` their log-probs under the policy that sampled them.
        old_values: ``[n, A_p]`` the values then (model units).
        advantages: ``[n, A_p]`` GAE advantages (normalized with ``--normalize_advantages``).
        targets: ``[n, A_p]`` value targets (model units: normalized with ``--normalize_returns``).
        mask: ``[n, A_p]`` bool, the agent-steps the policy took (others are left out of every loss).
        episode_start: ``[n]`` bool, the cell's env started an episode at that step (where an unroll resets).
        num_steps: T for a recurrent policy's whole env columns (unrolled in time order), else 1.
    """

    inputs: PolicyBatch
    actions: torch.Tensor
    old_log_probs: torch.Tensor
    old_values: torch.Tensor
    advantages: torch.Tensor
    targets: torch.Tensor
    mask: torch.Tensor
    episode_start: torch.Tensor
    num_steps: int = 1

    def select(self, cells: torch.Tensor) -> Minibatch:
        """The cells ``cells`` (``[n]`` indices into this batch's cells) as a minibatch of their own."""
        tensors = (self.actions, self.old_log_probs, self.old_values, self.advantages, self.targets, self.mask,
                   self.episode_start)  # fmt: skip
        return Minibatch(self.inputs.select(cells), *(x[cells] for x in tensors), self.num_steps)


_VALUE_PASS_FLOATS = 2**25  # input numbers (observations and states) per values_only pass of ``Learner.fill_values``


class Learner:
    """Optimizes one policy's actor-critic on its rollouts.

    Args:
        cfg: config (the ``ppo`` options).
        model: the policy's ``ActorCritic``.
        device: where the model lives.
        reducer: sums over data-parallel learners (``marl_sf.algo.distributed``); by default the
            ``torch.distributed`` group when one is initialized, else none (one learner).
    """

    def __init__(self, cfg, model, device: torch.device, reducer: Reducer | None = None):
        self.cfg, self.model, self.device = cfg, model, device
        self.reducer = reducer or Reducer()
        # the minibatch draw: the same on every data-parallel learner, whatever else consumed random numbers
        self.generator = torch.Generator().manual_seed(cfg.seed if cfg.seed is not None else 0)
        self.value_norm = ValueNorm().to(device) if cfg.normalize_returns else None
        self.optimizer = make_optimizer(cfg, model.parameters())  # MissingExtraError: lamb without torch-optimizer
        self.train_step = 0
        # the learning rate in effect; with --lr_schedule=kl_adaptive_* the adapted one, which persists across updates
        # and in checkpoints (Sample Factory 2's curr_lr)
        self.curr_lr = cfg.learning_rate
        self._epoch_kls: list[float] = []  # approx_kl of each minibatch of the epoch under way (kl_adaptive_epoch)
        self._epoch_minibatches = 0  # minibatches in that epoch (``_minibatches`` sets it)

    def state_dict(self) -> dict:
        """Model, optimizer and value-normalizer state, the minibatch draw's generator and the learning rate in
        effect, ``curr_lr`` (what a checkpoint keeps)."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "value_norm": self.value_norm.state_dict() if self.value_norm is not None else None,
            "train_step": self.train_step,
            "minibatch_rng": self.generator.get_state(),
            "curr_lr": self.curr_lr,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore what ``state_dict`` returned (a checkpoint saved before ``curr_lr`` was kept starts it at
        ``--learning_rate``, as Sample Factory 2 does)."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.value_norm is not None and state.get("value_norm") is not None:
            self.value_norm.load_state_dict(state["value_norm"])
        self.train_step = state.get("train_step", 0)
        if state.get("minibatch_rng") is not None:
            self.generator.set_state(state["minibatch_rng"].cpu())
        self.curr_lr = float(state.get("curr_lr", self.cfg.learning_rate))

    def set_learning_rate(self, progress: float) -> float:
        """Apply ``lr_schedule`` at training progress in [0, 1]; returns the learning rate used.

        ``constant`` and ``linear_decay`` compute it from ``--learning_rate``. ``kl_adaptive_minibatch`` and
        ``kl_adaptive_epoch`` return the adapted rate ``curr_lr`` as it is (``progress`` is not used): it starts at
        ``--learning_rate`` and the update changes it after each minibatch or epoch (``kl_adaptive_lr``).
        """
        if self.cfg.lr_schedule in ("kl_adaptive_minibatch", "kl_adaptive_epoch"):
            lr = self.curr_lr
        else:
            lr = self.cfg.learning_rate
            if self.cfg.lr_schedule == "linear_decay":
                lr *= max(1.0 - progress, 0.0)
        self._apply_lr(lr)
        return lr

    def _apply_lr(self, lr: float) -> None:
        """Make ``lr`` the learning rate in effect (``curr_lr``) and the optimizer's."""
        self.curr_lr = lr
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def denormalize(self, values: torch.Tensor) -> torch.Tensor:
        """Model value outputs -> return units."""
        return self.value_norm.denormalize(values) if self.value_norm is not None else values

    def fill_values(self, st: RolloutStorage) -> None:
        """The values the sampler did not write, from the model's ``value`` in batched passes: slot T's (the
        observation after the rollout), and every slot's for a model whose ``act`` returns none
        (``ActorCritic.values_from_act`` False: a feed-forward critic, so a step's value depends on that step's
        input alone). Runs before the update touches the weights or the input statistics, so the values are those
        of the weights that sampled the rollout (with ``--async_rl``, of the newer weights). Passes of
        about ``_VALUE_PASS_FLOATS`` input numbers bound the memory."""
        first = st.rollout if self.model.values_from_act else 0
        per_cell = sum(v[0, 0].numel() for v in st.obs.values())  # one env's observations of every agent
        per_cell += st.state[0, 0].numel() if st.state is not None else 0
        slots = max(1, _VALUE_PASS_FLOATS // (per_cell * st.num_envs))  # time slots per pass
        with torch.no_grad():
            for start in range(first, st.rollout + 1, slots):
                steps = slice(start, min(start + slots, st.rollout + 1))
                batch = st.batch(  # n * E cells in (t, e) order
                    steps, self.cfg.obs_scale, obs_subtract_mean=self.cfg.obs_subtract_mean
                )
                values = self.model.value(batch)  # [n * E, A_p]
                st.values[steps] = values.view(-1, st.num_envs, st.num_agents)  # [n * E, A_p] -> [n, E, A_p]

    def log_rhos(self, st: RolloutStorage) -> torch.Tensor:
        """``[T, E, A_p]`` log importance weights ``log pi(a_t) - log mu(a_t)`` of the rollout's actions: the current
        weights' log-probabilities (one ``evaluate`` pass over the whole rollout, recurrent policies unrolled from the
        stored initial states) over the stored behaviour log-probabilities; 0 on inactive agent-steps. The same pass
        writes the current critic's values into ``st.values[:T]`` (model units), so that V-trace, the value clipping
        and the statistics use the current weights' values, not the sampler's."""
        cells = Minibatch(st.batch(slice(0, st.rollout), self.cfg.obs_scale,
                                   obs_subtract_mean=self.cfg.obs_subtract_mean), st.actions.flatten(0, 1),
                          st.log_probs.flatten(0, 1), None, None, None, st.active[:-1].flatten(0, 1),
                          st.episode_start[:-1].flatten(0, 1), st.rollout if st.recurrent else 1)  # fmt: skip
        with torch.no_grad():
            out = self._evaluate(cells)  # [T * E, A_p] each
        st.values[:-1] = out.values.view(st.rollout, st.num_envs, st.num_agents)  # [T * E, A_p] -> [T, E, A_p]
        log_rhos = (out.log_probs - cells.old_log_probs).view(st.rollout, st.num_envs, st.num_agents)  # -> [T, E, A_p]
        return torch.where(st.active[:-1], log_rhos, torch.zeros_like(log_rhos))

    def compute_targets(self, st: RolloutStorage) -> tuple[torch.Tensor, torch.Tensor]:
        """Advantages and value targets ``[T, E, A_p]`` (return units) for the rollout in ``st``; first the values
        the sampler did not write (``fill_values``).

        A time-limit truncation ends the trajectory like a termination unless ``--value_bootstrap`` is on, in
        which case the target bootstraps from V(final observation) (Pardo et al. 2018, "Time Limits in
        Reinforcement Learning", partial-episode bootstrapping). Off by default, as in Sample Factory and
        CleanRL: when the time limit is the task's own horizon and the observation carries no time, the
        bootstrapped value of the last states is learned only from itself, and the policy can be drawn to
        states the critic over-values (docs/results.md, "Generic defaults on an env nobody tuned for").

        With ``--with_vtrace`` the advantages and value targets are V-trace's (``marl_sf.algo.vtrace``), corrected for
        the policy lag of asynchronous sampling with the current weights' log-probabilities; otherwise GAE.
        """
        self.fill_values(st)
        truncated = st.truncated if self.cfg.value_bootstrap else torch.zeros_like(st.truncated)
        terminated = st.terminated if self.cfg.value_bootstrap else st.terminated | st.truncated
        if self.cfg.with_vtrace:
            cfg, log_rhos = self.cfg, self.log_rhos(st)  # first: it writes the current values into st.values
            values, bootstrap_values = self.denormalize(st.values), self.denormalize(st.bootstrap_values)
            return compute_vtrace(st.rewards, values, terminated, truncated, bootstrap_values, st.active[:-1],
                                  log_rhos, cfg.gamma, cfg.vtrace_rho, cfg.vtrace_c)  # fmt: skip
        values, bootstrap_values = self.denormalize(st.values), self.denormalize(st.bootstrap_values)
        with torch.no_grad():
            return compute_gae(
                st.rewards,
                values,
                terminated,
                truncated,
                bootstrap_values,
                st.active[:-1],
                self.cfg.gamma,
                self.cfg.gae_lambda,
            )

    def train(self, st: RolloutStorage, policy_id: int = 0) -> dict[str, float]:
        """One PPO update on the rollout in ``st``; returns averaged training statistics (none but
        ``active_fraction = 0`` when no agent of the policy acted: the update is skipped).

        Raises:
            NonFiniteError: an advantage, a value target, a loss or the gradient norm is NaN or inf; the
                message names the policy, the train step and the quantity. Minibatch steps already taken
                in this update stay (they were finite); the failing one is not applied.
        """
        all_sum = self.reducer.sum
        num_minibatches = minibatch_count(self.cfg, st, self.reducer.world_size)
        active = st.active[:-1]  # [T, E, A_p]
        if all_sum(active.sum()) == 0:  # opponents played every agent of this policy (self-play): nothing to learn
            return {"active_fraction": 0.0}
        advantages, returns = self.compute_targets(st)
        where = f"policy {policy_id}, train_step {self.train_step}"
        self._check_finite({"advantages": advantages[active], "value targets (returns)": returns[active]}, where)
        if self.value_norm is not None:
            self.value_norm.update(returns[active], all_sum)
            targets = self.value_norm.normalize(returns)
        else:
            targets = returns
        if self.cfg.normalize_advantages:
            advantages = normalize_advantages(advantages, active, all_sum=all_sum)
        batch = st.batch(  # N = T * E cells in (t, e) order
            slice(0, st.rollout), self.cfg.obs_scale, obs_subtract_mean=self.cfg.obs_subtract_mean
        )
        cells_active = active.flatten(0, 1)  # [T, E, A_p] -> [T * E, A_p]
        self.model.update_normalizer(batch, cells_active, all_sum)
        rollout = Minibatch(  # every cell, [T * E, A_p, ...]
            batch,
            st.actions.flatten(0, 1),
            st.log_probs.flatten(0, 1),
            st.values[:-1].flatten(0, 1),
            advantages.flatten(0, 1),
            targets.flatten(0, 1),
            cells_active,
            st.episode_start[:-1].flatten(0, 1),  # [T, E] -> [T * E]
            st.rollout if st.recurrent else 1,
        )
        totals: dict[str, float] = {}
        for epoch in range(self.cfg.num_epochs):
            for m, cells in enumerate(self._minibatches(st, num_minibatches)):
                where_mb = f"{where}, epoch {epoch}, minibatch {m}"
                for k, v in self._update(rollout.select(cells), where_mb).items():
                    totals[k] = totals.get(k, 0.0) + v / (self.cfg.num_epochs * num_minibatches)
        self.train_step += 1
        values = self.denormalize(st.values[:-1])
        totals["explained_variance"] = _explained_variance(values, returns, active, all_sum)
        return totals

    def _minibatches(self, st: RolloutStorage, num_minibatches: int):
        """Cell indices (into this learner's ``T * E`` cells, (t, e) order) of each minibatch of one epoch,
        ``num_minibatches`` near-equal parts (``torch.tensor_split``): random (step, env) cells; with an RNN, whole env
        columns in time order. With data-parallel learners the draw is over every learner's cells (the same on each,
        from ``self.generator``) and each keeps its own.

        ``--shuffle_minibatches=False``: contiguous ranges in order instead, the same every epoch (cells ``t * E_all +
        e`` in (t, e) order; with an RNN, env columns in order), and ``self.generator`` is not drawn from.

        Each call starts an epoch: with ``--lr_schedule=kl_adaptive_epoch``, ``_update`` adapts the learning rate to
        the mean ``approx_kl`` of the epoch's minibatches after the last of them.
        """
        rank, shards = self.reducer.rank, self.reducer.world_size
        all_envs = st.num_envs * shards
        shuffle = self.cfg.shuffle_minibatches
        if not st.recurrent:
            cells = st.rollout * all_envs
            order = torch.randperm(cells, generator=self.generator) if shuffle else torch.arange(cells)
            parts = [global_cells(p, st.num_envs, rank, shards) for p in torch.tensor_split(order, num_minibatches)]
        else:
            steps = torch.arange(st.rollout).unsqueeze(1) * all_envs  # [T, 1]
            order = torch.randperm(all_envs, generator=self.generator) if shuffle else torch.arange(all_envs)
            parts = []
            for envs in torch.tensor_split(order, num_minibatches):
                columns = (steps + envs.unsqueeze(0)).reshape(-1)  # [T * n_envs] cells, time-major
                parts.append(global_cells(columns, st.num_envs, rank, shards))
        self._epoch_kls, self._epoch_minibatches = [], len(parts)
        for part in parts:
            yield part.to(self.device)

    def _evaluate(self, mb: Minibatch) -> EvaluationResult:
        """The model's ``evaluate`` of the minibatch's actions, ``[n, A_p]`` each; a recurrent policy's env
        columns are unrolled over their ``num_steps`` steps from the stored initial states, reset at episode
        starts."""
        if mb.num_steps == 1:
            return self.model.evaluate(mb.inputs, mb.actions)
        n_envs = mb.inputs.num_envs // mb.num_steps
        h = mb.inputs.rnn_states[:n_envs]  # [n_envs, A_p, R]: step 0 of each column, the rollout's initial states
        starts = mb.episode_start.view(mb.num_steps, n_envs)  # [T * n_envs] -> [T, n_envs]
        actions = mb.actions.view(mb.num_steps, n_envs, *mb.actions.shape[1:])  # [T, n_envs, A_p, ...]
        outs = []
        for t, step in enumerate(mb.inputs.split_steps(mb.num_steps)):
            h = h * (~starts[t]).view(-1, 1, 1)
            out = self.model.evaluate(replace(step, rnn_states=h), actions[t])
            h = out.new_rnn_states
            outs.append(out)
        return EvaluationResult(  # every field over the steps; one a model leaves None (symmetric_kl) stays None
            **{f.name: None if getattr(outs[0], f.name) is None else torch.cat([getattr(o, f.name) for o in outs])
               for f in fields(EvaluationResult)}
        )  # fmt: skip

    def _update(self, mb: Minibatch, where: str = "") -> dict[str, float]:
        """One gradient step on the minibatch ``mb``; returns its statistics.

        The loss is ``policy_loss + value_loss_coeff * value_loss + exploration_loss + kl_loss``, as Sample Factory
        2's: ``exploration_loss`` is ``-exploration_loss_coeff * entropy`` (``--exploration_loss=entropy``) or
        ``exploration_loss_coeff * symmetric_kl_exploration`` (``symmetric_kl``), ``kl_loss`` is ``kl_loss_coeff *
        kl_penalty`` (0 when the coefficient is). With ``--lr_schedule=kl_adaptive_minibatch`` the learning rate is
        adapted to the minibatch's ``approx_kl`` (taken before the step) after the step (``kl_adaptive_lr``); with
        ``kl_adaptive_epoch``, after the epoch's last minibatch (``_minibatches``), to the epoch's mean ``approx_kl``.

        Raises:
            NonFiniteError: a loss or the gradient norm is not finite (``where`` says where); no step is taken.
            ValueError: ``--exploration_loss=symmetric_kl`` and the model's ``evaluate`` returned no
                ``symmetric_kl`` (a custom ``evaluate``); no step is taken.
        """
        cfg = self.cfg
        # this learner's share of the minibatch: its active agent-steps over all learners' (1 for one learner)
        mask = mb.mask.flatten()  # [n, A_p] -> [n * A_p] rows, as every loss input below
        local = mask.sum().float()
        share = local / self.reducer.sum(local).clamp(min=1.0)
        out = self._evaluate(mb)  # [n, A_p] each
        pi_loss, clip_fraction, approx_kl = policy_loss(
            out.log_probs.flatten(), mb.old_log_probs.flatten(), mb.advantages.flatten(), cfg.ppo_clip_ratio, mask
        )
        v_loss = value_loss(out.values.flatten(), mb.old_values.flatten(), mb.targets.flatten(), cfg.ppo_clip_value,
                            mask)  # fmt: skip
        entropy = entropy_bonus(out.entropy.flatten(), mask)
        exploration = -cfg.exploration_loss_coeff * entropy
        if cfg.exploration_loss == "symmetric_kl" and cfg.exploration_loss_coeff != 0.0:
            if out.symmetric_kl is None:
                raise ValueError(
                    f"--exploration_loss=symmetric_kl: {type(self.model).__name__}.evaluate returned no symmetric_kl "
                    "(EvaluationResult.symmetric_kl is None). Fill it as ActorCritic.evaluate does, with "
                    "marl_sf.models.action_distribution.symmetric_kl_with_uniform_prior(dist), or use "
                    "--exploration_loss=entropy"
                )
            exploration = cfg.exploration_loss_coeff * symmetric_kl_exploration(out.symmetric_kl.flatten(), mask)
        kl_loss = pi_loss.new_zeros(())
        if cfg.kl_loss_coeff != 0.0:
            kl_loss = cfg.kl_loss_coeff * kl_penalty(out.log_probs.flatten(), mb.old_log_probs.flatten(), mask)
        loss = pi_loss + cfg.value_loss_coeff * v_loss + exploration + kl_loss
        self.optimizer.zero_grad(set_to_none=True)
        (loss * share).backward()  # summed over learners: the gradient of the whole minibatch's loss
        self.reducer.sum_gradients(self.model.parameters())
        grad_norm = torch.nn.utils.clip_grad_norm_(
            self.model.parameters(), cfg.max_grad_norm if cfg.max_grad_norm > 0 else float("inf")
        )
        parts = torch.stack([pi_loss, v_loss, entropy, loss, approx_kl, clip_fraction, exploration, kl_loss]).detach()
        # whole-minibatch means
        pi_loss, v_loss, entropy, loss, approx_kl, clip_fraction, exploration, kl_loss = self.reducer.sum(parts * share)
        quantities = {"policy_loss": pi_loss, "value_loss": v_loss, "entropy": entropy, "loss": loss}
        self._check_finite({**quantities, "gradient norm": grad_norm}, where)
        self.optimizer.step()
        kl = None  # the KL the learning rate adapts to now (kl_adaptive_*)
        if cfg.lr_schedule == "kl_adaptive_minibatch":
            kl = approx_kl.item()
        elif cfg.lr_schedule == "kl_adaptive_epoch":
            self._epoch_kls.append(approx_kl.item())
            if len(self._epoch_kls) == self._epoch_minibatches:  # the epoch's last minibatch
                kl = sum(self._epoch_kls) / len(self._epoch_kls)
        if kl is not None:
            self._apply_lr(kl_adaptive_lr(self.curr_lr, kl, cfg.lr_schedule_kl_threshold, cfg.lr_adaptive_min,
                                          cfg.lr_adaptive_max))  # fmt: skip
        active = self.reducer.sum(torch.stack([local, mask.new_tensor(mask.numel(), dtype=torch.float32)]))
        return {
            "loss": loss.item(),
            "policy_loss": pi_loss.item(),
            "value_loss": v_loss.item(),
            "entropy": entropy.item(),
            "approx_kl": approx_kl.item(),
            "clip_fraction": clip_fraction.item(),
            "exploration_loss": exploration.item(),
            "kl_loss": kl_loss.item(),
            "grad_norm": grad_norm.item(),
            "active_fraction": (active[0] / active[1].clamp(min=1.0)).item(),
        }

    def _check_finite(self, quantities: dict[str, torch.Tensor], where: str) -> None:
        """Raise ``NonFiniteError`` naming the first of ``quantities`` (tensors of any shape) that holds NaN or
        inf on any data-parallel learner (all of them raise, none waits for the others); one device sync."""
        finite = torch.stack([torch.isfinite(q).all() for q in quantities.values()])
        finite = self.reducer.sum((~finite).float()) == 0  # [Q]: finite on every learner
        if bool(finite.all()):
            return
        name, value = next((n, q) for (n, q), ok in zip(quantities.items(), finite.tolist(), strict=True) if not ok)
        bad = int((~torch.isfinite(value)).sum())
        shown = value.item() if value.numel() == 1 else f"{bad} of {value.numel()} values"
        if bad == 0:
            shown = f"on learner process {self.reducer.rank} of {self.reducer.world_size}: finite here, not on another"
        raise NonFiniteError(
            f"non-finite {name} ({shown}) in the learner ({where}): the update is not applied and the run stops; "
            "the newest checkpoint holds the last finite weights. Check the scale of the rewards and observations, "
            "or lower --learning_rate"
        )


def _explained_variance(values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor, all_sum) -> float:
    """``1 - Var[R - V] / Var[R]`` over active steps of every learner's shard (1 is perfect, 0 is no better than a
    constant)."""
    v, r = values[mask].double(), returns[mask].double()
    n, sum_r, sum_e = all_sum(torch.stack([r.new_tensor(r.numel()), r.sum(), (r - v).sum()]))
    if n < 2:
        return float("nan")
    var_r, var_e = all_sum(torch.stack([((r - sum_r / n) ** 2).sum(), ((r - v - sum_e / n) ** 2).sum()]))
    return float("nan") if var_r.item() == 0 else float(1.0 - var_e / var_r)


def kl_adaptive_lr(lr: float, kl: float, threshold: float, lr_min: float, lr_max: float) -> float:
    """Sample Factory 2's ``KlAdaptiveScheduler.update`` (``--lr_schedule=kl_adaptive_minibatch|kl_adaptive_epoch``):
    the learning rate after a minibatch or an epoch whose mean ``KL(behaviour || current)`` estimate was ``kl``
    (nats): ``max(lr / 1.5, lr_min)`` when ``kl > 2 * threshold``, ``min(lr * 1.5, lr_max)`` when ``kl < threshold /
    2``, else ``lr`` (``threshold``: ``--lr_schedule_kl_threshold``; ``lr_min``, ``lr_max``: ``--lr_adaptive_min``,
    ``--lr_adaptive_max``)."""
    if kl > 2.0 * threshold:
        lr = max(lr / 1.5, lr_min)
    if kl < 0.5 * threshold:
        lr = min(lr * 1.5, lr_max)
    return lr


def make_optimizer(cfg, params) -> torch.optim.Optimizer:
    """The ``--optimizer`` over ``params``, with ``lr=--learning_rate``, ``betas=(--adam_beta1, --adam_beta2)``,
    ``eps=--adam_eps``: ``adam`` (``torch.optim.Adam``), or ``lamb``, LAMB (You et al. 2020, "Large Batch Optimization
    for Deep Learning: Training BERT in 76 minutes"), ``torch_optimizer.Lamb`` from the ``torch-optimizer`` package
    with its other defaults (no weight decay; Sample Factory 2 ships its own LAMB, with weight decay 1e-4).

    Raises:
        MissingExtraError: ``lamb`` and ``torch-optimizer`` is not installed; the message says ``pip install
            torch-optimizer``.
        ValueError: another optimizer name.
    """
    kwargs = dict(lr=cfg.learning_rate, betas=(cfg.adam_beta1, cfg.adam_beta2), eps=cfg.adam_eps)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, **kwargs)
    if cfg.optimizer == "lamb":
        try:
            import torch_optimizer
        except ImportError:
            raise MissingExtraError(
                "--optimizer=lamb needs torch_optimizer, which is not installed: pip install torch-optimizer"
            ) from None
        return torch_optimizer.Lamb(params, **kwargs)
    raise ValueError(f"--optimizer={cfg.optimizer!r}: use adam or lamb")
