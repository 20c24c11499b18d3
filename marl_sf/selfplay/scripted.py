"""Scripted policies by name: ``register_scripted_policy(name, fn)`` with ``fn(obs_dict) -> action``.

``fn`` gets one agent's observation dict (``"obs"`` and, in games with legal moves, ``"action_mask"``) and
returns one action of the env's action space. Evaluation, self-play pools and tournaments refer to scripted
policies by name. The registry is documented global state, like the env registry; ``random`` is built in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

ScriptedPolicy = Callable[[dict[str, Any]], Any]

_SCRIPTED: dict[str, ScriptedPolicy] = {}


def register_scripted_policy(name: str, fn: ScriptedPolicy) -> None:
    """Register ``fn(obs_dict) -> action`` as ``name`` (registering a name again replaces it).

    Raises:
        TypeError: ``fn`` is not callable.
    """
    if not callable(fn):
        raise TypeError(f"register_scripted_policy({name!r}, ...): fn must be callable as fn(obs_dict) -> action")
    _SCRIPTED[name] = fn


def scripted_policy(name: str) -> ScriptedPolicy:
    """The scripted policy registered as ``name``.

    Raises:
        ValueError: no such name; the message lists the registered ones.
    """
    if name not in _SCRIPTED:
        raise ValueError(
            f"unknown scripted policy {name!r}; registered: {sorted(_SCRIPTED)}. "
            "Add yours with marl_sf.register_scripted_policy(name, fn)"
        )
    return _SCRIPTED[name]


def uniform_random_legal(obs: dict[str, Any], rng: np.random.Generator | None = None) -> int:
    """A uniformly random legal action of a Discrete space, from ``obs["action_mask"]``.

    Raises:
        ValueError: the observation has no ``action_mask`` or no legal action.
    """
    if "action_mask" not in obs:
        raise ValueError("the 'random' scripted policy draws from obs['action_mask']; this observation has none")
    legal = np.flatnonzero(np.asarray(obs["action_mask"]))
    if legal.size == 0:
        raise ValueError("no legal action in obs['action_mask']")
    return int((rng or np.random.default_rng()).choice(legal))


register_scripted_policy("random", uniform_random_legal)
