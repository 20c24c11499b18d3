"""Checks of what an env returns against the env contract and its declared spaces, for both contracts: a list
env's Python lists (``check_reset``, ``check_step``, ``check_state``) and a vectorized env's tensors
(``VectorContractChecks``), and the non-finite check every runner applies to every step (``check_finite``).

The env runners apply the contract checks to the first reset and the first ``CHECKED_STEPS`` steps, so a broken env
fails there with an error naming the env, the agent, the key and what was declared and received, and steady-state
stepping costs only the non-finite check.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import gymnasium as gym
import numpy as np
import torch

from marl_sf.utils.finite import NonFiniteError

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


class VectorContractChecks:
    """The vectorized-env contract (``marl_sf.envs.vector``): tensors ``[E, A, ...]`` of the declared shapes and
    dtype kinds on the env's device.

    Args:
        where: names the env in errors.
        spec: the env's ``EnvSpec``.
        num_envs: E.
        device: the env's declared device.
    """

    def __init__(self, where: str, spec, num_envs: int, device: torch.device):
        self.where, self.spec, self.num_envs, self.device = where, spec, num_envs, device

    def step(self, result) -> None:
        """Check ``step()``'s ``(obs, rewards, terminated, truncated, infos)``.

        Raises:
            EnvContractError: not a 5-tuple, a tensor of the wrong shape, dtype or device, infos not a dict.
        """
        if not isinstance(result, tuple | list) or len(result) != 5:
            raise EnvContractError(
                f"{self.where} step returned {type(result).__name__}: the contract is (obs, rewards, terminated, "
                "truncated, infos) with tensors [E, A, ...] (marl_sf.envs.vector)"
            )
        obs, rewards, terminated, truncated, infos = result
        self.obs("step", obs, "obs")
        e, a = self.num_envs, self.spec.num_agents
        for name, value, kind in (("rewards", rewards, "f"), ("terminated", terminated, "b"),
                                  ("truncated", truncated, "b")):  # fmt: skip
            self.tensor("step", name, value, (e, a), kind)
        if not isinstance(infos, Mapping):
            raise EnvContractError(f"{self.where} step returned infos of type {type(infos).__name__}: give a dict")
        if "final_obs" in infos:
            self.obs("step", infos["final_obs"], "infos['final_obs']")
            self.tensor("step", "infos['_final_obs']", infos.get("_final_obs"), (e,), "b")
        if "is_active" in infos:
            self.tensor("step", "infos['is_active']", infos["is_active"], (e, a), "b")

    def state(self, when: str, state) -> None:
        """``state()`` must be ``[E, *state_space.shape]`` on the env's device.

        Raises:
            EnvContractError: another shape, dtype kind or device.
        """
        shape = (self.num_envs, *self.spec.state_space.shape)
        kinds = "f" if np.dtype(self.spec.state_space.dtype).kind == "f" else "iub"
        self.tensor(when, "state()", state, shape, kinds)

    def obs(self, when: str, obs, what: str) -> None:
        """Observations must be ``{key: [E, A, ...]}`` with every declared key.

        Raises:
            EnvContractError: not a dict, a key missing, or a tensor of the wrong shape, dtype or device.
        """
        if not isinstance(obs, Mapping):
            raise EnvContractError(
                f"{self.where} {when}: {what} is a {type(obs).__name__}, expected a dict of tensors "
                f"{{key: [E, A, ...]}} with keys {list(self.spec.observation_space.spaces)}"
            )
        for key, space in self.spec.observation_space.spaces.items():
            if key not in obs:
                raise EnvContractError(f"{self.where} {when}: {what} has no key {key!r} (received {list(obs)})")
            kind = "f" if np.dtype(space.dtype).kind == "f" else "iub"
            shape = (self.num_envs, self.spec.num_agents, *space.shape)
            self.tensor(when, f"{what}[{key!r}]", obs[key], shape, kind)

    def tensor(self, when: str, name: str, value, shape: tuple[int, ...], kinds: str) -> None:
        """Raise ``EnvContractError`` unless ``value`` is a tensor of ``shape`` on the env's device whose dtype kind
        (``b`` bool, ``i``/``u`` integer, ``f`` float) is one of ``kinds``."""
        where = f"{self.where} {when}: {name}"
        if not isinstance(value, torch.Tensor):
            raise EnvContractError(f"{where} is a {type(value).__name__}, expected a torch tensor of shape {shape}")
        if tuple(value.shape) != shape:
            raise EnvContractError(f"{where} has shape {tuple(value.shape)}, expected {shape} ([E, A, ...])")
        kind = "b" if value.dtype == torch.bool else ("f" if value.dtype.is_floating_point else "i")
        if kind not in kinds:
            raise EnvContractError(f"{where} has dtype {value.dtype}, expected a {'/'.join(kinds)} dtype")
        if value.device != self.device and not (value.device.type == self.device.type == "cuda"):
            raise EnvContractError(f"{where} is on {value.device}, but the env declares device {self.device}")


def check_finite(
    buffers: list[tuple[str, torch.Tensor, bool]], when: str, env_label: Callable[[int], str], agent_names
) -> None:
    """Raise ``NonFiniteError`` naming the env, the agent and the quantity of the first NaN or inf in ``buffers``.

    One sum per buffer (NaN and inf propagate through it); the buffers are searched only when a sum is not finite (a
    sum that merely overflowed finds nothing and passes).

    Args:
        buffers: ``(what, tensor, per_agent)``: ``[E_g, A, ...]`` per-agent or ``[E_g, ...]`` per-env values (float).
        when: ``"reset"`` or ``"step n"``.
        env_label: the name of env row e of the buffers, for the message.
        agent_names: the A agents' names.

    Raises:
        NonFiniteError: a value is NaN or inf.
    """
    if not buffers or bool(torch.stack([v.sum() for _, v, _ in buffers]).isfinite().all()):
        return
    for what, values, per_agent in buffers:
        flat = values.reshape(*values.shape[: 2 if per_agent else 1], -1)  # [E_g, A, n] or [E_g, n]
        bad = (~torch.isfinite(flat)).nonzero()
        if len(bad):
            index = tuple(int(i) for i in bad[0])
            who = f"for agent {agent_names[index[1]]!r} (agent index {index[1]}) " if per_agent else ""
            raise NonFiniteError(
                f"{env_label(index[0])} returned a non-finite {what} ({flat[index].item()}) {who}at its {when}: "
                "marl_sf stops the run so that it never reaches the weights; fix the env (or clip its values)"
            )
