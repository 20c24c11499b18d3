"""The sampler: steps E envs through an env runner, one batched forward per policy per step.

It writes time-major rollouts into each policy's ``RolloutStorage``: slot ``t`` holds the observation
acted on at step t and what followed; slot ``T`` holds the observation after the rollout.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
import torch

from marl_sf.algo.episodes import EpisodeAccumulator
from marl_sf.algo.opponents import NoOpponents, Opponents
from marl_sf.algo.policy_mapping import PolicySpec
from marl_sf.algo.storage import RolloutStorage
from marl_sf.envs.agent_spaces import unpad


@dataclass
class RolloutStats:
    """What one rollout produced: agent-steps taken and the episodes that finished.

    Attributes:
        agent_steps: active agent-steps (one agent acting once is one step).
        episode_returns: one ``[A]`` array of per-agent episode returns per finished episode.
        episode_lengths: one ``[A]`` array of per-agent active-step counts per finished episode.
        episode_env_ids: the env (row) each finished episode was played in, in the same order.
        match_results: with opponents, what ``Opponents.finish_episodes`` returned for each finished episode
            (who played which side).
        scalars: ``{tag: value}`` summaries of the sampling itself (Ray samplers: lost rollouts, policy lag).
    """

    agent_steps: int = 0
    episode_returns: list[np.ndarray] = field(default_factory=list)
    episode_lengths: list[np.ndarray] = field(default_factory=list)
    episode_env_ids: list[int] = field(default_factory=list)
    match_results: list = field(default_factory=list)
    scalars: dict[str, float] = field(default_factory=dict)


class RolloutStoppedError(Exception):
    """``Sampler.collect`` stopped between two steps because ``Sampler.stop`` was set (the rollout is incomplete)."""


class Sampler:
    """Steps envs through an env runner and fills one ``RolloutStorage`` per policy with what each policy's
    ``ActorCritic.act`` returns (the learner fills the values a model leaves out, see ``Learner.fill_values``).

    Masks: ``active`` ``[E, A]`` are the env's flags (the agent acts on its observation), ``learner_controlled`` the
    agents the learning policies play (``Opponents``), and a storage's ``active`` is both: the agent-steps the
    learning policies take.

    The envs are split into ``runner.num_splits`` groups of contiguous rows (``--worker_num_splits``): while
    one group's observations are in inference, the runner steps the others (double buffering, as in Sample
    Factory). Every group passes through the same storage slots, so a rollout is the same ``[T, E, A]``
    whatever the split, and the serial and worker runners give the same trajectories for the same split.

    Args:
        cfg: config (``obs_scale``, ``value_bootstrap``).
        runner: ``InProcessEnvRunner`` (``--serial_mode``), ``ProcessEnvRunner`` (worker processes) or
            ``VectorEnvRunner`` (a vectorized env); its ``tensors`` are the step results the sampler reads, on the
            CPU or on the vectorized env's device (the episode bookkeeping stays there too).
        specs: the policies and the agents each controls.
        models: the actor-critic of each policy (same order as ``specs``).
        storages: the rollout storage of each policy.
        seed: env ``e`` is reset with ``seed + e`` (None: unseeded), whichever runner steps it.
        opponents: who plays the agents the learning policies do not (self-play, matches; see
            ``marl_sf.algo.opponents``); None: ``NoOpponents``, the learning policies play every agent. Agents an
            opponent plays are inactive in the policies' storages, so they count as no agent-steps and never reach
            the losses.
    """

    def __init__(
        self, cfg, runner, specs: list[PolicySpec], models, storages: list[RolloutStorage], seed=None,
        opponents: Opponents | None = None,
    ):  # fmt: skip
        self.cfg, self.runner, self.specs, self.models, self.storages = cfg, runner, specs, models, storages
        self.stop = threading.Event()  # set from another thread: collect raises RolloutStoppedError at its next step
        self.step = runner.tensors  # torch views of the runner's step buffers (shared memory with workers)
        self.num_envs, self.num_agents = self.step.active.shape
        env_device = self.step.active.device
        self.agents = [_index(spec.agent_indices) for spec in specs]  # per policy: its agents' env positions
        self.critic = specs[0].critic  # what each env contributes to the critics once per step
        self.episodes = EpisodeAccumulator(self.num_envs, self.num_agents, env_device)
        self.recurrent = [st.recurrent for st in storages]  # per policy, from its model's state size
        self.opponents = opponents or NoOpponents(self.num_envs, self.num_agents, env_device)
        self.active = torch.zeros((self.num_envs, self.num_agents), dtype=torch.bool, device=env_device)  # [E, A]
        # recurrent states after each policy's last forward pass, [E, A_p, R]
        self.next_rnn = [torch.zeros_like(st.rnn_states[0]) for st in storages]
        self.opponents.start_episodes(np.arange(self.num_envs))
        runner.reset(seed)
        every = slice(0, self.num_envs)
        states = self._critic_env_input(self.step.obs, self.step.state, every)
        self._write_next(0, every, states, torch.ones(self.num_envs, dtype=torch.bool, device=env_device))
        for st in storages:
            st.rnn_states[0] = 0.0

    def collect(self, deterministic: bool = False) -> RolloutStats:
        """Run one rollout of T steps into the storages (slot T: the observation after it, whose values the learner
        computes).

        Raises:
            RolloutStoppedError: ``stop`` was set (checked before each step); the storages then hold part of a rollout.
        """
        stats = RolloutStats()
        agent_steps = torch.zeros((), dtype=torch.int64, device=self.active.device)  # summed on the device
        groups = [self.runner.split_rows(g) for g in range(self.runner.num_splits)]
        for t in range(self.storages[0].rollout):
            if self.stop.is_set():
                raise RolloutStoppedError
            for g, rows in enumerate(groups):
                if t > 0:  # group g's previous step has been running while other groups were in inference
                    self.runner.wait(g)
                    agent_steps += self._record(t - 1, rows, stats)
                self.runner.step_async(g, self._act(t, rows, deterministic))
        for g, rows in enumerate(groups):
            self.runner.wait(g)
            agent_steps += self._record(self.storages[0].rollout - 1, rows, stats)
        stats.agent_steps = int(agent_steps)
        return stats

    def set_training_info(self, agent_steps: int) -> None:
        """Tell the envs the run's agent-steps so far: envs with a ``TrainingInfoInterface`` receive it as
        ``approx_total_training_steps`` at their next step."""
        self.step.training_info.fill_(agent_steps)

    def close(self) -> None:
        """Close the env runner (stopping its env workers)."""
        self.runner.close()

    def _record(self, t: int, rows: slice, stats: RolloutStats) -> torch.Tensor:
        """Write what the envs of ``rows`` returned for step t into slot t, and their next observation into t + 1;
        returns the agent-steps the learning policies took (a 0-d tensor on the envs' device)."""
        step = self.step
        terminated, truncated = step.terminated[rows], step.truncated[rows]  # [E_g, A]
        episode_done = (terminated | truncated).all(dim=1)  # [E_g]
        learner_active = self._learner_active(t, rows)  # [E_g, A] agents the learning policies played
        returns, lengths = self.episodes.step(step.rewards[rows], self.active[rows], episode_done, rows)
        if len(returns):  # [n_done, A]: episodes are rare next to steps, so their results come off the device
            returns, lengths = returns.cpu().numpy(), lengths.cpu().numpy()
            done_ids = rows.start + torch.nonzero(episode_done).flatten().cpu().numpy()
            stats.episode_env_ids.extend(done_ids.tolist())
            stats.match_results.extend(self.opponents.finish_episodes(done_ids, returns))
            self.opponents.start_episodes(done_ids)
            stats.episode_returns.extend(returns)
            stats.episode_lengths.extend(lengths)
        for idx, st in zip(self.agents, self.storages, strict=True):  # [E_g, A] -> [E_g, A_p]
            # what the learner trains on: x --reward_scale, clipped to +-reward_clip (episode returns stay unscaled)
            scaled = step.rewards[rows][:, idx] * self.cfg.reward_scale  # [E_g, A_p]
            _copy(st.rewards[t, rows], scaled.clamp(-self.cfg.reward_clip, self.cfg.reward_clip))
            _copy(st.terminated[t, rows], terminated[:, idx])
            _copy(st.truncated[t, rows], truncated[:, idx])
        states = self._critic_env_input(step.obs, step.state, rows)
        self._write_next(t + 1, rows, states, episode_done, carry_rnn=True)
        if self.cfg.value_bootstrap:
            ended = torch.nonzero((truncated & learner_active).any(dim=1)).flatten()  # [n] rows of truncated episodes
            if len(ended):
                self._bootstrap_truncated(t, rows.start + ended)
        return learner_active.sum()

    def _act(self, t: int, rows: slice, deterministic: bool) -> torch.Tensor:
        """Each policy's ``act`` over the ``E_g`` env cells of group ``rows``, written to slot t; opponents then
        overwrite the actions of the agents they play. Returns env actions ``[E_g, A, ...]`` on the envs' device and
        keeps the new recurrent states in ``next_rnn``."""
        env_actions = self.step.actions  # [E, A, ...] the transport layout (agent groups: the largest action)
        actions = torch.zeros((rows.stop - rows.start, *env_actions.shape[1:]), dtype=env_actions.dtype,
                              device=env_actions.device)  # fmt: skip
        with torch.no_grad():
            for p, (idx, model, st) in enumerate(zip(self.agents, self.models, self.storages, strict=True)):
                batch = st.batch(  # N = E_g cells
                    slice(t, t + 1), self.cfg.obs_scale, rows, obs_subtract_mean=self.cfg.obs_subtract_mean
                )
                out = model.act(batch, deterministic)  # [E_g, A_p, ...]
                if out.values is None and model.values_from_act:
                    raise ValueError(
                        f"{type(model).__name__}.act returned no values but the model declares values_from_act = True: "
                        "return the values from act, or set values_from_act = False (the learner then computes them)"
                    )
                st.actions[t, rows] = out.actions
                st.log_probs[t, rows] = out.log_probs
                if out.values is not None:  # else the learner computes them (ActorCritic.values_from_act)
                    st.values[t, rows] = out.values
                if self.recurrent[p]:
                    self.next_rnn[p][rows] = out.new_rnn_states  # [E_g, A_p, R]
                raw_obs = {k: v[t, rows] for k, v in st.obs.items()}  # [E_g, A_p, ...]
                active = self.active[rows][:, idx]  # [E_g, A_p]
                self.opponents.act(p, rows, active, batch, raw_obs, st.actions[t, rows], deterministic)
                act = st.actions[t, rows]  # [E_g, A_p, ...] in the policy's own action space
                if act.dim() > 2:  # vector actions of a policy whose agents' are smaller than the largest
                    actions[:, idx, : act.shape[2]] = act.to(actions.device)
                else:
                    actions[:, idx] = act.to(actions.device)
        return actions

    def _learner_active(self, t: int, rows: slice) -> torch.Tensor:
        """``[E_g, A]`` bool: which agents of envs ``rows`` the learning policies played at step t (gathered from
        every policy's storage)."""
        learner_active = torch.zeros((rows.stop - rows.start, self.num_agents), dtype=torch.bool,
                                     device=self.active.device)  # fmt: skip
        for idx, st in zip(self.agents, self.storages, strict=True):
            learner_active[:, idx] = st.active[t, rows].to(learner_active.device)
        return learner_active

    def _critic_env_input(self, obs: dict[str, torch.Tensor], env_state: torch.Tensor | None, rows):
        """``[E_g, G]`` per-env critic inputs of envs ``rows`` (``CriticInput.env_input``: env.state() or the
        agents' observations joined)."""
        state = env_state[rows] if env_state is not None else None
        return self.critic.env_input({k: v[rows] for k, v in obs.items()}, state)

    def _write_next(self, t: int, rows: slice, states, episode_start: torch.Tensor, carry_rnn: bool = False):
        """Write the observation that follows into slot t of every storage for envs ``rows``; recurrent states
        carry over from the last forward pass (``carry_rnn``, recurrent policies only) except at episode starts
        (``episode_start [E_g]`` bool)."""
        active = self.step.active[rows]  # [E_g, A]
        self.active[rows] = active
        learner_active = active & self.opponents.learner_controlled(rows).to(active.device)  # [E_g, A]
        for p, (idx, st) in enumerate(zip(self.agents, self.storages, strict=True)):
            for k, v in self.step.obs.items():  # [E_g, A_p, ...], padding of other agent groups cut off
                _copy(st.obs[k][t, rows], unpad(v[rows][:, idx], st.obs[k].shape[3:]))
            _copy(st.active[t, rows], learner_active[:, idx])
            _copy(st.episode_start[t, rows], episode_start)
            if states is not None and st.state is not None:
                _copy(st.state[t, rows], states)
            if carry_rnn and self.recurrent[p]:
                keep = ~episode_start.to(st.rnn_states.device)
                st.rnn_states[t, rows] = self.next_rnn[p][rows] * keep.view(-1, 1, 1)

    def _bootstrap_truncated(self, t: int, env_ids: torch.Tensor) -> None:
        """``bootstrap_values[t]`` = V(final observation) (``ActorCritic.value``) for envs ``env_ids`` (``[n]`` on
        the envs' device) whose episode was truncated at step t.

        Envs that report no final observation (``has_final`` false) bootstrap from V(obs_t), Sample Factory's
        approximation: the value of slot t's inputs.
        """
        reported = self.step.has_final[env_ids]  # [n]
        final_ids, slot_ids = env_ids[reported], env_ids[~reported]
        if len(final_ids):
            final_obs = {k: v[final_ids] for k, v in self.step.final_obs.items()}  # [n_final, A, ...]
            final_state = self.step.final_state[final_ids] if self.step.final_state is not None else None
            states = self._critic_env_input(final_obs, final_state, slice(None))  # [n_final, G] or None
        for p, (idx, st) in enumerate(zip(self.agents, self.storages, strict=True)):
            device = st.values.device
            if len(final_ids):
                obs = {k: unpad(v[:, idx], st.obs[k].shape[3:]).to(device, non_blocking=True)
                       for k, v in final_obs.items()}  # fmt: skip
                state = states.to(device, non_blocking=True) if states is not None else None
                self._bootstrap(p, t, final_ids.to(device), obs, state, self.next_rnn[p])
            if len(slot_ids):
                ids = slot_ids.to(device)
                obs = {k: v[t, ids] for k, v in st.obs.items()}  # [n_slot, A_p, ...]
                state = st.state[t, ids] if st.state is not None else None  # [n_slot, G]
                self._bootstrap(p, t, ids, obs, state, st.rnn_states[t])

    def _bootstrap(self, p: int, t: int, ids: torch.Tensor, obs: dict, state, rnn_states: torch.Tensor) -> None:
        """``bootstrap_values[t, ids]`` of policy p = its model's ``value`` of stored-layout observations
        ``{key: [n, A_p, ...]}`` and per-env critic inputs ``[n, G]`` (or None), with the recurrent states
        ``rnn_states[ids]`` (``rnn_states``: ``[E, A_p, R]``)."""
        st = self.storages[p]
        batch = st.make_batch(  # n cells
            obs, state, rnn_states[ids], self.cfg.obs_scale, obs_subtract_mean=self.cfg.obs_subtract_mean
        )
        with torch.no_grad():
            st.bootstrap_values[t, ids] = self.models[p].value(batch)  # [n, A_p]


def _index(agent_indices: list[int]) -> slice | torch.Tensor:
    """A policy's agent positions as an index into the agent axis: a slice (views, no copy) when contiguous."""
    first = agent_indices[0]
    if agent_indices == list(range(first, first + len(agent_indices))):
        return slice(first, first + len(agent_indices))
    return torch.tensor(agent_indices)


def _copy(dst: torch.Tensor, src: torch.Tensor) -> None:
    """``dst[...] = src`` (dtype converted), ``non_blocking``: the step buffers are pageable shared memory, so a copy
    to a GPU storage is staged before it returns and a worker's next step cannot race it (pinning the buffers would
    make it truly asynchronous, and then the copy would have to finish before ``step_async``)."""
    dst.copy_(src, non_blocking=True)
