"""Sample Factory 2's module paths under ``marl_sf``: ``sed s/sample_factory/marl_sf/g`` on a Sample Factory script
gives imports that work here.

One mechanism: ``SAMPLE_FACTORY_PATHS`` maps each Sample Factory module path that marl_sf lays out differently (the
part after ``sample_factory.``) to the marl_sf modules that hold its names; an import finder, installed by
``import marl_sf``, answers those paths with an alias module whose attributes are looked up, live, in its marl_sf
modules in order. Nothing is copied: ``marl_sf.model.encoder.Encoder is marl_sf.models.encoder.Encoder``. A path
mapped to no module is a package that only holds other aliases (``marl_sf.model``). Paths that marl_sf already has
(``marl_sf.train``, ``marl_sf.enjoy``, ``marl_sf.cfg.arguments``, ``marl_sf.utils.attr_dict``,
``marl_sf.launcher.run_description``) are its own modules. docs/sample_factory.md lists them all.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types

SAMPLE_FACTORY_PATHS: dict[str, tuple[str, ...]] = {
    "algo.utils": (),
    "algo.utils.context": ("marl_sf.models.factory",),
    "algo.utils.torch_utils": ("marl_sf.models.model_utils",),
    "algo.utils.misc": ("marl_sf.status",),
    "envs.env_utils": ("marl_sf.envs.registry", "marl_sf.envs.interfaces"),
    "envs.pettingzoo_envs": ("marl_sf.envs.pettingzoo",),
    "envs.create_env": ("marl_sf.envs.registry",),
    "model": (),
    "model.encoder": ("marl_sf.models.encoder",),
    "model.core": ("marl_sf.models.core",),
    "model.decoder": ("marl_sf.models.decoder",),
    "model.actor_critic": ("marl_sf.models.actor_critic",),
    "model.model_utils": ("marl_sf.models.model_utils",),
    "model.model_factory": ("marl_sf.models.factory",),
    "utils.typing": ("marl_sf.utils.types",),
    "utils.utils": ("marl_sf.status", "marl_sf.utils.types", "marl_sf.cfg.arguments"),
}
"""Sample Factory module path (after ``sample_factory.``) -> the marl_sf modules its names come from, in order."""

_PREFIX = "marl_sf."


class _AliasModule(types.ModuleType):
    """A module whose attributes are those of ``targets`` (looked up in order at each access)."""

    def __init__(self, name: str, targets: tuple[str, ...]):
        super().__init__(name, f"Sample Factory's module path, an alias of {', '.join(targets) or 'its submodules'}")
        self._targets = targets

    def __getattr__(self, attr: str):
        for target in self._targets:
            module = importlib.import_module(target)
            if hasattr(module, attr):
                return getattr(module, attr)
        raise AttributeError(
            f"module {self.__name__!r} (Sample Factory's path; marl_sf keeps its names in "
            f"{', '.join(self._targets) or 'its submodules'}) has no attribute {attr!r}: docs/sample_factory.md lists "
            "what marl_sf provides"
        )

    def __dir__(self):
        names = set(super().__dir__())
        for target in self._targets:
            names.update(n for n in dir(importlib.import_module(target)) if not n.startswith("_"))
        return sorted(names)


class SampleFactoryPathFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """The import finder and loader of the ``SAMPLE_FACTORY_PATHS`` aliases (on ``sys.meta_path``)."""

    def find_spec(self, fullname: str, path=None, target=None):
        """A spec for ``marl_sf.<path>`` when ``<path>`` is an alias; None (other finders look) otherwise."""
        if not fullname.startswith(_PREFIX) or fullname[len(_PREFIX) :] not in SAMPLE_FACTORY_PATHS:
            return None
        is_package = any(p.startswith(fullname[len(_PREFIX) :] + ".") for p in SAMPLE_FACTORY_PATHS)
        return importlib.machinery.ModuleSpec(fullname, self, is_package=is_package)

    def create_module(self, spec):
        """The alias module of ``spec.name``."""
        return _AliasModule(spec.name, SAMPLE_FACTORY_PATHS[spec.name[len(_PREFIX) :]])

    def exec_module(self, module) -> None:
        """Nothing to run: attributes are looked up on access."""


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once), ahead of the path finder that would not find the aliases."""
    if not any(isinstance(f, SampleFactoryPathFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, SampleFactoryPathFinder())
