"""Agents with their own spaces: one padded *transport* layout for the step buffers, unpadded per policy.

Env workers write every agent's observation into ``[E, A, ...]`` buffers, which need one shape per key. When
agents' spaces differ (MPE's speaker and listener, predators and prey), the contract env reports

* ``agent_observation_spaces`` / ``agent_action_spaces``: each agent's own spaces, and
* ``observation_space`` / ``action_space``: the transport spaces, where a vector key is zero-padded to the
  longest agent's size and Discrete actions share ``Discrete(max n)``.

Each policy only ever sees its own agents' spaces: the sampler cuts the padding off (``unpad``) before a
rollout is stored, so policies, storages and models never see a padded entry.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np


def _is_vector(space: gym.Space) -> bool:
    return isinstance(space, gym.spaces.Box) and len(space.shape) == 1


def transport_obs_space(spaces: list[gym.spaces.Dict], names: list[str]) -> gym.spaces.Dict:
    """The buffers' observation space for agents with observation spaces ``spaces``.

    Raises:
        ValueError: the agents' observation dicts have different keys, or a key differs in a way padding
            cannot absorb (only 1-D Box keys of different sizes are padded).
    """
    keys = list(spaces[0].spaces)
    out = {}
    for name, space in zip(names, spaces, strict=True):
        if list(space.spaces) != keys:
            raise ValueError(f"agent {name!r} has observation keys {list(space.spaces)}, {names[0]!r} has {keys}: "
                             "agents of one env need the same observation keys")  # fmt: skip
    for k in keys:
        per_agent = [s[k] for s in spaces]
        if all(s == per_agent[0] for s in per_agent):
            out[k] = per_agent[0]
        elif all(_is_vector(s) for s in per_agent):
            size = max(s.shape[0] for s in per_agent)
            dtype = np.result_type(*[s.dtype for s in per_agent])
            out[k] = gym.spaces.Box(-np.inf, np.inf, (size,), dtype)
        else:
            listed = "; ".join(f"{n}: {s[k]}" for n, s in zip(names, spaces, strict=True))
            raise ValueError(f"observation key {k!r} differs between agents beyond 1-D sizes ({listed}): "
                             "marl_sf pads only vector observations; wrap the env to make them vectors")  # fmt: skip
    return gym.spaces.Dict(out)


def transport_action_space(spaces: list[gym.Space], names: list[str]) -> gym.Space:
    """The buffers' action space: the common space, ``Discrete(max n)`` for Discrete spaces of different sizes,
    or a Box of the largest size for 1-D Boxes (each agent's env action is cut back to its own size).

    Raises:
        ValueError: action spaces of different kinds (say Discrete and Box) or of other differing kinds.
    """
    first = spaces[0]
    if all(s == first for s in spaces):
        return first
    if all(isinstance(s, gym.spaces.Discrete) and s.start == 0 for s in spaces):
        return gym.spaces.Discrete(max(int(s.n) for s in spaces))
    if all(_is_vector(s) for s in spaces):
        return gym.spaces.Box(-1.0, 1.0, (max(s.shape[0] for s in spaces),), np.float32)
    listed = "; ".join(f"{n}: {s}" for n, s in zip(names, spaces, strict=True))
    raise ValueError(f"agents' action spaces differ in kind ({listed}): agent groups need Discrete spaces or "
                     "1-D Box spaces throughout")  # fmt: skip


def pad_obs(obs: dict[str, np.ndarray], space: gym.spaces.Dict) -> dict[str, np.ndarray]:
    """One agent's observation dict zero-padded to the transport ``space`` (1-D keys only)."""
    out = {}
    for k, s in space.spaces.items():
        v = np.asarray(obs[k])
        if v.shape != s.shape:
            padded = np.zeros(s.shape, s.dtype)
            padded[: v.shape[0]] = v
            v = padded
        out[k] = v
    return out


def unpad(array, shape: tuple[int, ...]):
    """The leading ``shape[-1]`` entries of the last axis of ``array [..., D_max]`` when the stored ``shape``
    is a shorter vector; ``array`` unchanged otherwise (a view either way)."""
    if len(shape) == 1 and array.shape[-1] != shape[0]:
        return array[..., : shape[0]]
    return array
