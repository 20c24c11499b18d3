"""Atomic file writes: a crash never leaves a half-written config, checkpoint or report behind.

A write goes to a temporary file ``.<name>.<random>.tmp`` in the target's folder, then replaces the target.
A process killed mid-write leaves only such a temporary file; ``remove_stale_temp_files`` clears them.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

TMP_SUFFIX = ".tmp"
# what tempfile.mkstemp(prefix=".<name>.", suffix=".tmp") names its files: the random part is 8 characters
_TMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")


def atomic_write(path: str | Path, write_fn: Callable[[Any], None], mode: str = "wb") -> None:
    """Write ``path`` by calling ``write_fn(file)`` on a temporary file in the same folder, then renaming.

    ``os.replace`` is atomic on POSIX, so readers see either the old file or the complete new one. The
    temporary file is removed whatever fails.

    Raises:
        OSError: the folder cannot be created or written (permissions, no space left, I/O error).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    try:
        with os.fdopen(fd, mode) as f:
            write_fn(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_temp_files(folder: str | Path) -> list[Path]:
    """Delete the temporary files that ``atomic_write`` calls left in ``folder`` (not its subfolders) when
    their process was killed mid-write; returns the removed paths. Call it only where no other process is
    writing."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = [p for p in folder.glob(f".*{TMP_SUFFIX}") if p.is_file() and _TMP_NAME.match(p.name)]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def check_writable(folder: str | Path, what: str) -> None:
    """Create ``folder`` if needed and check that a file can be written there, before any long work whose
    result goes there.

    Raises:
        PermissionError, OSError: the folder cannot be created or written; the message names ``what`` and it.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write_check.", suffix=TMP_SUFFIX)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise os_error(exc, f"cannot write {what} to {folder}: {describe_os_error(exc)}; make the folder "
                       "writable or choose another --train_dir") from None  # fmt: skip


def describe_os_error(exc: OSError) -> str:
    """The reason of an OSError in lower case: ``no space left on device``, ``permission denied``."""
    reason = exc.strerror or str(exc)
    return reason[:1].lower() + reason[1:]


def os_error(exc: OSError, message: str, cls: type[OSError] | None = None) -> OSError:
    """An error of class ``cls`` (default: ``exc``'s) with ``exc``'s errno, whose text is only ``message``."""
    error = (cls or type(exc))(message)
    error.errno = exc.errno
    return error


def write_json(path: str | Path, data: Any) -> None:
    """Atomically write ``data`` as indented JSON."""
    atomic_write(path, lambda f: json.dump(data, f, indent=2, sort_keys=True, default=str), mode="w")


def write_text(path: str | Path, text: str) -> None:
    """Atomically write a text file."""
    atomic_write(path, lambda f: f.write(text), mode="w")
