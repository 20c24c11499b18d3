"""What a launcher run is: experiments (a base command and the parameter sets to append to it), named from their
parameters, in Sample Factory's shapes, so that a Sample Factory run-description module works after
``sed s/sample_factory/marl_sf/g``:

    from marl_sf.launcher.run_description import Experiment, ParamGrid, RunDescription

    _params = ParamGrid([("seed", [0, 1]), ("learning_rate", [3e-4, 1e-3])])
    _experiments = [Experiment("spread", "python -m marl_sf.train --env=mpe_simple_spread", _params.generate_params())]
    RUN_DESCRIPTION = RunDescription("spread_lr", experiments=_experiments)
"""

from __future__ import annotations

import itertools
import random
import re
import shlex
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class ParamGenerator:
    """Base class: ``generate_params(randomize)`` yields parameter dicts ``{name: value}``."""

    def generate_params(self, randomize: bool = False) -> Iterator[dict[str, Any]]:
        raise NotImplementedError


class ParamList(ParamGenerator):
    """The given parameter dicts, in order (or shuffled with ``randomize``)."""

    def __init__(self, combinations: Iterable[dict[str, Any]]):
        self.combinations = list(combinations)

    def generate_params(self, randomize: bool = False) -> Iterator[dict[str, Any]]:
        combinations = random.sample(self.combinations, len(self.combinations)) if randomize else self.combinations
        yield from (dict(c) for c in combinations)


class ParamGrid(ParamGenerator):
    """Every combination of ``[(name, values), ...]``, the first name varying slowest. A name may be a tuple of
    names whose values are tuples, set together (``(("lr", "batch_size"), [(1e-3, 512), (3e-4, 1024)])``)."""

    def __init__(self, grid_tuples: Iterable[tuple[Any, Iterable[Any]]]):
        self.grid = [(name, list(values)) for name, values in grid_tuples]

    def generate_params(self, randomize: bool = False) -> Iterator[dict[str, Any]]:
        combinations = list(itertools.product(*(values for _, values in self.grid)))
        if randomize:
            random.shuffle(combinations)
        for combination in combinations:
            params = {}
            for (name, _), value in zip(self.grid, combination, strict=True):
                if isinstance(name, (tuple, list)):
                    params.update(zip(name, value, strict=True))
                else:
                    params[name] = value
            yield params


@dataclass
class RunSpec:
    """One experiment of a run, ready to start.

    Attributes:
        name: the experiment's name (``--experiment``), unique within the run.
        argv: the command as a list (``python`` replaced by this interpreter).
        train_dir: the folder its ``--train_dir`` points to (``<train_dir>/<run_name>/<experiment base>``).
        env_vars: extra environment variables, or None.
    """

    name: str
    argv: list[str]
    train_dir: Path
    env_vars: dict[str, str] | None

    @property
    def command(self) -> str:
        """The command line as a shell would run it."""
        return shlex.join(self.argv)


class Experiment:
    """A base command and the parameter sets appended to it, one experiment per set.

    Args:
        name: the base name of its experiments (and of their folder).
        cmd: the base command (``python -m marl_sf.train --env=...``).
        param_generator: parameter dicts (``ParamGrid(...).generate_params()``); none: the command once.
        env_vars: environment variables for its processes.
    """

    def __init__(self, name: str, cmd: str, param_generator: Iterable[dict[str, Any]] = (), env_vars=None):
        self.base_name, self.cmd, self.env_vars = name, cmd, env_vars
        self.params = list(param_generator)

    def generate_experiments(self, experiment_arg_name: str, customize_experiment_name: bool, param_prefix: str):
        """``(command, experiment name)`` per parameter set: ``<prefix><name>=<value>`` appended to the command,
        and a name ``<index>_<base>_<short name>_<value>...`` (or ``<index>_<base>``)."""
        for index, params in enumerate(self.params or [{}]):
            shorts = short_names(list(params))
            tokens = [self.base_name] + [f"{shorts[k]}_{v}" for k, v in params.items()]
            name = f"{index:02d}_" + ("_".join(tokens) if customize_experiment_name else self.base_name)
            name = re.sub(r"[^A-Za-z0-9._=-]", "-", name)  # a value like [64, 64] stays a valid folder name
            options = [f"{param_prefix}{k}={_value(v)}" for k, v in params.items()]
            yield " ".join([self.cmd, *options, f"{experiment_arg_name}={name}"]), name


class RunDescription:
    """A named set of experiments; the launcher runs ``RUN_DESCRIPTION`` of a run module.

    Args:
        run_name: the run's name: its experiments live in ``<train_dir>/<run_name>/<experiment base>_<suffix>/``.
        experiments: the ``Experiment``s.
        experiment_arg_name: the option that names an experiment (``--experiment``).
        experiment_dir_arg_name: the option that sets its folder (``--train_dir``).
        customize_experiment_name: name experiments from their parameters (else by index).
        param_prefix: what goes before each parameter name (``--``).
    """

    def __init__(self, run_name: str, experiments: list[Experiment], experiment_arg_name: str = "--experiment",
                 experiment_dir_arg_name: str = "--train_dir", customize_experiment_name: bool = True,
                 param_prefix: str = "--"):  # fmt: skip
        self.run_name, self.experiments = run_name, experiments
        self.experiment_arg_name, self.experiment_dir_arg_name = experiment_arg_name, experiment_dir_arg_name
        self.customize_experiment_name, self.param_prefix = customize_experiment_name, param_prefix
        self.experiment_suffix = ""

    def run_dir(self, train_dir: str | Path) -> Path:
        """``<train_dir>/<run_name>``: the run's experiments, logs and summary."""
        return Path(train_dir) / self.run_name

    def generate_experiments(self, train_dir: str | Path) -> Iterator[RunSpec]:
        """Every experiment of the run, in order.

        Raises:
            ValueError: two experiments of the run get the same name.
        """
        seen = set()
        for experiment in self.experiments:
            folder = self.run_dir(train_dir) / f"{experiment.base_name}_{self.experiment_suffix}".rstrip("_")
            commands = experiment.generate_experiments(self.experiment_arg_name, self.customize_experiment_name,
                                                       self.param_prefix)  # fmt: skip
            for command, name in commands:
                if name in seen:  # their logs and results are kept by name
                    raise ValueError(f"two experiments of run {self.run_name!r} are both named {name!r}")
                seen.add(name)
                argv = shlex.split(command) + [f"{self.experiment_dir_arg_name}={folder}"]
                if argv[0].startswith("python"):
                    argv[0] = sys.executable  # this interpreter (the virtual env the launcher runs in)
                yield RunSpec(name, argv, folder, experiment.env_vars)


def short_names(names: list[str]) -> dict[str, str]:
    """Short, distinct forms of parameter names for experiment names: the first letter of each ``_``/``.``/``-``
    separated word but the last, then the last word's first three letters, longer until distinct
    (``learning_rate`` -> ``l.rat``; ``seed`` -> ``see``)."""
    shorts: dict[str, str] = {}
    for name in names:
        words = re.split(r"[._-]", name)
        head, last = [w[:1] for w in words[:-1]], words[-1]
        for length in range(min(3, len(last)), len(last) + 1):
            short = ".".join([*head, last[:length]])
            if short not in shorts.values():
                break
        else:
            short = name
        shorts[name] = short
    return shorts


def _value(value: Any) -> str:
    """A parameter value as one command-line token."""
    return shlex.quote(str(value))
