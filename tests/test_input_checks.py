"""Bad input is refused with a clear error: envs breaking their contract, abbreviated options, broken or
mistyped config.json, a checkpoint of another model size."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from marl_sf.algo.env_check import EnvContractError
from marl_sf.algo.env_runner import InProcessEnvRunner
from marl_sf.algo.env_workers import EnvWorkerError, ProcessEnvRunner
from marl_sf.cfg.arguments import parse_full_cfg, parse_sf_args
from marl_sf.cfg.options import model_option_diff
from marl_sf.envs.registry import register_env
from marl_sf.envs.spec import read_env_spec
from marl_sf.train import Trainer
from tests.contract_envs import BrokenCueEnv
from tests.test_training import _cue_cfg, _register_envs  # noqa: F401  (registers cue_match)

ACTIONS = np.zeros((2, 2), np.int64)  # 2 envs, 2 agents


def _run_serial(fault: str, at_step: int = 1, steps: int = 2):
    runner = InProcessEnvRunner([BrokenCueEnv(fault, at_step) for _ in range(2)], False, env_name="broken")
    try:
        runner.reset(0)
        for _ in range(steps):
            runner.step_async(0, ACTIONS)
    finally:
        runner.close()


@pytest.mark.parametrize(
    ("fault", "at_step", "message"),
    [
        (
            "short_rewards",
            1,
            r"env 'broken' #0 \(BrokenCueEnv\) step returned rewards of length 1, expected a list "
            r"of num_agents=2",
        ),  # fmt: skip
        ("short_obs", 1, r"env 'broken' #0 \(BrokenCueEnv\) step returned obs of length 1, expected .*=2"),
        ("short_obs", 0, r"env 'broken' #0 \(BrokenCueEnv\) reset returned obs of length 1"),
        (
            "wrong_shape",
            2,
            r"env 'broken' #0 .* step: agent 0, key 'obs': declared shape \(4,\) \(float32\), "
            r"received shape \(5,\) \(float32\)",
        ),  # fmt: skip
        (
            "missing_key",
            1,
            r"agent 0's observation has no key 'obs' \(declared keys \['obs'\], received "
            r"\['observation'\]\)",
        ),  # fmt: skip
        (
            "floats_for_uint8",
            0,
            r"env 'broken' #0 .* reset: agent 0, key 'obs': declared dtype uint8, received "
            r"float64 .*would be truncated",
        ),  # fmt: skip
    ],
)
def test_an_env_breaking_its_contract_on_its_first_steps_is_named(fault, at_step, message):
    with pytest.raises(EnvContractError, match=message):
        _run_serial(fault, at_step)


def test_integer_observations_in_a_float_space_are_accepted():
    _run_serial("ints_for_float", 0, steps=5)


def test_only_the_first_steps_are_checked():
    _run_serial("wrong_shape", at_step=4, steps=3)  # broken from step 4: past the checked steps, not noticed


def test_a_contract_error_in_a_worker_names_the_env(make_cfg):
    register_env("broken_rewards", lambda n, cfg=None, env_config=None, render_mode=None: BrokenCueEnv("short_rewards"))
    cfg = make_cfg("--env=broken_rewards")
    runner = ProcessEnvRunner(cfg, read_env_spec(BrokenCueEnv("short_rewards")), 2, 2, False)
    try:
        runner.reset(0)
        runner.step_async(0, ACTIONS)
        with pytest.raises(EnvWorkerError, match=r"(?s)env worker 0 .*EnvContractError: env 'broken_rewards' #0 "
                           r"\(BrokenCueEnv\) step returned rewards of length 1"):  # fmt: skip
            runner.wait(0)
    finally:
        runner.close()


def test_abbreviated_options_are_refused(capsys):
    argv = ["--env=cue_match", "--train_for_env_step=100"]
    parser, _ = parse_sf_args(argv)
    with pytest.raises(SystemExit):
        parse_full_cfg(parser, argv)
    assert "unrecognized arguments: --train_for_env_step=100" in capsys.readouterr().err


def _saved_config(make_cfg, text: str) -> Path:
    """Write ``text`` as the saved config.json of experiment ``cue``; returns its path."""
    path = Path(_cue_cfg(make_cfg).train_dir) / "cue" / "config.json"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return path


def test_a_broken_config_json_names_its_path_and_line(make_cfg):
    path = _saved_config(make_cfg, '{\n  "gamma": 0.9,\n  "learning_rate": 0.1,,\n}\n')
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))} is not valid JSON: .* at line 3, column"):
        _cue_cfg(make_cfg)


@pytest.mark.parametrize(
    ("saved", "message"),
    [
        ({"learning_rate": "fast"}, r"option learning_rate is 'fast' \(str\), expected a number"),
        ({"encoder_mlp_layers": 64}, r"option encoder_mlp_layers is a single value, but the option takes a list"),
        ({"use_rnn": "yes"}, r"option use_rnn is 'yes' \(str\), expected a boolean"),
        ({"rnn_type": "transformer"}, r"option rnn_type is 'transformer', expected one of \['gru', 'lstm'\]"),
    ],
)
def test_a_saved_value_of_the_wrong_type_names_the_option(make_cfg, saved, message):
    path = _saved_config(make_cfg, json.dumps({"env": "cue_match", **saved}))
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}: {message}"):
        _cue_cfg(make_cfg)


def test_config_json_is_not_rewritten_by_a_run_that_fails_validation(make_cfg):
    Trainer(_cue_cfg(make_cfg, "--train_for_env_steps=100")).train()
    with pytest.raises(ValueError, match="--num_envs=7 does not divide"):
        Trainer(_cue_cfg(make_cfg, "--num_envs=7"))
    assert _cue_cfg(make_cfg).num_envs != 7  # a plain re-run resumes the config that ran


def test_a_checkpoint_of_another_model_size_names_the_option(make_cfg):
    Trainer(_cue_cfg(make_cfg, "--train_for_env_steps=100", "--encoder_mlp_layers", "32", "32")).train()
    message = r"does not fit the model: these model options differ .*--encoder_mlp_layers: checkpoint \[32, 32\], now"
    with pytest.raises(RuntimeError, match=message):
        Trainer(_cue_cfg(make_cfg, "--encoder_mlp_layers", "64", "64"))
    assert _cue_cfg(make_cfg).encoder_mlp_layers == [32, 32]  # the saved config is the checkpoint's
    Trainer(_cue_cfg(make_cfg)).close()  # and a plain resume works


def test_model_option_diff_reads_a_config_saved_as_json(make_cfg):
    cfg = _cue_cfg(make_cfg)
    saved = json.dumps({**cfg, "rnn_size": 128, "use_rnn": True})
    expected = ["--use_rnn: checkpoint True, now False", "--rnn_size: checkpoint 128, now 64"]
    assert model_option_diff(saved, cfg) == expected
    assert model_option_diff(dict(cfg), cfg) == []


def test_model_option_diff_names_a_model_option_the_checkpoint_predates(make_cfg):
    cfg = _cue_cfg(make_cfg)
    saved = {k: v for k, v in cfg.items() if k != "time_aware_critic"}  # a config saved before the option existed
    (line,) = model_option_diff(saved, cfg)
    assert line.startswith("--time_aware_critic: not in the checkpoint's config") and line.endswith("now True")
