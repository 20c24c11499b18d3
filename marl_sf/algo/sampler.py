"""The serial (in-process) sampler: steps E envs, one batched forward per policy per step.

It writes time-major rollouts into each policy's ``RolloutStorage``: slot ``t`` holds the observation
acted on at step t and what followed; slot ``T`` holds the observation after the rollout.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch

from marl_sf.algo.policy_mapping import PolicySpec
from marl_sf.algo.storage import RolloutStorage
from marl_sf.envs.episode import EpisodeAccumulator
from marl_sf.models.action_distribution import deterministic_actions, to_env_actions


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


class SerialSampler:
    """Steps ``envs`` in this process and fills one ``RolloutStorage`` per policy.

    Args:
        cfg: config (``obs_scale``).
        envs: E contract envs of one kind (same agents and spaces).
        specs: the policies and the agents each controls.
        models: the actor-critic of each policy (same order as ``specs``).
        storages: the rollout storage of each policy.
        seed: env ``e`` is reset with ``seed + e`` (None: unseeded).
    """

    def __init__(self, cfg, envs, specs: list[PolicySpec], models, storages: list[RolloutStorage], seed=None):
        self.cfg, self.envs, self.specs, self.models, self.storages = cfg, envs, specs, models, storages
        self.num_envs, self.num_agents = len(envs), envs[0].num_agents
        self.with_state = any(st.state is not None for st in storages)
        self.joint_obs = specs[0].critic_input == "joint_obs"
        self.obs_keys = list(storages[0].obs)
        self.discrete = isinstance(specs[0].action_space, gym.spaces.Discrete)
        self.episodes = EpisodeAccumulator(self.num_envs, self.num_agents)
        results = [env.reset(seed=None if seed is None else seed + e) for e, env in enumerate(envs)]
        obs, active = self._stack_obs([r[0] for r in results], [r[1] for r in results])
        self._write_next(0, obs, active, self._states(obs), np.ones(self.num_envs, bool))
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
        space = self.specs[0].action_space
        results = [env.step(to_env_actions(space, actions[e])) for e, env in enumerate(self.envs)]
        obs_lists, rewards, terminated, truncated, infos = zip(*results, strict=True)
        rewards = np.asarray(rewards, dtype=np.float32)  # [E, A]
        terminated, truncated = np.asarray(terminated, bool), np.asarray(truncated, bool)  # [E, A]
        episode_done = (terminated | truncated).all(axis=1)  # [E]
        obs, active = self._stack_obs(obs_lists, infos)
        acted = self._acted(t)  # [E, A]
        for spec, st in zip(self.specs, self.storages, strict=True):
            idx = spec.agent_indices
            st.rewards[t] = torch.from_numpy(rewards[:, idx])
            st.terminated[t] = torch.from_numpy(terminated[:, idx])
            st.truncated[t] = torch.from_numpy(truncated[:, idx])
        self._write_next(t + 1, obs, active, self._states(obs), episode_done, new_rnn)
        if (truncated & acted).any():
            self._bootstrap_truncated(t, np.flatnonzero((truncated & acted).any(axis=1)), infos, new_rnn)
        returns, lengths = self.episodes.step(rewards, acted, episode_done)
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

    def _stack_obs(self, obs_lists, infos) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """E lists of A obs dicts -> ``{key: [E, A, ...]}`` and the ``[E, A]`` active flags."""
        obs = {k: np.stack([np.stack([o[k] for o in env_obs]) for env_obs in obs_lists]) for k in self.obs_keys}
        active = np.array([[info.get("is_active", True) for info in env_infos] for env_infos in infos], bool)
        return obs, active

    def _states(self, obs: dict[str, np.ndarray], envs=None) -> np.ndarray | None:
        """``[E, G]`` per-env critic inputs: env.state() or, for ``joint_obs``, the agents' obs ``[E, A * D]``."""
        if not self.with_state:
            return None
        if self.joint_obs:
            return obs["obs"].reshape(obs["obs"].shape[0], -1).astype(np.float32)  # [E, A * D]
        return np.stack([env.state() for env in (self.envs if envs is None else envs)]).astype(np.float32)

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

    def _bootstrap_truncated(self, t: int, env_ids: np.ndarray, infos, new_rnn) -> None:
        """V(final observation) for envs whose episode was truncated at step t -> ``bootstrap_values[t]``.

        Envs that give no ``final_obs`` (or no ``final_state`` for a state critic) fall back to V(obs_t),
        Sample Factory's approximation.
        """
        needed = ("final_state",) if self.with_state and not self.joint_obs else ()
        if not all(k in infos[e][0] for e in env_ids for k in ("final_obs", *needed)):
            for st in self.storages:
                st.bootstrap_values[t] = st.values[t]
            return
        final = [[info["final_obs"] for info in infos[e]] for e in env_ids]
        obs, _ = self._stack_obs(final, [infos[e] for e in env_ids])  # {key: [n, A, ...]}
        states = None
        if self.with_state:
            states = self._states(obs) if self.joint_obs else np.stack([infos[e][0]["final_state"] for e in env_ids])
        rows = torch.from_numpy(env_ids)
        with torch.no_grad():
            for p, (spec, model, st) in enumerate(zip(self.specs, self.models, self.storages, strict=True)):
                device = st.values.device
                policy_obs = {k: torch.from_numpy(v[:, spec.agent_indices]).to(device) for k, v in obs.items()}
                state = torch.from_numpy(states).to(device) if states is not None else None
                inputs = model.normalize_obs(st.build_inputs(policy_obs, state, self.cfg.obs_scale))  # [n * A_p, ..]
                rnn = new_rnn[p][rows].flatten(0, 1)  # [n * A_p, R]
                out = model(inputs, rnn, values_only=True)
                st.bootstrap_values[t, rows] = out["values"].view(len(env_ids), st.num_agents)
