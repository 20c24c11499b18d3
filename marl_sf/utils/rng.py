"""Random-number-generator states that a checkpoint keeps, and the env seed a resumed run continues with.

The states are stored as tensors and plain numbers so that a checkpoint stays loadable with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import random

import numpy as np
import torch


def capture_rng_states() -> dict:
    """The global RNG states of torch (CPU and every CUDA device), NumPy and Python's ``random``.

    Returns:
        ``{"torch": uint8 tensor, "cuda": [uint8 tensor per device], "numpy": {...}, "python": {...}}`` of
        tensors, ints, floats and None only.
    """
    _, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": {
            "version": int(version),
            "state": torch.tensor(internal, dtype=torch.int64),
            "gauss_next": gauss_next,
        },
    }


def restore_rng_states(states: dict) -> None:
    """Set the global RNG states saved by ``capture_rng_states`` (CUDA states only when the same number of
    devices is visible)."""
    torch.set_rng_state(states["torch"].cpu())
    if states["cuda"] and torch.cuda.is_available() and len(states["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in states["cuda"]])
    n = states["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, n["pos"], n["has_gauss"], n["cached_gaussian"]))
    p = states["python"]
    random.setstate((p["version"], tuple(int(x) for x in p["state"].tolist()), p["gauss_next"]))


def continued_seed(seed: int | None, agent_steps: int, restarts: int = 0) -> int | None:
    """The seed the envs (and the opponent draws) of a run get when it (re)starts after ``agent_steps``, the
    ``restarts``-th time at that count (a sampler actor restarted after a death).

    ``seed`` itself at the start; on resume (or restart) a seed derived from ``(seed, agent_steps[, restarts])``
    (a NumPy ``SeedSequence``), so a resumed run draws fresh random streams instead of replaying its first ones.
    In [0, 2**31 - 2**20), leaving room for the per-env offsets. None stays None (unseeded).
    """
    if seed is None or (agent_steps == 0 and restarts == 0):
        return seed
    entropy = [seed, agent_steps, restarts] if restarts else [seed, agent_steps]
    word = int(np.random.SeedSequence(entropy).generate_state(1, np.uint32)[0])
    return word % (2**31 - 2**20)
