"""``StandaloneActor``: one policy's actor as a module of plain tensors, with training's preprocessing inside.

It is what ``marl_sf.Policy`` runs at every step and what ``marl_sf.export`` writes to ONNX or ``torch.export``
files, so a loaded policy and an exported one compute the same thing. Inputs, in this order (``input_names``):

* each observation key the actor reads (``obs``, ``action_mask``, ...), ``[B, ...]`` in the observation space's
  dtype (``uint8`` images stay ``uint8``), unscaled: ``--obs_subtract_mean``, ``--obs_scale`` and
  ``--normalize_input`` are applied inside;
* ``agent_index`` ``[B]`` int64, the agent's position in the env's agent order (only with ``--add_agent_id``);
* ``rnn_states`` ``[B, R]`` float32 (only for a recurrent model; zeros at an episode start).

Outputs (``output_names``): ``actions`` (Discrete ``[B]`` int64, MultiDiscrete ``[B, k]`` int64, Box ``[B, d]``
float32 on the box's bounds, Tuple ``[B, columns]`` in marl_sf's stored layout), ``action_logits`` ``[B, P]`` (the
distribution parameters: logits per categorical, unmasked; means then log-stds per Gaussian, in the normalized
[-1, 1] action space) and, for a recurrent model, ``new_rnn_states`` ``[B, R]``.

The critic is not part of it: the model's ``actor_forward`` runs (the built-in models run their actor alone); a
model whose ``forward`` computes both heads gets zeros for the global state and the critic-only keys, and its values
are dropped (the exporters leave them out of the graph).
"""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from marl_sf.algo.policy_mapping import PolicySpec
from marl_sf.algo.storage import scale_obs, torch_dtype
from marl_sf.envs.actions import BoxBounds, map_to_box
from marl_sf.models.actor_critic import ActorCritic
from marl_sf.models.batch import PolicyBatch

_DERIVED_KEYS = ("state", "agent_id")  # made from other inputs, never fed by the user
_BOX_BUFFERS = ("box_low", "box_span", "box_bounded", "box_clip_low", "box_clip_high")  # BoxBounds.as_tensors


class StandaloneActor(nn.Module):
    """One policy's actor on ``[B, ...]`` rows of single agents (see the module docstring for inputs and outputs).

    Args:
        spec: the policy's place in the env (its spaces, ``--add_agent_id``).
        model: the policy's actor-critic, weights loaded.
        obs_scale: ``--obs_scale``.
        deterministic: greedy actions (the most likely one; the mean for Box) or samples of the distribution.
        obs_subtract_mean: ``--obs_subtract_mean`` (observations are ``(x - obs_subtract_mean) / obs_scale``).
    """

    def __init__(
        self,
        spec: PolicySpec,
        model: ActorCritic,
        obs_scale: float,
        deterministic: bool = True,
        obs_subtract_mean: float = 0.0,
    ):
        super().__init__()
        self.model, self.obs_scale, self.deterministic = model, obs_scale, deterministic
        self.obs_subtract_mean = obs_subtract_mean
        self.action_space = spec.action_space
        self.num_env_agents = spec.num_env_agents if spec.add_agent_id else 0
        spaces = spec.obs_space.spaces
        self.zero_keys = {k: spaces[k] for k in [*model.critic_only_keys(), "state"] if k in spaces}  # critic inputs
        self.obs_keys = [k for k in spaces if k not in _DERIVED_KEYS and k not in self.zero_keys]
        self.obs_spaces = {k: spaces[k] for k in self.obs_keys}
        self.rnn_state_size = model.rnn_state_size()
        self.box_bounds = isinstance(self.action_space, gym.spaces.Box)
        if self.box_bounds:  # buffers: they follow the module's device and are constants of an exported graph
            for name, t in zip(_BOX_BUFFERS, BoxBounds(self.action_space).as_tensors(), strict=True):
                self.register_buffer(name, t, persistent=False)

    @property
    def input_names(self) -> list[str]:
        """The inputs' names, in ``forward``'s order."""
        extra = (["agent_index"] if self.num_env_agents else []) + (["rnn_states"] if self.rnn_state_size else [])
        return [*self.obs_keys, *extra]

    @property
    def output_names(self) -> list[str]:
        """The outputs' names, in ``forward``'s order."""
        return ["actions", "action_logits", *(["new_rnn_states"] if self.rnn_state_size else [])]

    def example_inputs(self, batch_size: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
        """Random inputs of ``batch_size`` rows in the inputs' shapes and dtypes: observations sampled from their
        spaces (seeded by ``generator`` through torch), agent indices in range, recurrent states ~ N(0, 1)."""
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        inputs = []
        for i, space in enumerate(self.obs_spaces.values()):
            sampler = copy.deepcopy(space)  # its own seeded RNG: the policy's spaces stay as they are
            sampler.seed(seed + i)
            rows = np.stack([sampler.sample() for _ in range(batch_size)])  # [B, ...]
            inputs.append(torch.as_tensor(rows, dtype=torch_dtype(space)))
        if self.num_env_agents:
            inputs.append(torch.randint(0, self.num_env_agents, (batch_size,), generator=generator))
        if self.rnn_state_size:
            inputs.append(torch.randn(batch_size, self.rnn_state_size, generator=generator))
        return tuple(inputs)

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``(actions, action_logits[, new_rnn_states])`` for the rows of ``inputs`` (in ``input_names`` order)."""
        obs = dict(zip(self.obs_keys, inputs, strict=False))
        obs = scale_obs(obs, self.obs_scale, self.obs_subtract_mean)  # {key: [B, ...]}
        b = inputs[0].shape[0]
        rest = list(inputs[len(self.obs_keys) :])
        if self.num_env_agents:
            obs["agent_id"] = nn.functional.one_hot(rest.pop(0), self.num_env_agents).float()  # [B] -> [B, A]
        rnn_states = rest.pop(0) if self.rnn_state_size else inputs[0].new_zeros((b, 0), dtype=torch.float32)
        for key, space in self.zero_keys.items():
            obs[key] = torch.zeros((b, *space.shape), device=inputs[0].device)
        logits, new_rnn_states = self.model.actor_forward(PolicyBatch.of_rows(obs, rnn_states))  # [B, 1, ...]
        logits = logits[:, 0]  # [B, 1, P] -> [B, P]
        actions, _ = self.model.actions_from_logits(logits, obs.get("action_mask"), self.deterministic)
        if self.box_bounds:
            actions = map_to_box(actions, *(getattr(self, name) for name in _BOX_BUFFERS))  # [-1, 1] -> the bounds
        if not self.rnn_state_size:
            return actions, logits
        return actions, logits, new_rnn_states[:, 0]  # [B, 1, R] -> [B, R]
