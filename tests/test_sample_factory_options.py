"""Every option of Sample Factory 2's ``sample_factory/cfg/cfg.py`` parses here: ``--help`` lists it, a command line
that gives it a value yields a config holding that value (``--push_to_hub``: an error naming it), and
docs/sample_factory.md has a row for it. The option names are written out below (taken from Sample Factory 2's
cfg.py, in its order, without ``--help``), not read from a Sample Factory checkout."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from marl_sf.cfg.arguments import parse_full_cfg, parse_sf_args

DOC = Path(__file__).resolve().parents[1] / "docs" / "sample_factory.md"

SAMPLE_FACTORY_OPTIONS: dict[str, str | None] = {
    # add_basic_cli_args
    "algo": "PPO",
    "env": "mpe_simple_spread",
    "experiment": "sf_options",
    "train_dir": "sf_train_dir",
    "restart_behavior": "restart",
    "device": "cpu",
    "seed": "7",
    # add_rl_args
    "num_policies": "1",
    "async_rl": "True",
    "serial_mode": "True",
    "batched_sampling": "True",
    "num_batches_to_accumulate": "3",
    "worker_num_splits": "1",
    "policy_workers_per_policy": "2",
    "max_policy_lag": "2",
    "num_workers": "2",
    "num_envs_per_worker": "4",
    "batch_size": "512",
    "num_batches_per_epoch": "2",
    "num_epochs": "3",
    "rollout": "16",
    "recurrence": "1",
    "shuffle_minibatches": "False",
    "gamma": "0.95",
    "reward_scale": "0.1",
    "reward_clip": "10.0",
    "value_bootstrap": "False",
    "normalize_returns": "False",
    "exploration_loss_coeff": "0.003",
    "value_loss_coeff": "0.5",
    "kl_loss_coeff": "0.1",
    "exploration_loss": "symmetric_kl",
    "gae_lambda": "0.9",
    "ppo_clip_ratio": "0.1",
    "ppo_clip_value": "1.0",
    "with_vtrace": "True",
    "vtrace_rho": "0.9",
    "vtrace_c": "0.8",
    "optimizer": "lamb",
    "adam_eps": "1e-6",
    "adam_beta1": "0.8",
    "adam_beta2": "0.99",
    "max_grad_norm": "4.0",
    "learning_rate": "1e-4",
    "lr_schedule": "kl_adaptive_epoch",
    "lr_schedule_kl_threshold": "0.01",
    "lr_adaptive_min": "1e-5",
    "lr_adaptive_max": "1e-3",
    "obs_subtract_mean": "128.0",
    "obs_scale": "255.0",
    "normalize_input": "True",
    "normalize_input_keys": "obs state",
    "decorrelate_experience_max_seconds": "10",
    "decorrelate_envs_on_one_worker": "False",
    "actor_worker_gpus": "0 1",
    "set_workers_cpu_affinity": "False",
    "force_envs_single_thread": "True",
    "default_niceness": "5",
    "log_to_file": "False",
    "experiment_summaries_interval": "20",
    "flush_summaries_interval": "60",
    "stats_avg": "50",
    "summaries_use_frameskip": "False",
    "heartbeat_interval": "10",
    "heartbeat_reporting_interval": "60",
    "train_for_env_steps": "100000",
    "train_for_seconds": "60",
    "save_every_sec": "30",
    "keep_checkpoints": "3",
    "load_checkpoint_kind": "best",
    "save_milestones_sec": "600",
    "save_best_every_sec": "10",
    "save_best_metric": "reward",
    "save_best_after": "100000",
    "benchmark": "True",
    # add_model_args
    "encoder_mlp_layers": "128 32",
    "encoder_conv_architecture": "convnet_atari",
    "encoder_conv_mlp_layers": "256",
    "use_rnn": "True",
    "rnn_size": "32",
    "rnn_type": "lstm",
    "rnn_num_layers": "2",
    "decoder_mlp_layers": "32",
    "nonlinearity": "elu",
    "policy_initialization": "xavier_uniform",
    "policy_init_gain": "0.5",
    "actor_critic_share_weights": "True",
    "adaptive_stddev": "True",
    "continuous_tanh_scale": "2.0",
    "initial_stddev": "0.5",
    # add_default_env_args
    "use_env_info_cache": "True",
    "env_gpu_actions": "True",
    "env_gpu_observations": "False",
    "env_frameskip": "4",
    "env_framestack": "4",
    "pixel_format": "HWC",
    "use_record_episode_statistics": "True",
    "episode_counter": "True",
    # add_eval_args
    "fps": "30",
    "eval_env_frameskip": "1",
    "no_render": None,
    "save_video": None,
    "video_frames": "200",
    "video_name": "clip.mp4",
    "max_num_frames": "5000",
    "max_num_episodes": "10",
    "push_to_hub": None,
    "hf_repository": "user/repo",
    "policy_index": "1",
    "eval_deterministic": "False",
    "train_script": "sf_examples.train_gym_env",
    "enjoy_script": "sf_examples.enjoy_gym_env",
    "sample_env_episodes": "16",
    "csv_folder_name": "csv",
    # add_wandb_args
    "with_wandb": "True",
    "wandb_user": "someone",
    "wandb_project": "sf_project",
    "wandb_group": "sf_group",
    "wandb_job_type": "SF",
    "wandb_tags": "a b",
    "wandb_dir": "wandb_files",
    # add_pbt_args
    "with_pbt": "True",
    "pbt_mix_policies_in_one_env": "True",
    "pbt_period_env_steps": "50000",
    "pbt_start_mutation": "1000",
    "pbt_replace_fraction": "0.25",
    "pbt_mutation_rate": "0.2",
    "pbt_replace_reward_gap": "0.2",
    "pbt_replace_reward_gap_absolute": "0.01",
    "pbt_optimize_gamma": "True",
    "pbt_target_objective": "episode_return",
    "pbt_perturb_min": "1.2",
    "pbt_perturb_max": "2.0",
}
"""Sample Factory 2's cfg.py option -> a valid command-line value (None: given as a bare flag, as Sample Factory's
``store_true`` options are)."""

ENV = "--env=mpe_simple_spread"


def option_argv(name: str) -> list[str]:
    """``--name=value``; a bare flag for a None value; several values (a list option's) as separate words."""
    value = SAMPLE_FACTORY_OPTIONS[name]
    if value is None:
        return [f"--{name}"]
    if " " in value:
        return [f"--{name}", *value.split()]
    return [f"--{name}={value}"]


def expected_value(action, value: str | None):
    """``value`` as argparse converts it for ``action``."""
    if value is None:
        return action.const
    convert = action.type or str
    if action.nargs in ("*", "+"):
        return [convert(v) for v in value.split()]
    return convert(value)


def test_there_are_133_sample_factory_options():
    assert len(SAMPLE_FACTORY_OPTIONS) == 133


def test_help_lists_every_sample_factory_option(capsys):
    argv = [ENV, "--help"]
    parser, _ = parse_sf_args(argv)
    with pytest.raises(SystemExit) as exc:
        parse_full_cfg(parser, argv)
    assert exc.value.code == 0
    listed = set()
    for line in capsys.readouterr().out.splitlines():
        invocation = re.match(r"^ {2}(-\S.*?)(?: {2,}|$)", line)  # an option's entry: its option strings first
        if invocation:
            listed.update(re.findall(r"--(\w+)", invocation.group(1)))
    assert sorted(set(SAMPLE_FACTORY_OPTIONS) - listed) == []


@pytest.mark.parametrize("name", list(SAMPLE_FACTORY_OPTIONS))
def test_sample_factory_option_parses(name, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # relative paths among the values (--train_dir, --wandb_dir) stay in tmp_path
    argv = [ENV, f"--train_dir={tmp_path}", *option_argv(name)]
    parser, _ = parse_sf_args(argv)
    action = parser._option_string_actions[f"--{name}"]
    if name == "push_to_hub":
        with pytest.raises(SystemExit) as exc:
            parse_full_cfg(parser, argv)
        assert exc.value.code != 0
        assert "push_to_hub" in capsys.readouterr().err
        return
    cfg = parse_full_cfg(parser, argv)
    assert cfg[action.dest] == expected_value(action, SAMPLE_FACTORY_OPTIONS[name])


def test_doc_has_a_row_for_every_sample_factory_option():
    rows = {m.group(1) for m in re.finditer(r"^\| `--(\w+)` \|", DOC.read_text(), re.MULTILINE)}
    assert sorted(set(SAMPLE_FACTORY_OPTIONS) - rows) == []
