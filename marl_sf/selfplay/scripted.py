"""Scripted policies by name: ``register_scripted_policy(name, fn)`` with ``fn(obs_dict) -> action``.

``fn`` gets one agent's observation dict (``"obs"`` and, in games with legal moves, ``"action_mask"``) and
returns one action of the env's action space. A policy registered with ``batched=True`` instead gets a batch
of observations ``{key: [n, ...]}`` and returns ``n`` actions: one call per batch of rows, for heuristics
that vectorize (the built-in ``random`` and ``connect_four_lookahead`` do). Evaluation, self-play pools and
tournaments refer to scripted policies by name. The registry is documented global state, like the env
registry; ``random`` is built in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

ScriptedPolicy = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class _Scripted:
    fn: ScriptedPolicy
    batched: bool


_SCRIPTED: dict[str, _Scripted] = {}
_FAMILIES: dict[str, tuple[Callable[[str], ScriptedPolicy], bool]] = {}  # prefix -> (make(argument), batched)


def registered_scripted_policies() -> dict:
    """The scripted policies registered with ``register_scripted_policy``, by name (the live mapping)."""
    return _SCRIPTED


def register_scripted_policy(name: str, fn: ScriptedPolicy, batched: bool = False) -> None:
    """Register ``fn`` as ``name`` (registering a name again replaces it).

    Args:
        name: the name evaluation, pools and tournaments use.
        fn: ``fn(obs_dict) -> action`` for one agent; with ``batched=True``, ``fn({key: [n, ...]}) -> [n]``
            actions for n agents at once.
        batched: whether ``fn`` takes a batch of observations.

    Raises:
        TypeError: ``fn`` is not callable.
    """
    if not callable(fn):
        raise TypeError(f"register_scripted_policy({name!r}, ...): fn must be callable as fn(obs_dict) -> action")
    _SCRIPTED[name] = _Scripted(fn, batched)


def register_scripted_family(prefix: str, make: Callable[[str], ScriptedPolicy], batched: bool = False) -> None:
    """Register a family of scripted policies named ``<prefix>:<argument>`` (or ``<prefix>``): the first use of a
    name calls ``make(argument)`` (``""`` without one) and registers what it returns under that name, e.g.
    ``alphabeta:4`` (``marl_sf.selfplay.search_players``).

    Raises:
        TypeError: ``make`` is not callable.
    """
    if not callable(make):
        raise TypeError(f"register_scripted_family({prefix!r}, ...): make must be callable as make(argument)")
    _FAMILIES[prefix] = (make, batched)


def _entry(name: str) -> _Scripted:
    prefix, _, argument = name.partition(":")
    if name not in _SCRIPTED and prefix in _FAMILIES:
        make, batched = _FAMILIES[prefix]
        register_scripted_policy(name, make(argument), batched)  # ValueError from make names a bad argument
    if name not in _SCRIPTED:
        families = ", ".join(f"{p}:<...>" for p in sorted(_FAMILIES))
        raise ValueError(
            f"unknown scripted policy {name!r}; registered: {sorted(_SCRIPTED)}{', ' + families if families else ''}. "
            "Add yours with marl_sf.register_scripted_policy(name, fn)"
        )
    return _SCRIPTED[name]


def scripted_policy(name: str) -> ScriptedPolicy:
    """The scripted policy registered as ``name``, as a one-observation callable ``fn(obs_dict, *args)``.

    Raises:
        ValueError: no such name; the message lists the registered ones.
    """
    entry = _entry(name)
    if not entry.batched:
        return entry.fn

    def one(obs: dict[str, Any], *args):
        batch = {k: np.asarray(v)[None] for k, v in obs.items()}  # {key: [1, ...]}
        return np.asarray(entry.fn(batch, *args))[0]

    return one


def scripted_batch_policy(name: str) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    """The scripted policy registered as ``name``, as a batch callable ``fn({key: [n, ...]}) -> [n, ...]``
    (a per-observation policy is called once per row).

    Raises:
        ValueError: no such name; the message lists the registered ones.
    """
    entry = _entry(name)
    if entry.batched:
        return entry.fn

    def rows(obs: dict[str, np.ndarray]) -> np.ndarray:
        n = len(next(iter(obs.values())))
        return np.stack([np.asarray(entry.fn({k: v[i] for k, v in obs.items()})) for i in range(n)])

    return rows


def random_legal_actions(obs: dict[str, np.ndarray], rng: np.random.Generator | None = None) -> np.ndarray:
    """Uniformly random legal actions ``[n]`` of a Discrete space, from ``obs["action_mask"]`` ``[n, K]``.

    Among the legal entries of a row, the largest of K uniform draws is uniform over them.

    Raises:
        ValueError: the observations have no ``action_mask``, or a row has no legal action.
    """
    if "action_mask" not in obs:
        raise ValueError("the 'random' scripted policy draws from obs['action_mask']; this observation has none")
    legal = np.asarray(obs["action_mask"]) > 0  # [n, K]
    if not legal.any(axis=-1).all():
        raise ValueError("no legal action in obs['action_mask']")
    draws = (rng or np.random.default_rng()).random(legal.shape)  # [n, K]
    return np.where(legal, draws, -1.0).argmax(axis=-1)


register_scripted_policy("random", random_legal_actions, batched=True)
