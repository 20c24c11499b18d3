"""Action heads and distributions for Discrete, MultiDiscrete, Box and Tuple action spaces.

An action space is a list of components: a categorical of n choices (Discrete, each MultiDiscrete entry) or a
diagonal Gaussian of d dimensions (Box, with a learned state-independent log-std). ``action_logits`` holds each
component's parameters in order: n logits, or d means then d log-stds.
"""

from __future__ import annotations

import math

import gymnasium as gym
import torch
from torch import nn
from torch.distributions import Categorical, Distribution, Independent, Normal

from marl_sf.envs.actions import action_components, action_storage


def num_action_params(space: gym.Space) -> int:
    """Width of ``action_logits``: n per categorical, 2 d per Gaussian."""
    return sum(n if kind == "categorical" else 2 * n for kind, n in action_components(space))


class ActionParameterization(nn.Module):
    """Linear head from the decoder output ``[B, D]`` to ``action_logits`` ``[B, num_action_params]``.

    Gaussian components get a learned state-independent log-std (one parameter per action dimension, PPO's
    choice; Schulman et al. 2017), or with ``--adaptive_stddev`` a log-std computed from the features like the
    mean. Initialised orthogonally with gain 0.01 (a near-uniform, near-zero-mean initial policy).

    As in Sample Factory's action parameterizations:

    * ``--initial_stddev`` (s > 0): the learned log-std starts at ``log(s)``. With ``--adaptive_stddev`` (where
      Sample Factory ignores the option) the biases of the log-std outputs start at ``log(s)``: the std is ``s``
      for zero features, and near it for any features given the 0.01 gain. s = 1 is the zero init.
    * ``--continuous_tanh_scale`` (c > 0): each Gaussian mean is ``c * tanh(raw_mean / c)``, inside ``(-c, c)``
      and close to the raw mean where it is small (Sample Factory's ``tanh(mu / scale) * scale``, which it applies
      without ``--adaptive_stddev`` only; here both); c = 0: the means as the linear layer gives them.

    Raises:
        ValueError: ``--initial_stddev`` not above 0, or ``--continuous_tanh_scale`` below 0.
    """

    def __init__(self, cfg, decoder_output_size: int, action_space: gym.Space):
        super().__init__()
        self.action_space = action_space
        self.components = action_components(action_space)
        num_gaussian = sum(n for kind, n in self.components if kind == "normal")
        adaptive = cfg.adaptive_stddev
        initial_stddev, self.tanh_scale = float(cfg.initial_stddev), float(cfg.continuous_tanh_scale)
        if not initial_stddev > 0.0:
            raise ValueError(f"--initial_stddev must be above 0 (a standard deviation), not {initial_stddev}")
        if not self.tanh_scale >= 0.0:
            raise ValueError(f"--continuous_tanh_scale must be 0 (off) or above, not {self.tanh_scale}")
        out_size = num_action_params(action_space) if adaptive else sum(n for _, n in self.components)
        self.distribution_linear = nn.Linear(decoder_output_size, out_size)
        nn.init.orthogonal_(self.distribution_linear.weight, gain=0.01)
        nn.init.zeros_(self.distribution_linear.bias)
        initial_log_std = math.log(initial_stddev)  # 0.0 for the default 1.0: the zero init
        self.log_std = None
        if num_gaussian and not adaptive:
            self.log_std = nn.Parameter(torch.full((num_gaussian,), initial_log_std))
        elif num_gaussian and initial_log_std != 0.0:  # adaptive: each Gaussian's n means, then its n log-stds
            offset = 0
            with torch.no_grad():
                for kind, n in self.components:
                    if kind == "normal":
                        self.distribution_linear.bias[offset + n : offset + 2 * n] = initial_log_std
                    offset += 2 * n if kind == "normal" else n
        self.squash_means = self.tanh_scale > 0.0 and num_gaussian > 0

    def forward(self, decoder_output: torch.Tensor):
        """``[B, D]`` -> ``(action_logits [B, num_action_params], distribution)`` as in Sample Factory.

        The distribution returned here is unmasked; the sampler and learner apply the action mask.
        """
        params = self.action_logits(decoder_output)
        return params, action_distribution(self.action_space, params)

    def action_logits(self, decoder_output: torch.Tensor) -> torch.Tensor:
        """``[B, D]`` -> ``action_logits [B, num_action_params]`` alone (what the built-in models use: no
        distribution is built for them to discard)."""
        raw = self.distribution_linear(decoder_output)
        if self.log_std is None and not self.squash_means:  # the linear layer gives every parameter as it is
            return raw
        parts, offset, std_offset = [], 0, 0
        for kind, n in self.components:
            if kind == "categorical":
                parts.append(raw[:, offset : offset + n])
                offset += n
                continue
            mean = raw[:, offset : offset + n]
            parts.append(torch.tanh(mean / self.tanh_scale) * self.tanh_scale if self.squash_means else mean)
            offset += n
            if self.log_std is None:  # adaptive: the log-stds follow the means
                parts.append(raw[:, offset : offset + n])
                offset += n
            else:
                parts.append(self.log_std[std_offset : std_offset + n].expand(raw.shape[0], n))
                std_offset += n
        return torch.cat(parts, dim=-1)  # [B, num_action_params]


def _masked_categorical(logits: torch.Tensor, mask: torch.Tensor | None) -> Categorical:
    """Categorical with probability 0 where ``mask`` is 0; an all-zero mask row (inactive agent) is ignored."""
    if mask is not None:
        legal = mask.bool() | ~mask.bool().any(dim=-1, keepdim=True)
        logits = logits.masked_fill(~legal, torch.finfo(logits.dtype).min)
    return FastCategorical(logits=logits, validate_args=False)


_SCALAR = torch.Size()


class FastCategorical(Categorical):
    """A ``Categorical`` with cheaper kernels for the sampler, which calls ``sample`` and ``log_prob`` at every step
    on thousands of short rows. The logits are normalized by one ``log_softmax``; ``log_prob`` of a ``[B]`` batch of
    actions is one ``gather`` (the values of ``Categorical``, in fewer kernels). ``sample()`` avoids
    ``torch.multinomial`` (several times slower on the CPU for such rows) and draws exactly from the distribution:

    - on the CPU, by inverting the cumulative distribution: one uniform number per row,
      ``searchsorted(cdf, U * cdf[-1], right=True)``, where the CPU's random numbers cost most. ``cdf`` is a
      sequential sum, so an action of probability 0 (masked) adds nothing and is never the first entry above ``U``;
      ``U < 1 - eps`` keeps the draw below ``cdf[-1]``;
    - elsewhere (CUDA, where a parallel ``cumsum`` may reassociate), by the Gumbel-max trick, ``argmax(logits + G)``
      with i.i.d. standard Gumbel noise ``G`` (Gumbel 1954; Maddison, Tarlow and Minka 2014, "A* Sampling",
      section 2.1).

    Args:
        logits: ``[B, n]`` unnormalized log-probabilities.
        validate_args: as ``torch.distributions``.
    """

    def __init__(self, logits: torch.Tensor, validate_args: bool = False):
        normalized = torch.log_softmax(logits, dim=-1)  # [B, n]
        self.logits, self._param, self._num_events = normalized, normalized, normalized.shape[-1]  # as Categorical
        Distribution.__init__(self, normalized.shape[:-1], validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        """As ``Categorical.expand`` (which needs an instance built without ``__init__`` for a subclass)."""
        return super().expand(batch_shape, _instance or FastCategorical.__new__(FastCategorical))

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """``[B]`` log-probabilities of actions ``value [B]`` (other shapes: ``Categorical.log_prob``)."""
        if value.shape != self.batch_shape:
            return super().log_prob(value)
        return self.logits.gather(-1, value.long().unsqueeze(-1)).squeeze(-1)

    def sample(self, sample_shape: torch.Size = _SCALAR) -> torch.Tensor:
        """``[B]`` sampled actions, int64 (``sample_shape`` other than ``()`` falls back to ``Categorical.sample``)."""
        if sample_shape != _SCALAR:
            return super().sample(sample_shape)
        if self.logits.device.type == "cpu":
            return sample_by_inverse_cdf(self.logits)
        return sample_by_gumbel_max(self.logits)


def sample_by_inverse_cdf(log_probs: torch.Tensor) -> torch.Tensor:
    """``[B]`` int64 draws from the categoricals of normalized ``log_probs [B, n]`` by inverting the cumulative
    distribution with one uniform number per row (``FastCategorical``, CPU). A row holding NaN draws its last
    action (as the Gumbel-max draw draws some action); its log-probability stays NaN for the learner's check."""
    cdf = log_probs.exp().cumsum_(dim=-1)  # [B, n], a sequential sum on the CPU
    below_total = cdf[..., -1:] * (1.0 - torch.finfo(cdf.dtype).eps)  # [B, 1] strictly below cdf[-1]
    u = torch.rand(below_total.shape, dtype=cdf.dtype, device=cdf.device).mul_(below_total)  # [B, 1] in [0, cdf[-1])
    drawn = torch.searchsorted(cdf, u, right=True).squeeze(-1)  # [B, 1] -> [B]
    return drawn.clamp_(max=cdf.shape[-1] - 1)  # only a NaN row reaches n


def sample_by_gumbel_max(log_probs: torch.Tensor) -> torch.Tensor:
    """``[B]`` int64 draws from the categoricals of ``log_probs [B, n]``: ``argmax(log_probs + G)``, ``G`` i.i.d.
    standard Gumbel (``FastCategorical``, CUDA)."""
    neg_gumbel = torch.rand_like(log_probs).log_().neg_().log_()  # [B, n] log(-log U) = -G
    return (log_probs - neg_gumbel).max(dim=-1).indices  # max(): faster than argmax() over a short last dim


def _gaussian(params: torch.Tensor) -> Independent:
    mean, log_std = params.chunk(2, dim=-1)  # [B, d] each
    return Independent(Normal(mean, log_std.exp(), validate_args=False), 1, validate_args=False)


class CompositeDistribution:
    """Independent components over the columns of a ``[B, columns]`` action (MultiDiscrete and Tuple spaces).

    ``log_prob`` and ``entropy`` sum over components; ``sample`` and ``mode`` join them column-wise.
    """

    def __init__(self, parts: list, columns: list[int], dtype: torch.dtype):
        self.parts, self.columns, self.dtype = parts, columns, dtype

    def _split(self, actions: torch.Tensor):
        return actions.split(self.columns, dim=-1)

    def sample(self) -> torch.Tensor:
        """``[B, columns]``."""
        return torch.cat([_as_columns(p.sample()) for p in self.parts], dim=-1).to(self.dtype)

    def mode(self) -> torch.Tensor:
        """The most likely action, ``[B, columns]``."""
        return torch.cat([_as_columns(_mode(p)) for p in self.parts], dim=-1).to(self.dtype)

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        """``[B]``."""
        return sum(
            p.log_prob(a.squeeze(-1).long() if isinstance(p, Categorical) else a)
            for p, a in zip(self.parts, self._split(actions), strict=True)
        )

    def entropy(self) -> torch.Tensor:
        """``[B]``."""
        return sum(p.entropy() for p in self.parts)


def _as_columns(x: torch.Tensor) -> torch.Tensor:
    return x.unsqueeze(-1).float() if x.dim() == 1 else x.float()


def _mode(dist) -> torch.Tensor:
    return dist.probs.argmax(dim=-1) if isinstance(dist, Categorical) else dist.mean


def action_distribution(action_space: gym.Space, action_logits: torch.Tensor, action_mask: torch.Tensor | None = None):
    """The action distribution for ``action_logits [B, P]``; masked-out actions (mask 0) get probability 0.

    ``action_mask`` is ``[B, total categorical choices]`` (1 = legal), the masks of the categorical components
    joined in order. A Discrete space gives a ``Categorical`` (actions ``[B]``), a Box an ``Independent``
    Normal (``[B, d]``), others a ``CompositeDistribution`` (``[B, columns]``).

    Raises:
        ValueError: the mask's width differs from the number of categorical choices.
    """
    components = action_components(action_space)
    num_choices = sum(n for kind, n in components if kind == "categorical")
    if action_mask is not None and action_mask.shape[-1] != num_choices:
        raise ValueError(
            f"action_mask has {action_mask.shape[-1]} entries but the action space {action_space} has "
            f"{num_choices} discrete choices"
        )
    parts, columns, offset, mask_offset = [], [], 0, 0
    for kind, n in components:
        if kind == "categorical":
            mask = action_mask[:, mask_offset : mask_offset + n] if action_mask is not None else None
            parts.append(_masked_categorical(action_logits[:, offset : offset + n], mask))
            columns.append(1)
            offset, mask_offset = offset + n, mask_offset + n
        else:
            parts.append(_gaussian(action_logits[:, offset : offset + 2 * n]))
            columns.append(n)
            offset += 2 * n
    if isinstance(action_space, (gym.spaces.Discrete, gym.spaces.Box)):
        return parts[0]
    return CompositeDistribution(parts, columns, action_storage(action_space)[1])


def deterministic_actions(action_space: gym.Space, dist) -> torch.Tensor:
    """The most likely action: argmax per categorical, the mean per Gaussian."""
    return dist.mode() if isinstance(dist, CompositeDistribution) else _mode(dist)


def check_exploration_loss(cfg, action_space: gym.Space) -> None:
    """``--exploration_loss=symmetric_kl`` needs an action space of categorical components only.

    Raises:
        ValueError: ``symmetric_kl`` with a Box (continuous) action space or component; the message names the option
            and the fix.
    """
    if getattr(cfg, "exploration_loss", "entropy") != "symmetric_kl":
        return
    if any(kind == "normal" for kind, _ in action_components(action_space)):
        raise ValueError(
            f"--exploration_loss=symmetric_kl is the symmetric KL to a uniform policy over discrete actions, and the "
            f"action space {action_space} has a Box (continuous) part, which has no uniform prior: use "
            "--exploration_loss=entropy (the default)"
        )


def symmetric_kl_with_uniform_prior(dist) -> torch.Tensor:
    """``[B]`` ``0.5 * (KL(p || u) + KL(u || p))`` (nats) between each row's action distribution ``p`` and the uniform
    distribution ``u`` over its legal actions, summed over the categorical components of a MultiDiscrete or Tuple
    space: Sample Factory 2's ``symmetric_kl_with_uniform_prior`` (``--exploration_loss=symmetric_kl``).

    With an action mask, ``u = 1 / n_legal`` on the legal actions and the masked ones (probability 0, log-probability
    near the dtype's lowest value, see ``_masked_categorical``) are left out of both sums; Sample Factory spreads
    ``u`` over all n actions and lets the masked ones' ``-1e9`` log-probabilities into ``KL(u || p)``, which then
    only its clamp at 30 bounds. Without a mask the two are the same.

    Args:
        dist: what ``action_distribution`` returns for ``[B, P]`` parameters: a ``Categorical`` or a
            ``CompositeDistribution`` of them.

    Raises:
        ValueError: the distribution has a Gaussian (Box) component (``check_exploration_loss`` refuses such a model
            when it is built).
    """
    parts = dist.parts if isinstance(dist, CompositeDistribution) else [dist]
    if not all(isinstance(p, Categorical) for p in parts):
        raise ValueError(
            "the symmetric KL to a uniform prior (--exploration_loss=symmetric_kl) is defined for categorical "
            f"action distributions only, not {[type(p).__name__ for p in parts]}: use --exploration_loss=entropy"
        )
    return sum(_symmetric_kl_uniform(p.logits) for p in parts)


def _symmetric_kl_uniform(log_probs: torch.Tensor) -> torch.Tensor:
    """``[B]`` symmetric KL between the categoricals of normalized ``log_probs [B, n]`` and the uniform one over each
    row's legal (not masked) choices."""
    legal = log_probs > torch.finfo(log_probs.dtype).min / 2  # [B, n]; masked: about finfo.min
    log_p = torch.where(legal, log_probs, torch.zeros_like(log_probs))  # no gradient through masked choices
    log_u = -legal.sum(dim=-1, keepdim=True).to(log_p.dtype).log()  # [B, 1] log(1 / n_legal)
    kl_p_u = torch.where(legal, log_p.exp() * (log_p - log_u), torch.zeros_like(log_p)).sum(dim=-1)
    kl_u_p = torch.where(legal, log_u.exp() * (log_u - log_p), torch.zeros_like(log_p)).sum(dim=-1)
    return 0.5 * (kl_p_u + kl_u_p)
