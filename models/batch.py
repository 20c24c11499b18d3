"""``PolicyBatch``: what storage, sampler, learner and model pass between them, with the env axis explicit.

One batch holds N env cells of one policy (a cell is one env at one step), each with all ``A_p`` of the policy's
agents. The sampler's batch is one step of E_g envs (N = E_g); a learner minibatch is a random set of (step, env)
cells, or, for a recurrent policy, whole env columns in time order (N = T * n_envs, time-major). The global state
is kept once per env; the per-row layout Sample Factory-style models take is made only by ``rows()``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from marl_sf.models.critic_input import CriticInput, RowsCritic


@dataclass
class PolicyBatch:
    """N env cells of one policy.

    Attributes:
        obs: ``{key: [N, A_p, ...]}`` the agents' observations as the model reads them (floats scaled by
            ``--obs_scale``; ``action_mask`` as stored; ``agent_id`` one-hot ``[N, A_p, A]`` with
            ``--add_agent_id``; critic-only keys included).
        state: ``[N, G]`` (or ``[N, H, W, C]``, scaled) the per-env critic input of ``critic``, or None.
        rnn_states: ``[N, A_p, R]`` recurrent states (R = 0 for feed-forward policies).
        agent_onehot: ``[A_p, A]`` each of the policy's agents' one-hot index in the env.
        critic: the critic-input kind that turns ``state`` into the model's ``"state"`` rows.
    """

    obs: dict[str, torch.Tensor]
    state: torch.Tensor | None
    rnn_states: torch.Tensor
    agent_onehot: torch.Tensor
    critic: CriticInput

    @classmethod
    def of_rows(cls, inputs: dict[str, torch.Tensor], rnn_states: torch.Tensor) -> PolicyBatch:
        """A batch of B cells of one agent each from per-row model inputs ``{key: [B, ...]}`` (what ``rows()``
        returns, ``"state"`` included when the critic reads one) and ``[B, R]`` recurrent states: how a player acts
        for some of a batch's agents (``marl_sf.selfplay``)."""
        obs = {k: v.unsqueeze(1) for k, v in inputs.items() if k != "state"}  # [B, ...] -> [B, 1, ...]
        onehot = rnn_states.new_zeros(1, 0)  # no agent index: the rows' critic input is made already
        return cls(obs, inputs.get("state"), rnn_states.unsqueeze(1), onehot, RowsCritic())

    @property
    def num_envs(self) -> int:
        """N, the number of env cells."""
        return self.rnn_states.shape[0]

    @property
    def num_agents(self) -> int:
        """A_p, the policy's agents per cell."""
        return self.rnn_states.shape[1]

    def select(self, cells: torch.Tensor | slice) -> PolicyBatch:
        """The cells ``cells`` (``[n]`` indices into N, or a slice: views), all agents of each: n cells."""
        state = self.state[cells] if self.state is not None else None
        return replace(self, obs={k: v[cells] for k, v in self.obs.items()}, state=state,
                       rnn_states=self.rnn_states[cells])  # fmt: skip

    def split_steps(self, num_steps: int) -> list[PolicyBatch]:
        """A time-major batch of ``num_steps * n`` cells as ``num_steps`` batches of n cells."""
        n = self.num_envs // num_steps
        return [self.select(slice(t * n, (t + 1) * n)) for t in range(num_steps)]

    def rows(self) -> dict[str, torch.Tensor]:
        """The per-row model input of Sample Factory's contract: ``{key: [N * A_p, ...]}`` in (env, agent) order,
        with the critic's ``"state"`` key per row (``CriticInput.rows``) when the critic reads one."""
        inputs = {k: v.flatten(0, 1) for k, v in self.obs.items()}  # [N, A_p, ...] -> [N * A_p, ...]
        state = self.critic.rows(self) if self.state is not None else None
        if state is not None:
            inputs["state"] = state
        return inputs

    def action_mask_rows(self) -> torch.Tensor | None:
        """``[N * A_p, n_actions]`` legal actions, or None when the env gives no mask."""
        mask = self.obs.get("action_mask")
        return mask.flatten(0, 1) if mask is not None else None  # [N, A_p, n] -> [N * A_p, n]
