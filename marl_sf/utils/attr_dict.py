"""``AttrDict``: the dictionary-with-attributes that carries configs and env_config, as in Sample Factory."""

from __future__ import annotations

from typing import Any


class AttrDict(dict):
    """A ``dict`` whose keys are also attributes (``cfg.gamma`` == ``cfg["gamma"]``).

    Raises:
        AttributeError: reading an attribute that is not a key.
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(f"config has no key {name!r}") from exc

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value
