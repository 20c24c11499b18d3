"""Atomic file writes: a crash never leaves a half-written config, checkpoint or report behind."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def atomic_write(path: str | Path, write_fn: Callable[[Any], None], mode: str = "wb") -> None:
    """Write ``path`` by calling ``write_fn(file)`` on a temporary file in the same folder, then renaming.

    ``os.replace`` is atomic on POSIX, so readers see either the old file or the complete new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            write_fn(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str | Path, data: Any) -> None:
    """Atomically write ``data`` as indented JSON."""
    atomic_write(path, lambda f: json.dump(data, f, indent=2, sort_keys=True, default=str), mode="w")


def write_text(path: str | Path, text: str) -> None:
    """Atomically write a text file."""
    atomic_write(path, lambda f: f.write(text), mode="w")
