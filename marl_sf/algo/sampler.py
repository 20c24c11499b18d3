"""The sampler: steps E envs through an env runner, one batched forward per policy per step.

It writes time-major rollouts into each policy's ``RolloutStorage``: slot ``t`` holds the observation
acted on at step t and what followed; slot ``T`` holds the observation after the rollout.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from marl_sf.algo.policy_mapping import PolicySpec
from marl_sf.algo.storage import RolloutStorage
from marl_sf.envs.episode import EpisodeAccumulator
from marl_sf.models.action_distribution import deterministic_actions


@dataclass
class RolloutStats:
    """What one rollout produced: agent-steps taken and the episodes that finished.

    Attributes:
        agent_steps: active agent-steps (one agent acting once is one step).
        episode_returns: one ``[A]`` array of per-agent episode returns per finished episode.
        episode_lengths: one ``[A]`` array of per-agent active-step counts per finished episode.
    """

    agent_steps: int = 0
    episode_returns: list[np.ndarray] = field(default_factory=list)
    episode_lengths: list[np.ndarray] = field(default_factory=list)


class Sampler:
    """Steps envs through an env runner and fills one ``RolloutStorage`` per policy.

    Args:
        cfg: config (``obs_scale``, ``use_rnn``).
        runner: ``InProcessEnvRunner`` (``--serial_mode``) or ``ProcessEnvRunner`` (worker processes).
        specs: the policies and the agents each controls.
        models: the actor-critic of each policy (same order as ``specs``).
        storages: the rollout storage of each policy.
        seed: env ``e`` is reset with ``seed + e`` (None: unseeded), whichever runner steps it.
    """

    def __init__(self, cfg, runner, specs: list[PolicySpec], models, storages: list[RolloutStorage], seed=None):
        self.cfg, self.runner, self.specs, self.models, self.storages = cfg, runner, specs, models, storages
        self.num_envs, self.num_agents = runner.buffers.active.shape
        self.joint_obs = specs[0].critic_input == "joint_obs"
        self.episodes = EpisodeAccumulator(self.num_envs, self.num_agents)
        buf = runner.reset(seed)
        self._write_next(0, buf.obs, buf.active, self._states(buf.obs, buf.state), np.ones(self.num_envs, bool))
        for st in storages:
            st.rnn_states[0] = 0.0

    def collect(self, deterministic: bool = False) -> RolloutStats:
        """Run one rollout of T steps into the storages, then the values of slot T for bootstrapping."""
        stats = RolloutStats()
        for t in range(self.storages[0].rollout):
            self.step(t, deterministic, stats)
        with torch.no_grad():
            for model, st in zip(self.models, self.storages, strict=True):
                t_last = st.rollout
                inputs = model.normalize_obs(st.flat_inputs(slice(t_last, t_last + 1), self.cfg.obs_scale))
                out = model(inputs, self._rnn_in(st, t_last))
                st.values[t_last] = out["values"].view(st.num_envs, st.num_agents)
        return stats

    def step(self, t: int, deterministic: bool, stats: RolloutStats) -> None:
        """Act on slot t for every policy, step every env, write slot t's outcome and slot t + 1."""
        actions, new_rnn = self._act(t, deterministic)
        buf = self.runner.step(actions)
        terminated, truncated = buf.terminated, buf.truncated  # [E, A]
        episode_done = (terminated | truncated).all(axis=1)  # [E]
        acted = self._acted(t)  # [E, A]
        for spec, st in zip(self.specs, self.storages, strict=True):
            idx = spec.agent_indices
            st.rewards[t] = torch.from_numpy(buf.rewards[:, idx])
            st.terminated[t] = torch.from_numpy(terminated[:, idx])
            st.truncated[t] = torch.from_numpy(truncated[:, idx])
        self._write_next(t + 1, buf.obs, buf.active, self._states(buf.obs, buf.state), episode_done, new_rnn)
        if (truncated & acted).any():
            self._bootstrap_truncated(t, np.flatnonzero((truncated & acted).any(axis=1)), buf, new_rnn)
        returns, lengths = self.episodes.step(buf.rewards, acted, episode_done)
        stats.agent_steps += int(acted.sum())
        stats.episode_returns.extend(returns)
        stats.episode_lengths.extend(lengths)

    def _act(self, t: int, deterministic: bool):
        """One batched forward per policy over its ``E * A_p`` rows; returns env actions ``[E, A, ...]``."""
        actions = None
        new_rnn = []
        with torch.no_grad():
            for spec, model, st in zip(self.specs, self.models, self.storages, strict=True):
                inputs = model.normalize_obs(st.flat_inputs(slice(t, t + 1), self.cfg.obs_scale))
                out = model(inputs, self._rnn_in(st, t))
                dist = model.action_distribution(out["action_logits"], inputs.get("action_mask"))
                act = deterministic_actions(spec.action_space, dist) if deterministic else dist.sample()
                shape = (st.num_envs, st.num_agents)
                st.actions[t] = act.view(*shape, *st.actions.shape[3:])
                st.log_probs[t] = dist.log_prob(act).view(shape)
                st.values[t] = out["values"].view(shape)
                new_rnn.append(out["new_rnn_states"].reshape(*shape, -1))
                act_np = st.actions[t].cpu().numpy()
                if actions is None:
                    actions = np.zeros((self.num_envs, self.num_agents, *act_np.shape[2:]), act_np.dtype)
                actions[:, spec.agent_indices] = act_np
        return actions, new_rnn

    def _rnn_in(self, st: RolloutStorage, t: int) -> torch.Tensor:
        """Recurrent states of slot t as model input rows ``[E * A_p, R]`` (``R = 0`` for feed-forward)."""
        rnn = st.rnn_states[t].reshape(-1, st.rnn_states.shape[-1])  # [E * A_p, R]
        return rnn if self.cfg.get("use_rnn", False) else rnn[:, :0]

    def _acted(self, t: int) -> np.ndarray:
        """``[E, A]`` bool: which agents acted at step t (gathered from every policy's storage)."""
        acted = np.zeros((self.num_envs, self.num_agents), bool)
        for spec, st in zip(self.specs, self.storages, strict=True):
            acted[:, spec.agent_indices] = st.active[t].cpu().numpy()
        return acted

    def _states(self, obs: dict[str, np.ndarray], env_state: np.ndarray | None) -> np.ndarray | None:
        """``[E, G]`` per-env critic inputs: env.state() or, for ``joint_obs``, the agents' obs ``[E, A * D]``."""
        if self.joint_obs:
            return obs["obs"].reshape(obs["obs"].shape[0], -1).astype(np.float32)  # [E, A * D]
        return env_state

    def _write_next(self, t, obs, active, states, episode_start, new_rnn=None) -> None:
        """Write the observation that follows into slot t of every storage; reset rnn states at episode starts."""
        start = torch.from_numpy(episode_start)
        for p, (spec, st) in enumerate(zip(self.specs, self.storages, strict=True)):
            idx = spec.agent_indices
            for k, v in obs.items():
                st.obs[k][t] = torch.from_numpy(v[:, idx])
            st.active[t] = torch.from_numpy(active[:, idx])
            st.episode_start[t] = start
            if states is not None and st.state is not None:
                st.state[t] = torch.from_numpy(states)
            if new_rnn is not None and self.cfg.get("use_rnn", False):
                st.rnn_states[t] = new_rnn[p] * (~start.to(new_rnn[p].device)).view(-1, 1, 1)

    def _bootstrap_truncated(self, t: int, env_ids: np.ndarray, buf, new_rnn) -> None:
        """V(final observation) for envs whose episode was truncated at step t -> ``bootstrap_values[t]``.

        Envs that report no final observation (``has_final`` false) fall back to V(obs_t), Sample Factory's
        approximation.
        """
        reported = buf.has_final[env_ids]
        for st in self.storages:
            st.bootstrap_values[t, env_ids[~reported]] = st.values[t, env_ids[~reported]]
        env_ids = env_ids[reported]
        if len(env_ids) == 0:
            return
        final_obs = {k: v[env_ids] for k, v in buf.final_obs.items()}  # [n, A, ...]
        states = self._states(final_obs, buf.final_state[env_ids] if buf.final_state is not None else None)
        rows = torch.from_numpy(env_ids)
        with torch.no_grad():
            for p, (spec, model, st) in enumerate(zip(self.specs, self.models, self.storages, strict=True)):
                device = st.values.device
                policy_obs = {k: torch.from_numpy(v[:, spec.agent_indices]).to(device) for k, v in final_obs.items()}
                state = torch.from_numpy(states).to(device) if states is not None else None
                inputs = model.normalize_obs(st.build_inputs(policy_obs, state, self.cfg.obs_scale))  # [n * A_p, ..]
                rnn = new_rnn[p][rows].flatten(0, 1)  # [n * A_p, R]
                out = model(inputs, rnn, values_only=True)
                st.bootstrap_values[t, rows] = out["values"].view(len(env_ids), st.num_agents)
