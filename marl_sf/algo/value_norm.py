"""Value normalization with running statistics of the value targets (MAPPO's ``ValueNorm``).

Yu et al. 2022 (MAPPO), section 4 "Value normalization": the critic regresses standardized targets
``(R - mu) / sigma`` with mu, sigma running estimates (exponential moving averages with debiasing, as in
Adam); predictions are de-normalized before GAE.
"""

from __future__ import annotations

import torch
from torch import nn


class ValueNorm(nn.Module):
    """Running mean/variance of value targets; saved with the model (buffers).

    Args:
        beta: EMA decay per update (MAPPO uses 0.99999 with one update per minibatch; we update once
            per rollout, so the default decays faster).
        epsilon: floor of the debiasing term.
        min_var: floor of the variance estimate.
    """

    def __init__(self, beta: float = 0.999, epsilon: float = 1e-5, min_var: float = 1e-2):
        super().__init__()
        self.beta, self.epsilon, self.min_var = beta, epsilon, min_var
        self.register_buffer("running_mean", torch.zeros(()))
        self.register_buffer("running_mean_sq", torch.zeros(()))
        self.register_buffer("debiasing_term", torch.zeros(()))

    def mean_var(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Debiased ``(mean, var)``."""
        debias = self.debiasing_term.clamp(min=self.epsilon)
        mean = self.running_mean / debias
        var = (self.running_mean_sq / debias - mean**2).clamp(min=self.min_var)
        return mean, var

    @torch.no_grad()
    def update(self, targets: torch.Tensor, all_sum=None) -> None:
        """Fold a batch of targets ``[N]`` (any shape, flattened) into the running statistics; with data-parallel
        learners ``all_sum`` (``Reducer.sum``) makes the batch every learner's targets."""
        targets = targets.reshape(-1).float()
        total = all_sum or (lambda x: x)
        stats = total(torch.stack([targets.new_tensor(targets.numel()), targets.sum(), (targets**2).sum()]))
        if stats[0] == 0:
            return
        self.running_mean.mul_(self.beta).add_((1 - self.beta) * stats[1] / stats[0])
        self.running_mean_sq.mul_(self.beta).add_((1 - self.beta) * stats[2] / stats[0])
        self.debiasing_term.mul_(self.beta).add_(1 - self.beta)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """``(x - mean) / std``."""
        mean, var = self.mean_var()
        return (x - mean) / var.sqrt()

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        """``x * std + mean``."""
        mean, var = self.mean_var()
        return x * var.sqrt() + mean
