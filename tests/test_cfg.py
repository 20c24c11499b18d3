"""Config parsing: env hooks, defaults, saved config on resume, command-line overrides, --help."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from marl_sf.cfg.arguments import parse_full_cfg, parse_sf_args


def test_env_hooks_add_options_and_override_defaults(make_cfg):
    cfg = make_cfg("--env=mpe_simple_spread")
    assert cfg.mpe_N == 3 and cfg.mpe_max_cycles == 25
    assert cfg.critic_input == "state"  # simple_spread's override of the generic default 'local'
    assert make_cfg("--env=mpe_simple_spread", "--critic_input=local").critic_input == "local"


def test_seed_option_names_are_real_options(make_cfg):
    cfg = make_cfg(
        "--env=mpe_simple_spread",
        "--actor_critic_share_weights=False",
        "--encoder_conv_architecture=convnet_atari",
        "--obs_scale=255.0",
        "--lr_schedule=linear_decay",
        "--adam_eps=1e-5",
    )
    assert cfg.actor_critic_share_weights is False and cfg.obs_scale == 255.0
    assert cfg.lr_schedule == "linear_decay" and cfg.encoder_conv_architecture == "convnet_atari"


def test_saved_config_is_resumed_and_explicit_values_win(make_cfg, tmp_path):
    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "config.json").write_text(json.dumps({"env": "mpe_simple_spread", "learning_rate": 0.123, "gamma": 0.5}))
    cfg = make_cfg("--env=mpe_simple_spread", "--experiment=exp", "--gamma=0.9")
    assert cfg.learning_rate == 0.123  # from the saved config
    assert cfg.gamma == 0.9  # given explicitly
    fresh = make_cfg("--env=mpe_simple_spread", "--experiment=exp", "--restart_behavior=restart")
    assert fresh.learning_rate != 0.123


def test_missing_env_is_an_argparse_error(capsys):
    parser, _ = parse_sf_args([])
    with pytest.raises(SystemExit):
        parse_full_cfg(parser, [])
    assert "--env is required" in capsys.readouterr().err


@pytest.mark.slow
def test_help_lists_every_option_with_defaults():
    out = subprocess.run(
        [sys.executable, "-m", "marl_sf.train", "--env=mpe_simple_spread", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for option in (
        "--critic_input",
        "--train_for_env_steps",
        "--restart_behavior",
        "--mpe_N",
        "--batch_size",
    ):
        assert option in out
    assert "(default: 0.99)" in out  # gamma
