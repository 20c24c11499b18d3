"""Optional env interfaces of Sample Factory: training progress sent to the env, and per-agent reward shaping.

An env (or any wrapper around it) that subclasses ``TrainingInfoInterface`` receives
``{"approx_total_training_steps": n}`` through ``set_training_info`` when training starts and then whenever the
sampler has collected more agent-steps (at the env's next step; the count moves once per rollout); ``n`` counts
the run's agent-steps (the unit of ``--train_for_env_steps``), resumed runs included. Curricula read it.
``RewardShapingInterface`` is the get/set contract Sample Factory's scripts implement; marl_sf finds it through
wrappers (``find_wrapper_interface``) and leaves the values to the user's code.
"""

from __future__ import annotations

from typing import Any


class TrainingInfoInterface:
    """Mixin for envs that want the training progress: call ``TrainingInfoInterface.__init__(self)`` in the env's
    ``__init__``; ``self.training_info`` then holds the last dict sent (``approx_total_training_steps``: agent-steps
    collected by the run so far)."""

    def __init__(self):
        self.training_info: dict[str, Any] = {}

    def set_training_info(self, training_info: dict[str, Any]) -> None:
        """Receive the training progress (called by the env runner, in the process stepping the env)."""
        self.training_info = training_info


class RewardShapingInterface:
    """Mixin for envs whose reward terms are configurable per agent (Sample Factory's interface)."""

    def get_default_reward_shaping(self) -> dict[str, Any] | None:
        """The reward-shaping coefficients the env starts with (one dict, shared by the agents)."""
        raise NotImplementedError

    def set_reward_shaping(self, reward_shaping: dict[str, Any], agent_idx: int | slice) -> None:
        """Use ``reward_shaping`` for agent ``agent_idx`` (an index, or a slice of agents)."""
        raise NotImplementedError


def find_wrapper_interface(env: Any, interface_type: type) -> Any | None:
    """The outermost of ``env`` and the envs it wraps (following ``.env``) that is an ``interface_type``; None when
    none is."""
    seen: set[int] = set()
    while env is not None and id(env) not in seen:
        if isinstance(env, interface_type):
            return env
        seen.add(id(env))
        env = getattr(env, "env", None)
    return None


def find_training_info_interface(env: Any) -> TrainingInfoInterface | None:
    """``find_wrapper_interface(env, TrainingInfoInterface)``."""
    return find_wrapper_interface(env, TrainingInfoInterface)


def set_training_info(env_or_interface: Any, approx_total_training_steps: int) -> None:
    """Send ``{"approx_total_training_steps": n}`` to the ``TrainingInfoInterface`` in ``env_or_interface`` (no-op when
    there is none)."""
    found = find_training_info_interface(env_or_interface)
    if found is not None:
        found.set_training_info({"approx_total_training_steps": int(approx_total_training_steps)})
