"""Non-finite values (NaN, inf): the error raised where they enter, and a scan of saved state for them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch


class NonFiniteError(FloatingPointError):
    """A NaN or inf reached a reward, an observation, a loss, a gradient or a state that is about to be saved.

    Raised where the value enters, with a message naming where (env and agent, or policy and train step)
    and the quantity, so that it never reaches the weights or a checkpoint.
    """


def _tensors(tree: Any, prefix: str) -> Iterator[tuple[str, torch.Tensor]]:
    """``(dotted key, tensor)`` for every tensor in nested dicts, lists and tuples."""
    if isinstance(tree, torch.Tensor):
        yield prefix, tree
    elif isinstance(tree, dict):
        for k, v in tree.items():
            yield from _tensors(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(tree, list | tuple):
        for i, v in enumerate(tree):
            yield from _tensors(v, f"{prefix}.{i}" if prefix else str(i))


def non_finite_tensors(tree: Any) -> list[str]:
    """Dotted keys of the floating-point tensors in ``tree`` (nested dicts/lists of tensors, e.g. a learner's
    ``state_dict``) that hold a NaN or an inf; empty when every one is finite."""
    return [
        key
        for key, t in _tensors(tree, "")
        if (t.is_floating_point() or t.is_complex()) and not bool(torch.isfinite(t).all())
    ]
