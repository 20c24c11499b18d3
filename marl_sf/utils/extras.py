"""Optional extras (``pip install 'marl-sf[<extra>]'``): imported where used, with a one-line error when missing."""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingExtraError(ImportError):
    """A feature needs a package of an optional extra that is not installed; the message names the extra."""


def require(module: str, extra: str, feature: str) -> ModuleType:
    """Import ``module`` for ``feature`` (an option or a command, for the message).

    Raises:
        MissingExtraError: ``module`` is not installed: ``"<feature> needs <package>: pip install 'marl-sf[<extra>]'"``.
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        package = module.split(".")[0]
        message = f"{feature} needs {package}, which is not installed: pip install 'marl-sf[{extra}]'"
        raise MissingExtraError(message) from None
