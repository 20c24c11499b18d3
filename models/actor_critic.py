"""Actor-critics: the engine's model contract over Sample Factory's ``ActorCritic`` extension API.

The engine calls three methods of an actor-critic and nothing else, each on a ``PolicyBatch`` (N env cells of A_p
agents, the global state once per env), in the shape of CleanRL's ``get_action_and_value`` and SB3's
``evaluate_actions``:

* ``act(batch, deterministic=False) -> ActionResult``: actions ``[N, A_p, ...]`` (stored layout), log-probs
  ``[N, A_p]``, values ``[N, A_p]`` or None (``values_from_act`` False: the learner fills them with ``value``),
  new recurrent states ``[N, A_p, R]``; action masks are applied inside;
* ``value(batch) -> [N, A_p]``: state values (normalized units when value normalization is on);
* ``evaluate(batch, actions) -> EvaluationResult``: log-probs and entropy of the given actions, values, new
  recurrent states.

A trained policy acting outside training (``marl_sf.Policy``, ``marl_sf.export``) calls ``actor_forward(batch)``:
action logits and new recurrent states without values.

The ``ActorCritic`` base class implements all three over the user's Sample Factory-style
``forward(normalized_obs_dict, rnn_states, values_only=False)``, which returns a dict of tensors over a batch of B
(env, agent) rows:

* ``"values"``: ``[B]`` state values;
* ``"action_logits"``: ``[B, num_action_params]`` distribution parameters (absent if ``values_only``);
* ``"new_rnn_states"``: ``[B, rnn_state_size]`` (the input states unchanged for feed-forward models).

``normalized_obs_dict`` holds the actor's keys (``"obs"``, optional ``"action_mask"``), and ``"state"``,
the critic's input per row (``marl_sf.models.critic_input``), when ``--critic_input`` is not ``local``.

The built-in models decide their own shortcuts from their built structure (once, on first use): a critic whose input
is the same for every agent of an env (``state``, ``joint_obs``; feed-forward) runs once per env
(``critic_once_per_env``), and a separate feed-forward critic is left out of ``act`` (``values_from_act = False``):
the learner computes the rollout's values in batched ``value`` passes. A subclass that brings its own ``forward``
(itself or through a mixin) uses neither shortcut unless it declares ``shortcuts = True``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from marl_sf.envs.episode_progress import EPISODE_PROGRESS_KEY
from marl_sf.models.action_distribution import (
    ActionParameterization,
    action_distribution,
    check_exploration_loss,
    deterministic_actions,
    num_action_params,
    symmetric_kl_with_uniform_prior,
)
from marl_sf.models.batch import PolicyBatch
from marl_sf.models.core import ModelCore, ModelCoreIdentity, rnn_state_size
from marl_sf.models.critic_input import critic_input
from marl_sf.models.model_utils import init_orthogonal, init_trunk
from marl_sf.models.obs_normalizer import ObservationNormalizer


@dataclass
class ActionResult:
    """What ``ActorCritic.act`` returns for N cells of A_p agents.

    Attributes:
        actions: ``[N, A_p, ...]`` in the stored layout (``action_storage``; Box actions normalized to [-1, 1]).
        log_probs: ``[N, A_p]`` log-probability of each action under the (masked) distribution.
        values: ``[N, A_p]`` state values, or None when the model leaves them to ``value`` (``values_from_act``).
        new_rnn_states: ``[N, A_p, R]`` recurrent states after the step (R = 0 for feed-forward models).
    """

    actions: torch.Tensor
    log_probs: torch.Tensor
    values: torch.Tensor | None
    new_rnn_states: torch.Tensor


@dataclass
class EvaluationResult:
    """What ``ActorCritic.evaluate`` returns for N cells of A_p agents and given actions.

    Attributes:
        log_probs: ``[N, A_p]`` log-probabilities of the given actions.
        entropy: ``[N, A_p]`` entropy of each agent's action distribution.
        values: ``[N, A_p]`` state values.
        new_rnn_states: ``[N, A_p, R]``.
        symmetric_kl: ``[N, A_p]`` symmetric KL (nats) of each agent's action distribution to the uniform one over
            its legal actions (``symmetric_kl_with_uniform_prior``), which the learner needs with
            ``--exploration_loss=symmetric_kl`` (the base ``evaluate`` fills it then); None otherwise.
    """

    log_probs: torch.Tensor
    entropy: torch.Tensor
    values: torch.Tensor
    new_rnn_states: torch.Tensor
    symmetric_kl: torch.Tensor | None = None


class ActorCritic(nn.Module):
    """Base class: ``__init__(obs_space, action_space, cfg)``; subclasses build the layers and ``forward``.

    Args:
        obs_space: one agent's Dict observation space (with ``"state"`` for a centralized critic).
        action_space: one agent's action space.
        cfg: the config.

    Raises:
        ValueError: ``--normalize_input_keys`` names a key the normalizer cannot normalize
            (``ObservationNormalizer``).

    Attributes:
        values_from_act: declared capability: ``act`` returns values (True here). A model that sets it False
            returns ``values=None`` from ``act``, and the learner computes the rollout's values with ``value``.
    """

    values_from_act: bool = True

    def __init__(self, obs_space: gym.spaces.Dict, action_space: gym.Space, cfg):
        super().__init__()
        self.obs_space = obs_space
        self.action_space = action_space
        self.cfg = cfg
        check_exploration_loss(cfg, action_space)  # ValueError: symmetric_kl with a Box action space
        self.obs_normalizer = None  # --normalize_input; ValueError: a --normalize_input_keys key it cannot normalize
        if cfg.normalize_input:
            self.obs_normalizer = ObservationNormalizer(obs_space, cfg.normalize_input_keys)

    def forward_batch(self, batch: PolicyBatch, values_only: bool = False) -> dict[str, torch.Tensor]:
        """The model on a ``PolicyBatch``: normalizes the inputs and returns ``values [N, A_p]``, ``action_logits
        [N, A_p, P]`` (absent if ``values_only``) and ``new_rnn_states [N, A_p, R]``.

        This base implementation is the adapter for Sample Factory-style models: the batch is flattened to
        ``[N * A_p, ...]`` rows (``PolicyBatch.rows``) and ``forward`` runs on them.
        """
        n, a = batch.num_envs, batch.num_agents
        out = self(self.normalize_obs(batch.rows()), batch.rnn_states.flatten(0, 1), values_only)
        return {k: v.reshape(n, a, *v.shape[1:]) for k, v in out.items()}  # [N * A_p, ...] -> [N, A_p, ...]

    def act(self, batch: PolicyBatch, deterministic: bool = False) -> ActionResult:
        """Actions for the ``[N, A_p]`` agents of ``batch``, sampled (or the mode with ``deterministic``) from the
        distribution masked by the batch's ``action_mask``, with their log-probs, the values and the new recurrent
        states (see ``ActionResult``)."""
        out = self.forward_batch(batch)
        return self.sample_actions(batch, out["action_logits"], out["values"], out["new_rnn_states"], deterministic)

    def actor_forward(self, batch: PolicyBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """The actor's outputs alone, for acting without values: ``action_logits [N, A_p, P]`` and the new recurrent
        states ``[N, A_p, R]``. This base runs ``forward_batch`` (a Sample Factory-style ``forward`` computes both
        heads, so the critic's inputs must be there; zeros do); the built-in models run their actor only."""
        out = self.forward_batch(batch)
        return out["action_logits"], out["new_rnn_states"]

    def value(self, batch: PolicyBatch) -> torch.Tensor:
        """State values ``[N, A_p]`` of ``batch`` (a ``values_only`` forward)."""
        return self.forward_batch(batch, values_only=True)["values"]

    def evaluate(self, batch: PolicyBatch, actions: torch.Tensor) -> EvaluationResult:
        """Log-probs and entropy of ``actions [N, A_p, ...]`` (stored layout) under the model's distribution for
        ``batch``, with the values and the new recurrent states (see ``EvaluationResult``; ``symmetric_kl`` with
        ``--exploration_loss=symmetric_kl``); differentiable."""
        n, a = batch.num_envs, batch.num_agents
        out = self.forward_batch(batch)
        dist = self.action_distribution(out["action_logits"].flatten(0, 1), batch.action_mask_rows())
        log_probs = dist.log_prob(actions.flatten(0, 1)).view(n, a)  # [N * A_p] -> [N, A_p]
        sym_kl = None
        if getattr(self.cfg, "exploration_loss", "entropy") == "symmetric_kl":
            sym_kl = symmetric_kl_with_uniform_prior(dist).view(n, a)  # [N * A_p] -> [N, A_p]
        return EvaluationResult(log_probs, dist.entropy().view(n, a), out["values"], out["new_rnn_states"], sym_kl)

    def sample_actions(
        self,
        batch: PolicyBatch,
        action_logits: torch.Tensor,
        values: torch.Tensor | None,
        new_rnn_states: torch.Tensor,
        deterministic: bool = False,
    ) -> ActionResult:
        """The ``ActionResult`` for distribution parameters ``action_logits [N, A_p, P]`` of ``batch``'s agents
        (masked by its ``action_mask``): what ``act`` does after the forward pass."""
        n, a = batch.num_envs, batch.num_agents
        actions, log_probs = self.actions_from_logits(action_logits.flatten(0, 1), batch.action_mask_rows(),
                                                      deterministic)  # fmt: skip
        # [N * A_p, ...] -> [N, A_p, ...]
        return ActionResult(actions.view(n, a, *actions.shape[1:]), log_probs.view(n, a), values, new_rnn_states)

    def actions_from_logits(
        self, action_logits: torch.Tensor, action_mask: torch.Tensor | None = None, deterministic: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Actions ``[B, ...]`` and their log-probs ``[B]`` from distribution parameters ``[B, P]`` and an optional
        ``[B, n_choices]`` mask: sampled, or the most likely action with ``deterministic``."""
        dist = self.action_distribution(action_logits, action_mask)
        actions = deterministic_actions(self.action_space, dist) if deterministic else dist.sample()
        return actions, dist.log_prob(actions)

    def update_normalizer(self, batch: PolicyBatch, active: torch.Tensor, all_sum=None) -> None:
        """Fold a batch's inputs into the ``--normalize_input`` statistics, only the ``[N, A_p]`` ``active``
        agents: per-agent keys once per active agent, a per-env critic state once per env with an active agent
        (``all_sum``: data-parallel learners' sum, see ``RunningMeanStd.update``)."""
        if self.obs_normalizer is None:
            return
        inputs = {k: v[active] for k, v in batch.obs.items()}  # [n_active, ...]
        if batch.state is not None and "state" in self.obs_normalizer.stats:
            if batch.critic.per_env:  # the statistics of what the critic reads: the state once per env
                inputs["state"] = batch.state[active.any(dim=1)]  # [n_envs_active, G]
            else:
                inputs["state"] = batch.critic.rows(batch)[active.flatten()]  # [n_active, G']
        self.obs_normalizer.update(inputs, all_sum)

    def normalize_obs(self, obs_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The model's input: running-statistics normalization with ``--normalize_input``, else unchanged."""
        return self.obs_normalizer(obs_dict) if self.obs_normalizer is not None else obs_dict

    def get_action_parameterization(self, decoder_output_size: int) -> ActionParameterization:
        """The action head for this model's action space, from ``[B, decoder_output_size]`` features."""
        return ActionParameterization(self.cfg, decoder_output_size, self.action_space)

    def action_distribution(self, action_logits: torch.Tensor, action_mask: torch.Tensor | None = None):
        """The (masked) action distribution for ``action_logits [B, P]`` (see ``action_distribution``)."""
        return action_distribution(self.action_space, action_logits, action_mask)

    def rnn_state_size(self) -> int:
        """Flat recurrent state size R per row (0 for feed-forward models): the sum of the model's cores'
        ``ModelCore.rnn_state_size()``, in module order; a model with no ``ModelCore`` follows ``--use_rnn``
        (Sample Factory's convention). A registered recurrent core makes the model recurrent on its own."""
        cores = list(_outer_cores(self))
        return sum(c.rnn_state_size() for c in cores) if cores else rnn_state_size(self.cfg)

    @property
    def is_recurrent(self) -> bool:
        """Whether the model carries a recurrent state (``rnn_state_size() > 0``): the sampler carries it
        between steps and the learner unrolls whole trajectories."""
        return self.rnn_state_size() > 0

    def critic_only_keys(self) -> list[str]:
        """The obs keys only the critic sees: ``--critic_only_obs_keys``, and ``episode_progress`` when the
        observations have it (a time-aware critic, ``marl_sf.envs.episode_progress``)."""
        hidden = list(self.cfg.critic_only_obs_keys or [])
        return hidden + [EPISODE_PROGRESS_KEY] if EPISODE_PROGRESS_KEY in self.obs_space.spaces else hidden

    def actor_obs_space(self) -> gym.spaces.Dict:
        """The space of the actor's inputs: ``obs_space`` without the critic-only keys."""
        hidden = self.critic_only_keys()
        return gym.spaces.Dict({k: s for k, s in self.obs_space.spaces.items() if k not in hidden})

    def critic_obs(self, obs_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The critic's input dict: ``{"obs": state, <critic-only keys>}`` for a centralized critic, else
        the whole obs dict (the actor's keys and the critic-only keys)."""
        if "state" not in self.obs_space.spaces:
            return obs_dict
        return {"obs": obs_dict["state"], **{k: obs_dict[k] for k in self.critic_only_keys()}}

    def critic_obs_space(self) -> gym.spaces.Dict:
        """The space of ``critic_obs``."""
        if "state" not in self.obs_space.spaces:
            return self.obs_space
        return gym.spaces.Dict(
            {"obs": self.obs_space["state"], **{k: self.obs_space[k] for k in self.critic_only_keys()}}
        )

    def critic_extra_space(self) -> gym.spaces.Dict | None:
        """What a shared trunk does not see but the critic should: the state and the critic-only keys."""
        if "state" in self.obs_space.spaces:
            return self.critic_obs_space()
        hidden = self.critic_only_keys()
        return gym.spaces.Dict({k: self.obs_space[k] for k in hidden}) if hidden else None


def _outer_cores(module: nn.Module):
    """The ``ModelCore`` submodules of ``module`` that are not inside another core, in module order."""
    for child in module.children():
        if isinstance(child, ModelCore):
            yield child
        else:
            yield from _outer_cores(child)


class _BuiltInActorCritic(ActorCritic):
    """What the two built-in layouts share: the shortcuts they decide from their own structure, and their init:
    the trunk (encoders, cores, decoders) by ``--policy_initialization`` and ``--policy_init_gain``
    (``init_trunk``), then the value head orthogonally with gain 1 and the policy head with gain 0.01
    (``ActionParameterization``).

    Attributes:
        shortcuts: declared by the class: True for the built-in layouts; a subclass that defines its own
            ``forward`` (or ``forward_batch``) gets False (its own code then runs, the row adapter for a
            ``forward``), unless it sets ``shortcuts`` itself.
        critic_once_per_env: the critic runs once per env, not once per agent (see the property).
    """

    shortcuts: bool = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for klass in cls.__mro__:  # the nearest class that declares shortcuts or brings its own forward decides
            if "shortcuts" in klass.__dict__:
                cls.shortcuts = klass.__dict__["shortcuts"]
                return
            if "forward" in klass.__dict__ or "forward_batch" in klass.__dict__:
                cls.shortcuts = False  # that class's forward decides the outputs
                return

    @functools.cached_property
    def critic_once_per_env(self) -> bool:
        """Whether the critic runs once per env, decided once from the built model's structure (on first use, so
        that a subclass may still replace a part after ``__init__``): a critic input that is the same for every
        agent of an env (``--critic_input`` ``state``, ``joint_obs``), feed-forward cores (identity), and no
        critic-only key but the env-wide ``episode_progress``."""
        cores = [m for m in self.modules() if isinstance(m, ModelCore)]
        env_wide = {EPISODE_PROGRESS_KEY} if self.cfg.time_aware_critic else set()  # added by the engine
        return (
            self.shortcuts
            and critic_input(self.cfg.critic_input).per_env
            and "state" in self.obs_space.spaces
            and set(self.critic_only_keys()) <= env_wide
            and all(type(c) is ModelCoreIdentity for c in cores)
        )

    def env_critic_obs(self, batch: PolicyBatch) -> dict[str, torch.Tensor]:
        """The critic's normalized input once per env: ``{"obs": state [N, G], "episode_progress": [N, 1]}`` (the
        progress is the env's, the same for each of its agents: agent 0's is taken)."""
        per_env = {"state": batch.state, **{k: batch.obs[k][:, 0] for k in self.critic_only_keys()}}  # [N, ...]
        return self.critic_obs(self.normalize_obs(per_env))

    def actor_rows(self, batch: PolicyBatch) -> dict[str, torch.Tensor]:
        """The actor's normalized input rows ``{key: [N * A_p, ...]}`` (no ``"state"``, no critic-only key)."""
        hidden = self.critic_only_keys()
        # [N, A_p, ...] -> [N * A_p, ...]
        return self.normalize_obs({k: v.flatten(0, 1) for k, v in batch.obs.items() if k not in hidden})


class ActorCriticSharedWeights(_BuiltInActorCritic):
    """One encoder -> core -> decoder trunk feeds both the policy head and the value head.

    With a centralized critic (``"state"`` in the obs space) or critic-only keys the actor still sees only its
    own observation: a critic-only encoder embeds the state and the critic-only keys, and the value head reads
    ``concat(trunk_output, critic_embedding)``.
    """

    shortcuts = True  # declared: its own forward is the built-in one

    def __init__(self, model_factory, obs_space, action_space, cfg):
        super().__init__(obs_space, action_space, cfg)
        self.encoder = model_factory.make_encoder_func(cfg, self.actor_obs_space())
        self.core = model_factory.make_model_core_func(cfg, self.encoder.get_out_size())
        self.decoder = model_factory.make_decoder_func(cfg, self.core.get_out_size())
        value_input = self.decoder.get_out_size()
        self.state_encoder, extra_space = None, self.critic_extra_space()
        if extra_space is not None:
            self.state_encoder = model_factory.make_encoder_func(cfg, extra_space)
            value_input += self.state_encoder.get_out_size()
        init_trunk(self, cfg)  # encoders, cores, decoders; the heads follow
        self.critic_linear = nn.Linear(value_input, 1)
        init_orthogonal(self.critic_linear, gain=1.0)
        self.action_parameterization = self.get_action_parameterization(self.decoder.get_out_size())

    def forward(self, normalized_obs_dict, rnn_states, values_only: bool = False):
        """See the module docstring for inputs and outputs."""
        x, new_rnn_states = self._trunk(normalized_obs_dict, rnn_states)
        value_in = x
        if self.state_encoder is not None:
            value_in = torch.cat([x, self.state_encoder(self.critic_obs(normalized_obs_dict))], dim=-1)  # [B, H + S]
        return self._heads(x, value_in, new_rnn_states, values_only)

    def forward_batch(self, batch: PolicyBatch, values_only: bool = False):
        """See ``ActorCritic.forward_batch``; the state is embedded once per env when ``critic_once_per_env``."""
        if not (self.critic_once_per_env and batch.critic.per_env):
            return super().forward_batch(batch, values_only)
        n, a = batch.num_envs, batch.num_agents
        x, _ = self._trunk(self.actor_rows(batch), batch.rnn_states.flatten(0, 1))  # [N * A_p, H]
        embedding = self.state_encoder(self.env_critic_obs(batch))  # [N, S]
        value_in = torch.cat([x.reshape(n, a, -1), embedding.unsqueeze(1).expand(n, a, -1)], dim=-1)  # [N, A_p, H+S]
        out = self._heads(x, value_in, batch.rnn_states, values_only)
        if not values_only:
            out["action_logits"] = out["action_logits"].reshape(n, a, -1)  # [N * A_p, P] -> [N, A_p, P]
        return out

    def actor_forward(self, batch: PolicyBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """See ``ActorCritic.actor_forward``: the trunk and the policy head, without the critic-only encoder."""
        if not self.shortcuts:
            return super().actor_forward(batch)
        n, a = batch.num_envs, batch.num_agents
        x, new_h = self._trunk(self.actor_rows(batch), batch.rnn_states.flatten(0, 1))  # [N * A_p, H], [N * A_p, R]
        logits = self.action_parameterization.action_logits(x)  # [N * A_p, P]
        return logits.view(n, a, -1), new_h.view(n, a, -1)  # [N * A_p, ...] -> [N, A_p, ...]

    def _trunk(self, normalized_obs_dict, rnn_states):
        """Encoder -> core -> decoder on rows: features ``[B, H]`` and the new recurrent states ``[B, R]``."""
        x = self.encoder(normalized_obs_dict)
        x, new_rnn_states = self.core(x, rnn_states)
        return self.decoder(x), new_rnn_states

    def _heads(self, x, value_in, new_rnn_states, values_only: bool):
        """Value head on ``value_in [..., H (+ S)]``, policy head on the trunk features ``x [B, H]``."""
        out = {"values": self.critic_linear(value_in).squeeze(-1), "new_rnn_states": new_rnn_states}
        if not values_only:
            out["action_logits"] = self.action_parameterization.action_logits(x)
        return out


class ActorCriticSeparateWeights(_BuiltInActorCritic):
    """Separate actor and critic networks (each encoder -> core -> decoder); the MAPPO layout.

    The critic's encoder sees ``critic_obs``: the global state for a centralized critic. The recurrent
    state is ``[B, R_actor + R_critic]`` (each core's ``rnn_state_size()``): the actor's part first.
    """

    shortcuts = True  # declared: its own forward is the built-in one

    def __init__(self, model_factory, obs_space, action_space, cfg):
        super().__init__(obs_space, action_space, cfg)
        self.actor_encoder = model_factory.make_encoder_func(cfg, self.actor_obs_space())
        self.actor_core = model_factory.make_model_core_func(cfg, self.actor_encoder.get_out_size())
        self.actor_decoder = model_factory.make_decoder_func(cfg, self.actor_core.get_out_size())
        self.critic_encoder = model_factory.make_encoder_func(cfg, self.critic_obs_space())
        self.critic_core = model_factory.make_model_core_func(cfg, self.critic_encoder.get_out_size())
        self.critic_decoder = model_factory.make_decoder_func(cfg, self.critic_core.get_out_size())
        init_trunk(self, cfg)  # encoders, cores, decoders; the heads follow
        self.critic_linear = nn.Linear(self.critic_decoder.get_out_size(), 1)
        init_orthogonal(self.critic_linear, gain=1.0)
        self.action_parameterization = self.get_action_parameterization(self.actor_decoder.get_out_size())

    @functools.cached_property
    def values_from_act(self) -> bool:
        """False for a feed-forward critic of its own (with the built-in ``forward``): ``act`` runs the actor alone
        and the learner computes the values in batched ``value`` passes. Decided once, on first use."""
        return not (self.shortcuts and self.critic_core.rnn_state_size() == 0)

    def forward(self, normalized_obs_dict, rnn_states, values_only: bool = False):
        """See the module docstring for inputs and outputs."""
        # [B, R_actor + R_critic] -> [B, R_actor], [B, R_critic]
        actor_h, critic_h = rnn_states.split([self.actor_core.rnn_state_size(), self.critic_core.rnn_state_size()], -1)
        values, new_critic_h = self._critic(self.critic_obs(normalized_obs_dict), critic_h)
        out, new_actor_h = {"values": values}, actor_h
        if not values_only:
            out["action_logits"], new_actor_h = self._actor(normalized_obs_dict, actor_h)
        out["new_rnn_states"] = torch.cat([new_actor_h, new_critic_h], dim=-1)
        return out

    def forward_batch(self, batch: PolicyBatch, values_only: bool = False):
        """See ``ActorCritic.forward_batch``; the critic runs once per env when ``critic_once_per_env``."""
        if not (self.critic_once_per_env and batch.critic.per_env):
            return super().forward_batch(batch, values_only)
        n, a = batch.num_envs, batch.num_agents
        no_state = batch.rnn_states.new_zeros(n, 0)
        values, _ = self._critic(self.env_critic_obs(batch), no_state)  # [N]
        out = {"values": values.unsqueeze(1).expand(n, a), "new_rnn_states": batch.rnn_states}  # [N, A_p]
        if not values_only:
            logits, _ = self._actor(self.actor_rows(batch), batch.rnn_states.flatten(0, 1))  # [N * A_p, P]
            out["action_logits"] = logits.reshape(n, a, -1)  # [N * A_p, P] -> [N, A_p, P]
        return out

    def act(self, batch: PolicyBatch, deterministic: bool = False) -> ActionResult:
        """See ``ActorCritic.act``; the actor alone (``values=None``) unless ``values_from_act`` (the critic's
        recurrent state is then empty, so the actor's is the whole ``[N, A_p, R]``)."""
        if self.values_from_act:
            return super().act(batch, deterministic)
        logits, new_h = self.actor_forward(batch)  # [N, A_p, P], [N, A_p, R]
        return self.sample_actions(batch, logits, None, new_h, deterministic)

    def actor_forward(self, batch: PolicyBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """See ``ActorCritic.actor_forward``: the actor network alone; the critic's part of the recurrent state is
        returned unchanged."""
        if not self.shortcuts:
            return super().actor_forward(batch)
        n, a = batch.num_envs, batch.num_agents
        # [N, A_p, R_actor + R_critic] -> [N * A_p, R_actor], [N * A_p, R_critic]
        actor_h, critic_h = batch.rnn_states.flatten(0, 1).split(
            [self.actor_core.rnn_state_size(), self.critic_core.rnn_state_size()], -1
        )
        logits, new_actor_h = self._actor(self.actor_rows(batch), actor_h)  # [N * A_p, P], [N * A_p, R_actor]
        # [N * A_p, R]; a feed-forward critic (the sampler's case) has nothing to append
        new_h = torch.cat([new_actor_h, critic_h], dim=-1) if critic_h.shape[-1] else new_actor_h
        return logits.view(n, a, -1), new_h.view(n, a, -1)  # [N * A_p, ...] -> [N, A_p, ...]

    def _critic(self, critic_obs, critic_h):
        """Values ``[B]`` and new critic states ``[B, R_critic]`` from the critic's inputs."""
        c = self.critic_encoder(critic_obs)
        c, new_critic_h = self.critic_core(c, critic_h)
        return self.critic_linear(self.critic_decoder(c)).squeeze(-1), new_critic_h

    def _actor(self, normalized_obs_dict, actor_h):
        """Action logits ``[B, P]`` and new actor states ``[B, R_actor]``."""
        a = self.actor_encoder(normalized_obs_dict)
        a, new_actor_h = self.actor_core(a, actor_h)
        logits = self.action_parameterization.action_logits(self.actor_decoder(a))
        return logits, new_actor_h


def create_actor_critic(cfg, obs_space: gym.spaces.Dict, action_space: gym.Space) -> ActorCritic:
    """Build the registered actor-critic, else shared or separate weights (``--actor_critic_share_weights``).

    Raises:
        ValueError: the model (or an encoder) asks for an obs key the space lacks, or its outputs have the wrong
            shapes (see ``check_model_outputs``); an option the model refuses (``--normalize_input_keys``,
            ``--policy_initialization``, ``--initial_stddev``, ``--continuous_tanh_scale``; see ``ActorCritic``).
    """
    from marl_sf.models.factory import global_model_factory

    factory = global_model_factory()
    make = factory.make_actor_critic_func
    if make is None:
        make = ActorCriticSharedWeights if cfg.actor_critic_share_weights else ActorCriticSeparateWeights
    try:
        model = make(factory, obs_space, action_space, cfg)
    except KeyError as e:
        raise ValueError(
            f"building the actor-critic looked up obs key {e}, which the observation space does not have; its keys "
            f"are {sorted(obs_space.spaces)}"
        ) from e
    check_model_outputs(model, obs_space, action_space)
    return model


def check_model_outputs(model: ActorCritic, obs_space: gym.spaces.Dict, action_space: gym.Space) -> None:
    """Run the model once on two sampled observations and check the output keys and shapes.

    Raises:
        ValueError: the model reads an obs key the space lacks; a missing output, or one whose shape is not
            ``values [B]``, ``action_logits [B, num_action_params]``, ``new_rnn_states [B, rnn_state_size]``;
            the message names the model class.
    """
    batch = 2
    obs = {k: torch.as_tensor(np.stack([s.sample() for _ in range(batch)])) for k, s in obs_space.spaces.items()}
    obs = {k: v if k == "action_mask" else v.float() for k, v in obs.items()}
    size = model.rnn_state_size()
    name = type(model).__name__
    try:
        with torch.no_grad():
            out = model(model.normalize_obs(obs), torch.zeros(batch, size))
    except KeyError as e:
        raise ValueError(
            f"{name} (or one of its encoders) reads obs key {e} that the observation space does not have; its keys "
            f"are {sorted(obs_space.spaces)} (the critic's global state arrives as 'state' with --critic_input "
            f"state/state_local/joint_obs)"
        ) from e
    expected = {
        "values": (batch,),
        "action_logits": (batch, num_action_params(action_space)),
        "new_rnn_states": (batch, size),
    }
    for key, shape in expected.items():
        if key not in out:
            raise ValueError(f"{name}.forward must return {key!r} (got keys {sorted(out)})")
        if tuple(out[key].shape) != shape:
            raise ValueError(
                f"{name}.forward returned {key!r} of shape {tuple(out[key].shape)}; expected {shape} for a batch of "
                f"{batch} (see the shapes in marl_sf.models.actor_critic's docstring)"
            )
