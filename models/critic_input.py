"""What the critic sees: one object per ``--critic_input`` kind (``local``, ``state``, ``state_local``, ``joint_obs``).

Each kind owns its three faces and nothing else in the engine branches on the kind:

* ``stored_space(cfg, env_spec)``: what the rollout keeps once per env for the critic (``[G]``), or None;
* ``env_input(obs, env_state)``: that per-env array from one step's transport observations ``{key: [E, A, ...]}``
  and ``env.state()`` rows ``[E, G]``;
* ``model_space(stored, agent_obs_space, num_agents)`` and ``rows(batch)``: the critic's ``"state"`` key as a
  Sample Factory-style model sees it, one row per (env, agent) ``[N * A_p, ...]``, built from a ``PolicyBatch``.

``per_env`` says whether that input is the same for every agent of an env (``state``, ``joint_obs``): a built-in
critic then runs once per env instead of once per agent (``marl_sf.models.actor_critic``). Kinds: ``local`` is
IPPO's own observation; ``state`` is MAPPO's env.state() (Yu et al. 2022); ``state_local`` is MAPPO's
agent-specific global state (state + own observation + one-hot agent id, Yu et al. 2022, sec. 4.2.1);
``joint_obs`` joins every agent's observation (for envs without ``state()``).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from marl_sf.envs.spec import EnvSpec


def _box(size: int) -> gym.spaces.Box:
    return gym.spaces.Box(-np.inf, np.inf, (size,), np.float32)


def is_image_space(space: gym.Space) -> bool:
    """A uint8 ``[H, W, C]`` Box: stored as uint8 and read by a conv encoder."""
    return isinstance(space, gym.spaces.Box) and len(space.shape) == 3 and space.dtype == np.uint8


class CriticInput:
    """The ``local`` kind, and the interface of every kind (see the module docstring)."""

    kind = "local"
    per_env = False
    needs_env_state = False  # whether the env runner must call env.state() each step

    def stored_space(self, cfg, env_spec: EnvSpec) -> gym.spaces.Box | None:
        """The per-env critic input kept in rollouts (``[G]``); None: nothing is stored."""
        return None

    def model_space(self, stored: gym.Space | None, agent_obs_space: gym.spaces.Dict, num_agents: int):
        """The space of the model's ``"state"`` key per (env, agent) row; None: the model gets no ``"state"``."""
        return None

    def env_input(self, obs: dict[str, torch.Tensor], env_state: torch.Tensor | None) -> torch.Tensor | None:
        """``[E, G]`` per-env critic input from transport observations ``{key: [E, A, ...]}`` and the envs'
        states ``[E, G]`` (None when the runner does not collect them), torch tensors on the CPU."""
        return None

    def rows(self, batch) -> torch.Tensor | None:
        """The ``"state"`` key per (env, agent) row, ``[N * A_p, ...]`` in (env, agent) order, from a
        ``PolicyBatch``; None for ``local``."""
        return None


class StateCritic(CriticInput):
    """``state``: the env's global state (``env.state()``), the same for every agent of an env."""

    kind = "state"
    per_env = True
    needs_env_state = True
    allows_image_state = True  # a uint8 [H, W, C] state goes to a conv encoder as it is

    def stored_space(self, cfg, env_spec):
        """env.state()'s space.

        Raises:
            ValueError: the env has no ``state_space``, or a state that is neither a vector nor (``state`` only)
                a uint8 image.
        """
        space = env_spec.state_space
        if space is None:
            raise ValueError(
                f"--critic_input={self.kind} needs an env with a global state (state_space and state()); "
                f"{cfg.env!r} has none: use --critic_input=joint_obs or local"
            )
        if len(space.shape) != 1 and not (self.allows_image_state and is_image_space(space)):
            raise ValueError(
                f"--critic_input={self.kind} needs a vector global state, or a uint8 image state with "
                f"--critic_input=state; {cfg.env!r} has a state of shape {space.shape}: use "
                "--critic_input=state (images), local or joint_obs"
            )
        return space

    def model_space(self, stored, agent_obs_space, num_agents):
        """The stored state itself (an image state keeps its uint8 space: the critic gets a conv encoder)."""
        return stored if is_image_space(stored) else _box(gym.spaces.flatdim(stored))

    def env_input(self, obs, env_state):
        """The envs' states, ``[E, G]``."""
        return env_state

    def rows(self, batch):
        """The env's state repeated for each of its agents: ``[N, G] -> [N * A_p, G]``."""
        return batch.state.repeat_interleave(batch.num_agents, dim=0)


class StateLocalCritic(StateCritic):
    """``state_local``: the state, the agent's own observation and its one-hot id, per agent."""

    kind = "state_local"
    per_env = False
    allows_image_state = False  # the state is concatenated with vectors

    def model_space(self, stored, agent_obs_space, num_agents):
        """``[G + D + A]``: state, flattened own observation, one-hot id."""
        return _box(gym.spaces.flatdim(stored) + gym.spaces.flatdim(agent_obs_space["obs"]) + num_agents)

    def rows(self, batch):
        """``concat(state, own obs, one-hot id)`` per row: ``[N * A_p, G + D + A]``."""
        n, a = batch.num_envs, batch.num_agents
        state = batch.state.unsqueeze(1).expand(n, a, -1)  # [N, G] -> [N, A_p, G]
        own = batch.obs["obs"].flatten(2)  # [N, A_p, D]
        ids = batch.agent_onehot.expand(n, -1, -1)  # [A_p, A] -> [N, A_p, A]
        return torch.cat([state, own, ids], dim=-1).flatten(0, 1)  # [N * A_p, G + D + A]


class JointObsCritic(StateCritic):
    """``joint_obs``: every agent's ``"obs"`` joined, ``[A * D]``, the same for every agent of an env."""

    kind = "joint_obs"
    needs_env_state = False

    def stored_space(self, cfg, env_spec):
        """``[A * D]`` for A agents of D-dimensional transport observations."""
        return _box(env_spec.num_agents * gym.spaces.flatdim(env_spec.observation_space["obs"]))

    def model_space(self, stored, agent_obs_space, num_agents):
        """The joined observations, ``[A * D]``."""
        return stored

    def env_input(self, obs, env_state):
        """``[E, A, ...] -> [E, A * D]`` float32."""
        joint = obs["obs"]
        return joint.reshape(joint.shape[0], -1).float()  # [E, A, ...] -> [E, A * D]


class RowsCritic(CriticInput):
    """A batch of single (env, agent) rows whose critic input per row was made already (``PolicyBatch.of_rows``):
    its ``state`` ``[N, G']`` is the model's ``"state"`` key as it is."""

    kind = "rows"

    def rows(self, batch):
        """``batch.state`` itself (one agent per cell)."""
        return batch.state


CRITIC_INPUTS = {c.kind: c for c in (CriticInput(), StateCritic(), StateLocalCritic(), JointObsCritic())}
"""``--critic_input`` name -> its ``CriticInput`` (stateless; one instance per kind)."""


def critic_input(name: str) -> CriticInput:
    """The ``CriticInput`` of ``--critic_input=name``.

    Raises:
        ValueError: an unknown name; the message lists the kinds.
    """
    if name not in CRITIC_INPUTS:
        raise ValueError(f"unknown --critic_input={name!r}; choose one of {tuple(CRITIC_INPUTS)}")
    return CRITIC_INPUTS[name]
