"""``MatchOpponents``: the sampler's ``Opponents`` controller for a matchmaker's lineups.

A matchmaker decides at each episode start which player (a frozen snapshot or a scripted policy) controls which
side of each env; this controller plays those players for the sampler: feed-forward snapshots of one policy share
one vmapped forward pass, other players get one batched call each with their own recurrent state.
"""

from __future__ import annotations

import numpy as np
import torch

from marl_sf.algo.storage import RolloutStorage
from marl_sf.selfplay.matchmaking import EpisodeResult, Matchmaker
from marl_sf.selfplay.players import SnapshotPlayer, SnapshotStack, act_snapshots


class MatchOpponents:
    """Plays the players of ``matchmaker``'s lineups (``marl_sf.algo.opponents.Opponents``).

    Args:
        matchmaker: who plays which side of each env.
        storages: the learning policies' storages (their agents, action layout, recurrent state size, device).
        max_snapshots: the most snapshots kept stacked per policy (``--pool_max_snapshots``).
    """

    def __init__(self, matchmaker: Matchmaker, storages: list[RolloutStorage], max_snapshots: int):
        self.matchmaker = matchmaker
        self.controlled = matchmaker.learner_controlled  # [E, A] numpy, updated in place by the matchmaker
        self.agent_indices = [st.spec.agent_indices for st in storages]
        self.recurrent = [st.recurrent for st in storages]
        self.rnn = [torch.zeros_like(st.rnn_states[0]) for st in storages]  # opponents' states, [E, A_p, R]
        # each policy's frozen snapshots' stacked weights, kept between steps (one stack per architecture)
        self.snapshot_stacks = [SnapshotStack(max_snapshots) for _ in storages]

    def learner_controlled(self, rows: slice) -> torch.Tensor:
        """See ``marl_sf.algo.opponents.Opponents.learner_controlled`` (on the CPU: the envs' device once moved)."""
        return torch.from_numpy(self.controlled[rows])

    def start_episodes(self, env_ids: np.ndarray) -> None:
        """New lineups for envs ``env_ids``; their opponents start with a fresh recurrent state."""
        self.matchmaker.start_episodes(env_ids)
        for rnn in self.rnn:
            rnn[torch.as_tensor(env_ids, dtype=torch.long, device=rnn.device)] = 0.0

    def finish_episodes(self, env_ids: np.ndarray, returns: np.ndarray) -> list[EpisodeResult]:
        """One ``EpisodeResult`` per finished episode (see ``Matchmaker.finish_episodes``)."""
        return self.matchmaker.finish_episodes(env_ids, returns)

    def act(self, policy, rows, active, batch, raw_obs, actions, deterministic) -> None:
        """See ``marl_sf.algo.opponents.Opponents.act``."""
        jobs = []
        active = active.cpu().numpy()  # [E_g, A_p]
        for player, mask in self.matchmaker.opponents_in(rows, self.agent_indices[policy]):
            mask &= active  # only agents that act now (scripted players need legal moves)
            if mask.any():
                jobs.append((player, torch.from_numpy(mask).to(actions.device)))  # [E_g, A_p]
        if not jobs:
            return
        inputs = batch.rows()  # {key: [E_g * A_p, ...]}: opponents take single rows
        flat_actions = actions.view(-1, *actions.shape[2:])  # [E_g * A_p, ...], a view
        batched = [] if self.recurrent[policy] else [j for j in jobs if isinstance(j[0], SnapshotPlayer)]
        if len(batched) > 1:
            snapshot_rows = [(player, cells.flatten().nonzero().squeeze(1)) for player, cells in batched]
            stack = self.snapshot_stacks[policy]
            chosen = act_snapshots(snapshot_rows, inputs, deterministic, stack)  # [n, ...]
            rows_in_order = torch.cat([r for _, r in snapshot_rows])
            flat_actions[rows_in_order] = chosen.to(actions.dtype).view(-1, *actions.shape[2:])
            jobs = [j for j in jobs if not isinstance(j[0], SnapshotPlayer)]
        rnn_rows = self.rnn[policy][rows]  # [E_g, A_p, R], a view
        for player, cells in jobs:
            flat = cells.flatten()  # [E_g * A_p]
            player_inputs = {k: v[flat] for k, v in inputs.items()}
            player_obs = {k: v[cells] for k, v in raw_obs.items()}  # [n, ...]
            chosen, new_rnn = player.act(player_inputs, player_obs, rnn_rows[cells], deterministic)  # [n, ...]
            flat_actions[flat] = chosen.to(actions.dtype).view(-1, *actions.shape[2:])
            if self.recurrent[policy]:
                rnn_rows[cells] = new_rnn
