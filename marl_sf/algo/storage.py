"""Time-major rollout storage for one policy, with the agent axis explicit (docs/architecture.md).

Per-agent tensors are ``[T, E, A_p, ...]`` (``T + 1`` where the step after the rollout is kept for
bootstrapping); the critic's per-env input is stored once per env, ``[T + 1, E, G]``, and handed out as
``PolicyBatch`` objects (docs/architecture.md, "The data path").
"""

from __future__ import annotations

import gymnasium as gym
import torch

from marl_sf.algo.policy_mapping import PolicySpec
from marl_sf.envs.actions import action_storage
from marl_sf.models.batch import PolicyBatch

_TORCH_DTYPES = {"uint8": torch.uint8, "int8": torch.int8, "int64": torch.int64, "bool": torch.bool}


def torch_dtype(space: gym.spaces.Box) -> torch.dtype:
    """Storage dtype of a Box space: integer/bool dtypes are kept (uint8 images stay uint8), else float32."""
    return _TORCH_DTYPES.get(str(space.dtype), torch.float32)


class RolloutStorage:
    """Buffers of one rollout of one policy.

    Args:
        spec: the policy (its agents ``A_p``, spaces).
        rollout: T.
        num_envs: E.
        rnn_state_size: the model's flat recurrent state size (0 for feed-forward).
        device: where the buffers live (the inference/learning device).
    """

    def __init__(
        self,
        spec: PolicySpec,
        rollout: int,
        num_envs: int,
        rnn_state_size: int,
        device: torch.device,
    ):
        t, e, a = rollout, num_envs, len(spec.agent_indices)
        self.rollout, self.num_envs, self.num_agents = t, e, a

        def zeros(shape, dtype=torch.float32):
            return torch.zeros(shape, dtype=dtype, device=device)

        self.spec = spec
        derived = ("state", "agent_id")  # built from stored tensors when a model input is made
        agent_keys = {k: s for k, s in spec.obs_space.spaces.items() if k not in derived}
        self.obs = {k: zeros((t + 1, e, a, *s.shape), torch_dtype(s)) for k, s in agent_keys.items()}
        self.state = None  # [T + 1, E, G] vectors, [T + 1, E, H, W, C] uint8 images: once per env
        if spec.global_space is not None:
            self.state = zeros((t + 1, e, *spec.global_space.shape), torch_dtype(spec.global_space))
        ids = torch.tensor(spec.agent_indices, device=device)
        self.agent_onehot = torch.nn.functional.one_hot(ids, spec.num_env_agents).float()  # [A_p, A]
        action_shape, action_dtype = action_storage(spec.action_space)
        self.actions = zeros((t, e, a, *action_shape), action_dtype)
        self.log_probs = zeros((t, e, a))
        self.values = zeros((t + 1, e, a))  # model outputs (normalized units when value normalization is on)
        self.bootstrap_values = zeros((t, e, a))  # V(final obs) where truncated
        self.rewards = zeros((t, e, a))
        self.terminated = zeros((t, e, a), torch.bool)
        self.truncated = zeros((t, e, a), torch.bool)
        self.active = zeros((t + 1, e, a), torch.bool)
        self.rnn_states = zeros((t + 1, e, a, rnn_state_size))  # [T + 1, E, A_p, R], R = 0: feed-forward
        self.episode_start = zeros((t + 1, e), torch.bool)  # the env started a new episode at step t

    @property
    def recurrent(self) -> bool:
        """Whether the policy's model carries a recurrent state (R > 0)."""
        return self.rnn_states.shape[-1] > 0

    def carry_last_step(self) -> None:
        """Copy the step after the rollout (slot T) to slot 0, where the next rollout starts."""
        for buf in (*self.obs.values(), self.active, self.rnn_states, self.episode_start, self.values):
            buf[0] = buf[-1]
        if self.state is not None:
            self.state[0] = self.state[-1]

    def tensors(self) -> dict[str, torch.Tensor]:
        """Every buffer of the rollout by name (``obs.<key>`` for observations; ``state`` when the critic reads
        one): what a remote sampler returns (``marl_sf.ray_sampling``). Each is ``[T, E, A_p, ...]`` or
        ``[T + 1, E, ...]`` as documented on the class; the tensors are the storage's own (no copy)."""
        out = {f"obs.{k}": v for k, v in self.obs.items()}
        for name in _ROLLOUT_BUFFERS:
            out[name] = getattr(self, name)
        if self.state is not None:
            out["state"] = self.state
        return out

    def write_envs(self, tensors: dict[str, torch.Tensor], envs: slice) -> None:
        """Copy another storage's ``tensors()`` (same policy, same T, ``E_s`` envs) into env rows ``envs``
        (``E_s`` long) of this one: how the learner merges the rollouts of several samplers.

        Raises:
            ValueError: the names or the shapes do not match this storage's (another policy, T or env count).
        """
        mine = self.tensors()
        if set(tensors) != set(mine):
            raise ValueError(f"rollout buffers {sorted(tensors)} do not match this storage's {sorted(mine)}")
        for name, dst in mine.items():
            src, rows = tensors[name], dst[:, envs]  # [T(+1), E_s, ...]
            if src.shape != rows.shape:
                raise ValueError(f"rollout buffer {name!r}: shape {tuple(src.shape)}, expected {tuple(rows.shape)}")
            rows.copy_(src, non_blocking=True)

    def batch(
        self, steps: slice, obs_scale: float = 1.0, envs: slice = slice(None), obs_subtract_mean: float = 0.0
    ) -> PolicyBatch:
        """The ``PolicyBatch`` of slots ``steps`` of envs ``envs``: ``n * E_g`` cells in (t, e) order, with the
        stored recurrent states of those slots (``obs_scale``, ``obs_subtract_mean``: see ``make_batch``)."""
        obs = {k: v[steps, envs].flatten(0, 1) for k, v in self.obs.items()}  # [n, E_g, A_p, ...] -> [n * E_g, ...]
        state = self.state[steps, envs].flatten(0, 1) if self.state is not None else None  # [n * E_g, G]
        return self.make_batch(obs, state, self.rnn_states[steps, envs].flatten(0, 1), obs_scale, obs_subtract_mean)

    def make_batch(
        self,
        obs: dict[str, torch.Tensor],
        state: torch.Tensor | None,
        rnn_states: torch.Tensor,
        obs_scale: float = 1.0,
        obs_subtract_mean: float = 0.0,
    ) -> PolicyBatch:
        """A ``PolicyBatch`` of N cells from stored-layout observations ``{key: [N, A_p, ...]}``, the per-env
        critic input ``[N, G]`` and recurrent states ``[N, A_p, R]``: observations become float
        ``(x - obs_subtract_mean) / obs_scale`` (``scale_obs``; uint8 images stay uint8 until here, on the device;
        a uint8 critic state likewise, a float one stays as it is) and ``--add_agent_id`` adds the one-hot
        ``"agent_id"`` ``[N, A_p, A]``."""
        n, a = next(iter(obs.values())).shape[:2]
        inputs = scale_obs(obs, obs_scale, obs_subtract_mean)  # {key: [N, A_p, ...]}
        if self.spec.add_agent_id:
            inputs["agent_id"] = self.agent_onehot.expand(n, a, -1)  # [A_p, A] -> [N, A_p, A]
        if state is not None:  # images scaled as obs
            state = scale_tensor(state, obs_scale, obs_subtract_mean) if state.dtype == torch.uint8 else state.float()
        return PolicyBatch(inputs, state, rnn_states, self.agent_onehot, self.spec.critic)


_ROLLOUT_BUFFERS = ("actions", "log_probs", "values", "bootstrap_values", "rewards", "terminated", "truncated",
                    "active", "rnn_states", "episode_start")  # fmt: skip

UNSCALED_KEYS = ("action_mask", "agent_id")


def scale_obs(
    obs: dict[str, torch.Tensor], obs_scale: float = 1.0, obs_subtract_mean: float = 0.0
) -> dict[str, torch.Tensor]:
    """Observations as the model sees them: every key but ``action_mask`` and ``agent_id`` as float,
    ``(x - obs_subtract_mean) / obs_scale`` (``--obs_subtract_mean``, ``--obs_scale``; Sample Factory's order), each
    ``[...]`` -> ``[...]``; the two keys pass unchanged, and so does every float32 key at the defaults (0, 1).

    uint8 images stay uint8 in storage and become float only here, on the device.
    """
    identity = obs_scale == 1.0 and obs_subtract_mean == 0.0
    keep = [k for k, v in obs.items() if k in UNSCALED_KEYS or (identity and v.dtype == torch.float32)]
    return {k: v if k in keep else scale_tensor(v, obs_scale, obs_subtract_mean) for k, v in obs.items()}


def scale_tensor(x: torch.Tensor, obs_scale: float = 1.0, obs_subtract_mean: float = 0.0) -> torch.Tensor:
    """One observation tensor as float, ``(x - obs_subtract_mean) / obs_scale``, same shape (``scale_obs``); a new
    tensor, never ``x`` itself. Without a mean to subtract, exactly ``x.float() / obs_scale``."""
    x = x.float()
    return (x - obs_subtract_mean) / obs_scale if obs_subtract_mean != 0.0 else x / obs_scale
