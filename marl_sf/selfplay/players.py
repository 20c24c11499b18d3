"""Players that are not being trained: frozen snapshots of a policy and scripted policies.

Both act on a batch of agent rows as the sampler stores them. A frozen snapshot runs one batched forward
pass (with its own observation normalizer and recurrent state); a scripted policy gets the batch (a batched
one) or each row's observation dict (the contract of ``register_scripted_policy``).
"""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import torch
from torch.func import functional_call, stack_module_state, vmap

from marl_sf.models.batch import PolicyBatch
from marl_sf.selfplay.scripted import scripted_batch_policy


class SnapshotPlayer:
    """A frozen copy of an actor-critic.

    Args:
        name: the player's name in pools, ratings and tournaments.
        model: the actor-critic (copied and frozen here; the caller's model keeps training).
        action_space: the agents' action space.
    """

    def __init__(self, name: str, model: torch.nn.Module, action_space: gym.Space):
        self.name, self.action_space = name, action_space
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    def act(self, inputs, raw_obs, rnn_states, deterministic: bool = False):
        """Actions for ``n`` agent rows.

        Args:
            inputs: model input rows ``{key: [n, ...]}`` (scaled, not yet normalized).
            raw_obs: the stored observations ``{key: [n, ...]}`` (unused here).
            rnn_states: ``[n, R]`` recurrent states (``R = 0`` for feed-forward models).
            deterministic: take the distribution's mode instead of sampling.

        Returns:
            ``(actions [n, ...] in the stored action layout, new recurrent states [n, R])``.
        """
        with torch.no_grad():
            out = self.model.act(PolicyBatch.of_rows(inputs, rnn_states), deterministic)  # n cells of one agent
        return out.actions.flatten(0, 1), out.new_rnn_states.flatten(0, 1)  # [n, 1, ...] -> [n, ...]


class _Acting(torch.nn.Module):
    """``model``'s action logits from scaled inputs (normalization included), the function vmapped over snapshots."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, inputs: dict[str, torch.Tensor], rnn_states: torch.Tensor) -> torch.Tensor:
        return self.model(self.model.normalize_obs(inputs), rnn_states)["action_logits"]


class SnapshotStack:
    """The stacked weights of the frozen snapshots ``act_snapshots`` has seen, kept between calls.

    Snapshots never change, so their weights are stacked (``torch.func.stack_module_state``) once, when a
    snapshot first plays, and each call indexes the ones it needs (one gather per weight tensor) instead of
    stacking K models' weights again every step. Holding the players keeps their identities unique.

    Args:
        capacity: the most snapshots kept stacked; past it the stack is rebuilt from the ones a call needs.
    """

    def __init__(self, capacity: int = 64):
        self.capacity = capacity
        self.players: list[SnapshotPlayer] = []
        self.params: dict[str, torch.Tensor] = {}
        self.buffers: dict[str, torch.Tensor] = {}
        self.actor: _Acting | None = None

    def select(self, players: list[SnapshotPlayer]) -> tuple[_Acting, dict, dict]:
        """``(actor, params, buffers)`` with each weight ``[K, ...]`` for ``players`` in order (K of them)."""
        unique = list({id(p): p for p in players}.values())
        known = {id(p) for p in self.players}
        if any(id(p) not in known for p in unique):
            grown = [*self.players, *(p for p in unique if id(p) not in known)]
            self._stack(grown if len(grown) <= self.capacity else unique)
        position = {id(p): k for k, p in enumerate(self.players)}
        device = next(iter(self.params.values())).device
        index = torch.tensor([position[id(p)] for p in players], device=device)  # [K]
        params = {k: v[index] for k, v in self.params.items()}  # {name: [K, ...]}
        buffers = {k: v[index] for k, v in self.buffers.items()}
        return self.actor, params, buffers

    def _stack(self, players: list[SnapshotPlayer]) -> None:
        actors = [_Acting(player.model) for player in players]
        self.params, self.buffers = stack_module_state(actors)  # {name: [P, ...]}
        self.players, self.actor = players, actors[0]


def act_snapshots(
    jobs, inputs: dict[str, torch.Tensor], deterministic: bool = False, stack: SnapshotStack | None = None
) -> torch.Tensor:
    """Actions of several feed-forward snapshots of one policy in ONE vmapped forward pass.

    Each snapshot's rows are padded to the largest row count ``m``; the K models' weights are stacked
    (``torch.func.stack_module_state``) and the forward is vmapped over them (``[K, m, ...]`` inputs), so many
    opponents with a few rows each cost about one forward instead of K small ones.

    Args:
        jobs: ``[(SnapshotPlayer, rows)]``, ``rows`` a ``[n_k]`` long tensor of row indices into ``inputs``.
        inputs: model input rows ``{key: [B, ...]}`` (scaled, not yet normalized).
        deterministic: take each distribution's mode instead of sampling.
        stack: the caller's ``SnapshotStack``, which keeps the stacked weights between calls (default: stack
            them for this call only).

    Returns:
        ``[sum n_k, ...]`` actions, the jobs' rows in order.
    """
    players = [player for player, _ in jobs]
    counts = [len(rows) for _, rows in jobs]
    width = max(counts)
    # [K, m] row indices, each job's list padded with its first row
    padded = torch.stack([torch.cat([rows, rows[:1].expand(width - len(rows))]) for _, rows in jobs])
    stacked = {k: v[padded] for k, v in inputs.items()}  # {key: [K, m, ...]}
    actor, params, buffers = (stack if stack is not None else SnapshotStack()).select(players)
    rnn = next(iter(inputs.values())).new_zeros(width, 0)  # feed-forward: no recurrent state

    def logits(p, b, x):
        return functional_call(actor, (p, b), (x, rnn))

    with torch.no_grad():
        out = vmap(logits)(params, buffers, stacked)  # [K, m, P]
        valid = torch.cat([out[k, :n] for k, n in enumerate(counts)])  # [sum n_k, P]
        rows = torch.cat([r for _, r in jobs])
        mask = inputs["action_mask"][rows] if "action_mask" in inputs else None
        return players[0].model.actions_from_logits(valid, mask, deterministic)[0]


class ScriptedPlayer:
    """A policy registered with ``marl_sf.register_scripted_policy``: one call per batch of rows for a batched
    policy, one per row otherwise.

    In a Discrete action space without action masks, each observation gets an all-ones ``action_mask``, so
    ``random`` (and any policy reading the mask) works in every Discrete env.

    Args:
        name: the registered name.
        action_space: the agents' action space (Discrete or MultiDiscrete).
        label: the player's name in pools, ratings and tournaments (default: ``name``).

    Raises:
        ValueError: an unknown name, or an action space scripted policies cannot act in (Box actions are
            stored normalized to [-1, 1], which a scripted policy does not know about).
    """

    def __init__(self, name: str, action_space: gym.Space, label: str | None = None):
        if not isinstance(action_space, gym.spaces.Discrete | gym.spaces.MultiDiscrete):
            raise ValueError(
                f"scripted policy {name!r}: scripted players act in Discrete or MultiDiscrete action spaces, "
                f"not {action_space}"
            )
        self.name, self.action_space = label or name, action_space
        self.fn = scripted_batch_policy(name)

    def act(self, inputs, raw_obs, rnn_states, deterministic: bool = False):
        """Actions for ``n`` agent rows from ``fn({key: [n, ...]})``; see ``SnapshotPlayer.act``."""
        obs = {k: v.cpu().numpy() for k, v in raw_obs.items()}  # {key: [n, ...]}
        n = len(next(iter(obs.values())))
        device = next(iter(raw_obs.values())).device
        if n == 0:
            return torch.zeros((0, *self.action_space.shape), dtype=torch.int64, device=device), rnn_states
        if "action_mask" not in obs and isinstance(self.action_space, gym.spaces.Discrete):
            obs["action_mask"] = np.ones((n, int(self.action_space.n)), np.int8)  # every action is legal
        actions = np.asarray(self.fn(obs))  # [n, ...]
        return torch.as_tensor(actions, dtype=torch.int64, device=device), rnn_states


def make_player(name: str, action_space: gym.Space, model: torch.nn.Module | None = None):
    """A ``SnapshotPlayer`` around ``model``, or the scripted policy registered as ``name`` when ``model`` is
    None."""
    return SnapshotPlayer(name, model, action_space) if model is not None else ScriptedPlayer(name, action_space)
