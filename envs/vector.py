"""The vectorized-env contract: one object that steps E envs at once, with tensors on its device.

Simulators written in PyTorch (VMAS, and IsaacGym/Brax-style envs generally) step thousands of envs as one batch.
marl_sf consumes such an env without a per-env Python loop and without copying its tensors off its device
(``marl_sf.algo.vector_runner.VectorEnvRunner``). Contract (docs/custom_envs.md, "Vectorized envs")::

    is_vector_env = True
    num_envs: int                     # E
    num_agents: int                   # A
    device: torch.device              # where every tensor below lives
    reset(seed=None) -> (obs, infos)
    step(actions [E, A, ...]) -> (obs, rewards [E, A], terminated [E, A], truncated [E, A], infos)
    close()

* ``obs`` is ``{key: [E, A, *space[key].shape]}``; ``rewards`` float, ``terminated`` / ``truncated`` bool.
* ``observation_space`` / ``action_space`` are one agent's (transport) spaces, exactly as in the per-env contract
  (``marl_sf.envs.contract``), and so are the optional ``agent_names``, ``agent_observation_spaces`` /
  ``agent_action_spaces`` (agent groups), ``state_space`` and ``max_episode_steps``.
* ``actions`` arrive in the transport layout: ``[E, A]`` int64 for Discrete, ``[E, A, d_max]`` float32 for Box
  (already mapped onto each agent's bounds; an agent with a smaller Box reads its first ``d`` columns).
* Auto-reset, as gymnasium's same-step autoreset: an env whose every agent is terminated or truncated resets
  within ``step`` and returns the next episode's first observation; its last observation is in
  ``infos["final_obs"]`` (``{key: [E, A, ...]}``, valid in the rows where ``infos["_final_obs"]`` ``[E]`` is
  True) and, with a state, its last state in ``infos["final_state"]`` ``[E, G]``.
* Optional ``infos["is_active"]`` ``[E, A]`` bool (default: every agent acts) and ``state() -> [E, G]``.
"""

from __future__ import annotations

from typing import Any

import torch


def is_vector_env(env: Any) -> bool:
    """True when ``env`` declares the vectorized contract (``is_vector_env = True``)."""
    return bool(getattr(env, "is_vector_env", False))


def vector_env_device(env: Any) -> torch.device:
    """The device of a vectorized env's tensors (``env.device``; the CPU when it declares none)."""
    return torch.device(getattr(env, "device", "cpu"))
