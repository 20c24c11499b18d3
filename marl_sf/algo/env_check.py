"""Checks of what an env returns against the env contract and its declared spaces.

The env runner applies them to an env's first reset and its first ``CHECKED_STEPS`` steps (``EnvGroup``), so a
broken env fails there with an error naming the env, the agent, the key and what was declared and received, and
steady-state stepping costs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import gymnasium as gym
import numpy as np

CHECKED_STEPS = 3  # steps after the first reset that are checked


class EnvContractError(ValueError):
    """An env returned something its contract or its declared spaces do not allow."""


def check_reset(where: str, num_agents: int, obs_space: gym.spaces.Dict, obs, infos) -> None:
    """Check ``reset()``'s ``(obs[A], infos[A])``.

    Args:
        where: names the env in errors, e.g. ``"env 'cue_match' #3 (CueMatchEnv)"``.
        num_agents: A.
        obs_space: one agent's observation space (a Dict of Box/Discrete spaces).

    Raises:
        EnvContractError: a list of the wrong length, or an observation that does not fit ``obs_space``.
    """
    _check_lengths(where, "reset", num_agents, obs=obs, infos=infos)
    check_observations(f"{where} reset", obs_space, obs)


def check_step(where: str, num_agents: int, obs_space: gym.spaces.Dict, result) -> None:
    """Check ``step()``'s ``(obs, rewards, terminated, truncated, infos)``, each of length A, and the final
    observations reported in ``infos[i]["final_obs"]``.

    Raises:
        EnvContractError: not a 5-tuple, a list of the wrong length, or an observation that does not fit.
    """
    if not isinstance(result, Sequence) or len(result) != 5:
        raise EnvContractError(
            f"{where} step returned {type(result).__name__} {_length(result)}: the contract is "
            "(obs, rewards, terminated, truncated, infos), each a list with one entry per agent"
        )
    obs, rewards, terminated, truncated, infos = result
    lists = {"obs": obs, "rewards": rewards, "terminated": terminated, "truncated": truncated, "infos": infos}
    _check_lengths(where, "step", num_agents, **lists)
    check_observations(f"{where} step", obs_space, obs)
    finals = [info["final_obs"] for info in infos if isinstance(info, Mapping) and "final_obs" in info]
    if finals:
        check_observations(f"{where} step (infos[i]['final_obs'])", obs_space, finals)


def check_state(where: str, state_space: gym.spaces.Box, state) -> None:
    """Check ``env.state()`` against ``env.state_space`` (shape, and a dtype castable without loss of kind).

    Raises:
        EnvContractError: a mismatch, naming the declared and the received shape/dtype.
    """
    problem = _array_problem(state_space, state)
    if problem:
        raise EnvContractError(f"{where} state(): {problem}")


def check_observations(where: str, obs_space: gym.spaces.Dict, obs) -> None:
    """Check each agent's observation dict: every declared key present, shape equal to the declared one, dtype
    castable to the declared dtype without losing its kind (floats into an integer space are refused; integers
    into a float space, float64 into float32 are fine).

    Raises:
        EnvContractError: naming the agent, the key, the declared and the received shape/dtype.
    """
    for agent, agent_obs in enumerate(obs):
        if not isinstance(agent_obs, Mapping):
            raise EnvContractError(
                f"{where}: agent {agent}'s observation is a {type(agent_obs).__name__}, expected a dict with keys "
                f"{list(obs_space.spaces)} (wrap array observations with marl_sf.envs.contract.DictObsWrapper)"
            )
        for key, space in obs_space.spaces.items():
            if key not in agent_obs:
                raise EnvContractError(
                    f"{where}: agent {agent}'s observation has no key {key!r} (declared keys "
                    f"{list(obs_space.spaces)}, received {list(agent_obs)})"
                )
            problem = _array_problem(space, agent_obs[key])
            if problem:
                raise EnvContractError(f"{where}: agent {agent}, key {key!r}: {problem}")


def _array_problem(space: gym.Space, value) -> str | None:
    """What is wrong with ``value`` as an element of ``space`` (shape, dtype), or None."""
    arr = np.asarray(value)
    declared = np.dtype(space.dtype) if space.dtype is not None else None
    if arr.shape != tuple(space.shape):
        return f"declared shape {tuple(space.shape)} ({declared}), received shape {arr.shape} ({arr.dtype})"
    if declared is not None and not np.can_cast(arr.dtype, declared, casting="same_kind"):
        return (
            f"declared dtype {declared}, received {arr.dtype} (shape {arr.shape}): the values would be "
            f"truncated; return {declared} values or declare the space as {arr.dtype}"
        )
    return None


def _check_lengths(where: str, call: str, num_agents: int, **lists) -> None:
    """Each of ``lists`` has ``num_agents`` entries."""
    for name, value in lists.items():
        if not isinstance(value, (Sequence, np.ndarray)) or len(value) != num_agents:
            raise EnvContractError(
                f"{where} {call} returned {name} {_length(value)}, expected a list of num_agents={num_agents} "
                "(one entry per agent)"
            )


def _length(value) -> str:
    """``"of length n"`` or the type of something that has no length."""
    return f"of length {len(value)}" if hasattr(value, "__len__") else f"of type {type(value).__name__}"
