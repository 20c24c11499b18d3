"""Learning-health checks: warnings when a run goes wrong in ways a loss curve hides.

Three conditions, each per policy, each reported once when it starts and again only after it has cleared:

* **falling return**: the mean episode return of the last ``window`` episodes is below the mean of the first
  ``window`` by more than ``3`` standard errors of the difference and by more than 10% of the start's
  magnitude (both, so that neither noise nor a tiny but significant drift fires it);
* **entropy collapse**: the policy entropy (nats, as the learner reports it) fell below 10% of its first
  measured value (checked only when that first value is positive);
* **value loss explosion**: the value loss is more than 100x the median of the first ``reference_updates``
  updates (the critic's worst time is usually its start, so a rise above it means divergence).

Non-finite values are not a health warning: the learner stops the run on them.
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass, field

import numpy as np

RETURN_DROP_STD_ERRORS = 3.0
RETURN_DROP_FRACTION = 0.1
ENTROPY_COLLAPSE_FRACTION = 0.1
VALUE_LOSS_EXPLOSION_FACTOR = 100.0


@dataclass
class _PolicyHealth:
    start_returns: list[float] = field(default_factory=list)
    recent_returns: collections.deque = field(default_factory=collections.deque)
    first_entropy: float | None = None
    early_value_losses: list[float] = field(default_factory=list)
    active: set[str] = field(default_factory=set)  # conditions currently reported


class LearningHealth:
    """Watches episode returns and training statistics of each policy and reports what went wrong.

    Args:
        window: episodes in the start and the recent return windows (``--stats_avg``).
        reference_updates: updates whose median value loss is the explosion reference.
    """

    def __init__(self, window: int = 100, reference_updates: int = 10):
        self.window, self.reference_updates = window, reference_updates
        self.policies: dict[int, _PolicyHealth] = {}

    def _policy(self, policy_id: int) -> _PolicyHealth:
        if policy_id not in self.policies:
            self.policies[policy_id] = _PolicyHealth(recent_returns=collections.deque(maxlen=self.window))
        return self.policies[policy_id]

    def observe(self, policy_id: int, episode_returns: list[float], train_stats: dict[str, float]) -> list[str]:
        """Fold one iteration in: ``episode_returns`` (per-agent mean return of each episode that finished, for
        this policy's agents) and the learner's ``train_stats`` (``entropy``, ``value_loss``).

        Returns:
            The warnings that started with this iteration (each a sentence naming the policy, the numbers and
            what to try).
        """
        ph = self._policy(policy_id)
        for r in episode_returns:
            (ph.start_returns if len(ph.start_returns) < self.window else ph.recent_returns).append(float(r))
        found = {
            "return": self._falling_return(policy_id, ph),
            "entropy": self._entropy_collapse(policy_id, ph, train_stats.get("entropy")),
            "value_loss": self._value_loss_explosion(policy_id, ph, train_stats.get("value_loss")),
        }
        started = [msg for kind, msg in found.items() if msg is not None and kind not in ph.active]
        ph.active = {kind for kind, msg in found.items() if msg is not None}
        return started

    def active_warnings(self) -> list[str]:
        """Short tags of the conditions that hold now, e.g. ``["policy 0: return falling"]``."""
        names = {"return": "return falling", "entropy": "entropy collapsed", "value_loss": "value loss exploding"}
        return [f"policy {pid}: {names[k]}" for pid, ph in sorted(self.policies.items()) for k in sorted(ph.active)]

    def _falling_return(self, policy_id: int, ph: _PolicyHealth) -> str | None:
        if len(ph.recent_returns) < self.window:
            return None
        start, recent = np.asarray(ph.start_returns), np.asarray(ph.recent_returns)
        drop = start.mean() - recent.mean()
        std_error = math.sqrt(start.var(ddof=1) / len(start) + recent.var(ddof=1) / len(recent))
        if drop > RETURN_DROP_STD_ERRORS * std_error and drop > RETURN_DROP_FRACTION * abs(start.mean()):
            return (
                f"policy {policy_id}: the mean episode return fell from {start.mean():.2f} (first {len(start)} "
                f"episodes) to {recent.mean():.2f} (last {len(recent)}): the learner is making the policy worse; "
                "check the env's rewards and ends, or try --value_bootstrap, a lower --learning_rate or a "
                "state critic (--critic_input=state)"
            )
        return None

    def _entropy_collapse(self, policy_id: int, ph: _PolicyHealth, entropy: float | None) -> str | None:
        if entropy is None or not math.isfinite(entropy):
            return None
        if ph.first_entropy is None:
            ph.first_entropy = entropy
            return None
        if ph.first_entropy > 0 and entropy < ENTROPY_COLLAPSE_FRACTION * ph.first_entropy:
            return (
                f"policy {policy_id}: the policy entropy collapsed to {entropy:.3f} from {ph.first_entropy:.3f}: "
                "it has stopped exploring; if the return is not where it should be, raise "
                "--exploration_loss_coeff"
            )
        return None

    def _value_loss_explosion(self, policy_id: int, ph: _PolicyHealth, value_loss: float | None) -> str | None:
        if value_loss is None or not math.isfinite(value_loss):
            return None
        if len(ph.early_value_losses) < self.reference_updates:
            ph.early_value_losses.append(value_loss)
            return None
        reference = float(np.median(ph.early_value_losses))
        if reference > 0 and value_loss > VALUE_LOSS_EXPLOSION_FACTOR * reference:
            return (
                f"policy {policy_id}: the value loss is {value_loss:.4g}, {value_loss / reference:.0f}x its early "
                f"median {reference:.4g}: the critic is diverging; try --normalize_returns=True, a lower "
                "--learning_rate or --max_grad_norm"
            )
        return None
