"""Command-line value types shared by the engine's and the envs' options."""

from __future__ import annotations

import argparse


def str2bool(v: str | bool) -> bool:
    """``True``/``true``/``1``/``yes`` -> True, ``False``/``false``/``0``/``no`` -> False.

    Raises:
        argparse.ArgumentTypeError: anything else.
    """
    if isinstance(v, bool):
        return v
    if v.lower() in ("true", "1", "yes", "y", "t"):
        return True
    if v.lower() in ("false", "0", "no", "n", "f"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean (True/False), got {v!r}")
