"""Sample Factory's two-step parsing: ``parse_sf_args`` then (env hooks) then ``parse_full_cfg``.

``parse_full_cfg`` merges the experiment's saved ``config.json`` (resuming): saved values win over
defaults, values given explicitly on the command line win over saved ones.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from marl_sf.cfg.no_effect import check_sample_factory_options
from marl_sf.cfg.options import add_all_args
from marl_sf.utils.attr_dict import AttrDict
from marl_sf.utils.types import str2bool

_TYPE_NAMES = {int: "an integer", float: "a number", str2bool: "a boolean (true/false)", str: "a string"}


def check_folder_name(value: str, option: str) -> str:
    """Check that ``value`` names one folder (``--experiment``, ``--tournament_name``); returns it.

    Raises:
        ValueError: ``value`` is empty, ``.`` or ``..``, contains a path separator or is an absolute path; the
            message names the option, the value and the fix.
    """
    seps = {"/", os.sep, os.altsep} - {None}
    if value in ("", ".", "..") or any(sep in value for sep in seps) or os.path.isabs(value) or "\0" in value:
        raise ValueError(
            f"{option}={value!r} is not a folder name: give a plain name (no '/', not empty, '.' or '..'); "
            "put experiments elsewhere with --train_dir"
        )
    return value


def experiment_dir(cfg) -> Path:
    """``train_dir/experiment``.

    Raises:
        ValueError: ``cfg.experiment`` is not a plain folder name (see ``check_folder_name``).
    """
    return Path(cfg.train_dir) / check_folder_name(cfg.experiment, "--experiment")


def parse_sf_args(argv: list[str] | None = None, evaluation: bool = False):
    """Build the parser with every marl_sf option and the registered env's own options.

    Returns:
        ``(parser, partial_cfg)``: ``partial_cfg.env`` names the env so that scripts can add env-specific
        options (``add_custom_env_args(partial_cfg.env, parser)``) before ``parse_full_cfg``.
    """
    import marl_sf.envs  # noqa: F401  (registers the built-in envs)
    from marl_sf.envs.registry import find_entry

    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="marl_sf", add_help=False, allow_abbrev=False, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    add_all_args(parser)
    partial_cfg, _ = parser.parse_known_args(argv)
    entry = find_entry(partial_cfg.env) if partial_cfg.env else None  # no --env: parse_full_cfg says so
    if entry is not None:
        if entry.add_extra_params_func is not None:
            entry.add_extra_params_func(partial_cfg.env, parser, evaluation)
        if entry.override_default_params_func is not None:
            entry.override_default_params_func(partial_cfg.env, parser)
    return parser, partial_cfg


def _explicit_keys(parser: argparse.ArgumentParser, argv: list[str]) -> set[str]:
    """Destinations of the options that ``argv`` sets explicitly."""
    keys = set()
    for token in argv:
        if token.startswith("-"):
            action = parser._option_string_actions.get(token.split("=", 1)[0])
            if action is not None:
                keys.add(action.dest)
    return keys


def _evaluation_keys(parser: argparse.ArgumentParser) -> set[str]:
    """Destinations of the evaluation and tournament options (never taken from a saved training config)."""
    return {a.dest for g in parser._action_groups if g.title in ("evaluation", "tournament") for a in g._group_actions}


def _value_error(action: argparse.Action, value) -> str | None:
    """Why a saved JSON ``value`` does not fit option ``action`` (its declared type, nargs and choices), or None."""
    if action.nargs == 0:  # store_true / store_const flags: any saved value came from the flag itself
        return None
    if value is None:
        return None if action.default is None else "null, but the option has no null value"
    if action.nargs in ("*", "+") or (isinstance(action.nargs, int) and action.nargs > 0):
        if not isinstance(value, list):
            return "a single value, but the option takes a list"
        return next((e for e in (_value_error_one(action, v) for v in value) if e), None)
    return _value_error_one(action, value)


def _value_error_one(action: argparse.Action, value) -> str | None:
    """``_value_error`` for one element."""
    kind = action.type or str
    ok = {
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str2bool: isinstance(value, bool),
        str: isinstance(value, str),
    }.get(kind, True)  # an env's own converter: trusted
    if not ok:
        return f"{value!r} ({type(value).__name__}), expected {_TYPE_NAMES[kind]}"
    if action.choices is not None and value not in action.choices:
        return f"{value!r}, expected one of {list(action.choices)}"
    return None


def load_saved_config(path: Path, parser: argparse.ArgumentParser) -> dict:
    """Read an experiment's ``config.json`` and check each value against the type of its option in ``parser``.

    Keys that are not options of ``parser`` (another env's options, bookkeeping) are returned unchecked.

    Raises:
        ValueError: the file is not valid JSON (the message gives its path, line and column) or not an object,
            or a value does not fit its option's declared type or choices (the message names the option).
    """
    try:
        saved = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}; fix the file, or "
            "delete it (the run then uses the command line and defaults) or use --restart_behavior=restart"
        ) from None
    if not isinstance(saved, dict):
        raise ValueError(f"{path} holds a {type(saved).__name__}, not an object of options: fix or delete it")
    actions = {a.dest: a for a in parser._actions}
    for key, value in saved.items():
        problem = _value_error(actions[key], value) if key in actions else None
        if problem is not None:
            raise ValueError(
                f"{path}: option {key} is {problem}; fix the value in the file or delete the key (its default or "
                "the command line then applies)"
            )
    return saved


def parse_full_cfg(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> AttrDict:
    """Parse everything; when the experiment has a saved ``config.json`` (and we resume), merge it: saved values
    win over defaults, explicit command-line values and the evaluation options win over saved ones.

    Raises:
        SystemExit: bad or missing options (argparse's message), including a missing ``--env``, an abbreviated
            option (not accepted) and a bad ``--experiment`` name.
        ValueError: the saved ``config.json`` is broken or holds a value of the wrong type (``load_saved_config``).
    """
    argv = sys.argv[1:] if argv is None else argv
    if not any(a.dest == "help" for a in parser._actions):
        parser.add_argument("-h", "--help", action="help", help="show every option with its default and exit")
    cfg = AttrDict(vars(parser.parse_args(argv)))
    if cfg.env is None:
        parser.error("--env is required: the name of a registered env (python -m marl_sf.envs lists them)")
    try:
        saved_path = experiment_dir(cfg) / "config.json"
    except ValueError as exc:
        parser.error(str(exc))
    if saved_path.exists() and cfg.restart_behavior == "resume":
        explicit = _explicit_keys(parser, argv) | _evaluation_keys(parser)  # evaluation settings are per call
        saved = load_saved_config(saved_path, parser)
        for key, value in saved.items():
            if key not in explicit and key not in (
                "command_line",
                "restart_behavior",
                "train_dir",
                "experiment",
            ):
                cfg[key] = value
    cfg.command_line = " ".join(argv)
    check_sample_factory_options(cfg, parser.error)
    return cfg
