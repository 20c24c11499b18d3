"""Data-parallel learners: sums across learner processes with ``torch.distributed``, the identity for one learner.

DD-PPO (Wijmans et al. 2020, "DD-PPO: Learning Near-Perfect PointGoal Navigators from 2.5 Billion Frames", sec. 3):
every learner process holds its own shard of the rollout (its own envs), computes the gradient of its share of each
minibatch loss, and the gradients are summed (all-reduce) before the same optimizer step on every process. Every
statistic of the whole rollout (advantage normalization, value normalization, input normalization, explained
variance) is computed from sums over all shards, and the minibatch draw is the same on every process, so N learners
on N shards take the step one learner takes on the whole rollout (to float rounding).
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


class Reducer:
    """Sums over the learner processes of the default ``torch.distributed`` group (gloo on CPU, nccl on GPU).

    Without an initialized process group (one learner) every operation is the identity, so the learner has one code
    path whatever the number of processes.

    Attributes:
        rank: this process' index in ``[0, world_size)`` (0 without a group).
        world_size: the number of learner processes (1 without a group).
    """

    def __init__(self):
        self.distributed = dist.is_available() and dist.is_initialized()
        self.rank = dist.get_rank() if self.distributed else 0
        self.world_size = dist.get_world_size() if self.distributed else 1

    def sum(self, x: torch.Tensor) -> torch.Tensor:
        """The element-wise sum of ``x`` (any shape, the same on every process) over the processes."""
        if self.world_size == 1:
            return x
        total = x.detach().clone()
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return total

    def broadcast_(self, tensors) -> None:
        """Overwrite ``tensors`` (in place) with rank 0's, on every process (a no-op without a group)."""
        if self.world_size > 1:
            for t in tensors:
                dist.broadcast(t, src=0)

    def pids(self) -> list[int]:
        """Every process's pid, by rank (a collective: every process calls it at the same point)."""
        if self.world_size == 1:
            return [os.getpid()]
        pids: list = [None] * self.world_size
        dist.all_gather_object(pids, os.getpid())
        return pids

    def barrier(self) -> None:
        """Wait until every process gets here (nothing to wait for without a group)."""
        if self.world_size > 1:
            dist.barrier()

    def sum_gradients(self, parameters) -> None:
        """Replace every parameter's gradient by its sum over the processes (one flat all-reduce); a parameter
        without a gradient counts as a zero gradient."""
        if self.world_size == 1:
            return
        params = [p for p in parameters if p.requires_grad]
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        flat = torch.cat([p.grad.reshape(-1) for p in params])  # [sum of parameter sizes]
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        offset = 0
        for p in params:
            p.grad.copy_(flat[offset : offset + p.numel()].view_as(p))
            offset += p.numel()


def global_cells(cells: torch.Tensor, num_envs: int, rank: int, world_size: int) -> torch.Tensor:
    """This process' cells among global (step, env) cell indices ``cells`` (``t * E_all + e`` with ``E_all =
    num_envs * world_size`` envs, process r holding envs ``[r * num_envs, (r + 1) * num_envs)``), as local indices
    ``t * num_envs + (e - r * num_envs)``, in the order they appear in ``cells``."""
    if world_size == 1:
        return cells
    all_envs = num_envs * world_size
    steps, envs = cells // all_envs, cells % all_envs
    mine = (envs >= rank * num_envs) & (envs < (rank + 1) * num_envs)
    return steps[mine] * num_envs + envs[mine] - rank * num_envs
