"""Actions between the model and the envs: the components of an action space, how actions are stored, and how
stored actions become what an env's ``step`` takes (numpy for contract envs, torch for vectorized envs, one map).

An action space is a list of components: a categorical of n choices (Discrete, each MultiDiscrete entry) or a
diagonal Gaussian of d dimensions (a 1-D Box). Stored actions are ``()`` int64 for Discrete, ``(k,)`` int64 for
MultiDiscrete, ``(d,)`` float32 for Box and ``(columns,)`` float32 for Tuple (one column per categorical, d per
Gaussian). Box actions are stored normalized: the Gaussian acts in a space where [-1, 1] spans each bounded dimension,
and ``BoxBounds`` maps its samples onto the env's bounds (RLlib's ``normalize_actions``), so a zero-mean initial
policy acts at the middle of the box.
"""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
import numpy as np
import torch


def action_components(space: gym.Space) -> list[tuple[str, int]]:
    """``[("categorical", n) | ("normal", d), ...]`` for a Discrete, MultiDiscrete, 1-D Box or Tuple space.

    Raises:
        NotImplementedError: another action space.
    """
    if isinstance(space, gym.spaces.Discrete):
        return [("categorical", int(space.n))]
    if isinstance(space, gym.spaces.MultiDiscrete) and len(space.nvec.shape) == 1:
        return [("categorical", int(n)) for n in space.nvec]
    if isinstance(space, gym.spaces.Box) and len(space.shape) == 1:
        return [("normal", int(space.shape[0]))]
    if isinstance(space, gym.spaces.Tuple):
        return [c for sub in space.spaces for c in action_components(sub)]
    raise NotImplementedError(
        f"action space {space} is not supported: use Discrete, MultiDiscrete, a 1-D Box or a Tuple of these"
    )


def action_storage(space: gym.Space) -> tuple[tuple[int, ...], torch.dtype]:
    """Per-row shape and dtype of stored actions (see the module docstring)."""
    if isinstance(space, gym.spaces.Discrete):
        return (), torch.int64
    if isinstance(space, gym.spaces.MultiDiscrete):
        return (len(space.nvec),), torch.int64
    columns = sum(1 if kind == "categorical" else n for kind, n in action_components(space))
    return (columns,), torch.float32


class BoxBounds:
    """The map from normalized Gaussian samples onto Box bounds: clipped to [-1, 1], mapped affinely onto
    ``[low, high]`` in each bounded dimension; unbounded dimensions pass through (then clipped to the bounds). The
    log-prob stays that of the unclipped sample.

    One formula for numpy arrays (a contract env's actions) and torch tensors (a vectorized env's, on its device).

    Args:
        spaces: one Box (actions ``[..., d]``), or each agent's 1-D Box (actions ``[..., A, d_max]``, smaller boxes
            padded with [-1, 1]).
    """

    def __init__(self, spaces: gym.spaces.Box | Sequence[gym.spaces.Box]):
        if isinstance(spaces, gym.spaces.Box):
            low, high = spaces.low.astype(np.float64), spaces.high.astype(np.float64)  # [d]
            self.dtype = spaces.dtype
        else:
            d = max(s.shape[0] for s in spaces)
            low, high = np.full((len(spaces), d), -1.0), np.full((len(spaces), d), 1.0)  # [A, d_max]
            for i, s in enumerate(spaces):
                low[i, : s.shape[0]], high[i, : s.shape[0]] = s.low, s.high
            self.dtype = np.dtype(np.float32)
        bounded = np.isfinite(low) & np.isfinite(high)
        # low and span where bounded (0 elsewhere: no inf in the arithmetic), bounded, and the clip bounds
        self.arrays = (np.where(bounded, low, 0.0), np.where(bounded, high - low, 0.0), bounded, low, high)
        self.tensors: dict[torch.device, tuple] = {}  # the same, per device

    def __call__(self, actions: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Normalized actions -> env actions in the boxes (numpy in the space's dtype, or float32 tensors)."""
        if isinstance(actions, torch.Tensor):
            if actions.device not in self.tensors:
                self.tensors[actions.device] = self.as_tensors(actions.device)
            return map_to_box(actions, *self.tensors[actions.device])
        return map_to_box(actions, *self.arrays).astype(self.dtype)

    def as_tensors(self, device: torch.device | str = "cpu") -> tuple[torch.Tensor, ...]:
        """``(low, span, bounded, clip_low, clip_high)``, each ``[d]`` (or ``[A, d_max]``), as tensors on ``device``
        for ``map_to_box`` (a module registers them as buffers)."""
        return tuple(
            torch.as_tensor(a, device=device, dtype=torch.bool if a.dtype == bool else torch.float32)
            for a in self.arrays
        )


def map_to_box(actions, low, span, bounded, clip_low, clip_high):
    """``BoxBounds``' map of normalized actions ``[..., d]`` with its arrays (numpy) or ``as_tensors`` (torch): clip
    to [-1, 1], scale onto ``[low, low + span]`` where bounded, then clip to the bounds."""
    xp = torch if isinstance(actions, torch.Tensor) else np
    scaled = low + (xp.clip(actions, -1.0, 1.0) + 1.0) * 0.5 * span
    return xp.clip(xp.where(bounded, scaled, actions), clip_low, clip_high)


def to_env_actions(action_space: gym.Space, actions: np.ndarray) -> list:
    """Stored actions ``[A, ...]`` of one env -> the A actions its ``step`` takes: Discrete as they are, Box through
    ``BoxBounds``, MultiDiscrete as int64 rows, Tuple actions as tuples of their components."""
    if isinstance(action_space, gym.spaces.Discrete):
        return list(actions)
    if isinstance(action_space, gym.spaces.Box):
        return list(BoxBounds(action_space)(actions))
    if isinstance(action_space, gym.spaces.MultiDiscrete):
        return list(actions.astype(np.int64))
    return [_tuple_action(action_space, row) for row in actions]


def _tuple_action(space: gym.spaces.Tuple, row: np.ndarray) -> tuple:
    out, col = [], 0
    for sub in space.spaces:
        width = action_storage(sub)[0][0] if action_storage(sub)[0] else 1
        part = row[col : col + width]
        if isinstance(sub, gym.spaces.Discrete):
            out.append(int(part[0]))
        else:
            out.append(to_env_actions(sub, part[None])[0])
        col += width
    return tuple(out)
