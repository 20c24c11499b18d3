"""Sample Factory options that have nothing to act on in marl_sf: accepted (a Sample Factory command line parses),
and when given a value other than the default, the run logs why it changes nothing. ``--push_to_hub`` is an error:
there is no model hub to reach.

``check_sample_factory_options`` also applies the options whose Sample Factory meaning maps onto other marl_sf
options (``--num_envs_per_worker``, ``--recurrence``). docs/sample_factory.md lists every option.
"""

from __future__ import annotations

import argparse
import logging
import os

from marl_sf.utils.types import str2bool

log = logging.getLogger("marl_sf")

NO_EFFECT: dict[str, tuple[type, object, str]] = {
    "batched_sampling": (str2bool, False, "the sampler always batches all of a policy's agents into one forward pass"),
    "policy_workers_per_policy": (int, 1, "inference runs in the sampler: one forward per policy per env group"),
    "decorrelate_experience_max_seconds": (
        int,
        0,
        "envs start from different seeds and episodes end at their own times",
    ),  # fmt: skip
    "decorrelate_envs_on_one_worker": (str2bool, True, "envs start from different seeds"),
    "set_workers_cpu_affinity": (str2bool, True, "the OS places env worker processes"),
    "force_envs_single_thread": (str2bool, False, "env workers already run torch with one thread"),
    "default_niceness": (int, 0, "env workers run at the trainer's priority: start the run under `nice` instead"),
    "heartbeat_interval": (int, 20, "a silent env worker is reported after --worker_timeout_sec"),
    "heartbeat_reporting_interval": (int, 180, "a silent env worker is reported after --worker_timeout_sec"),
    "benchmark": (str2bool, False, "measure throughput with benchmarks/throughput.py"),
    "use_env_info_cache": (str2bool, False, "the env's spec is read from the first env at start"),
    "env_gpu_actions": (str2bool, False, "a vectorized env's tensors stay on its device; other envs take CPU arrays"),
    "env_gpu_observations": (
        str2bool,
        True,
        "a vectorized env's tensors stay on its device; other envs give CPU arrays",
    ),  # fmt: skip
    "use_record_episode_statistics": (str2bool, False, "episode returns are summed per agent from the rewards"),
    "episode_counter": (str2bool, False, "eval/report.json and report.md count the evaluated episodes"),
    "policy_index": (int, 0, "enjoy evaluates every policy in the seats it trained in"),
    "train_script": (str, None, "it is for --push_to_hub, which marl_sf does not have"),
    "enjoy_script": (str, None, "it is for --push_to_hub, which marl_sf does not have"),
    "hf_repository": (str, None, "it is for --push_to_hub, which marl_sf does not have"),
    "sample_env_episodes": (
        int,
        256,
        "it is for Sample Factory's eval.py; enjoy writes eval/report.json and report.md",
    ),
    "csv_folder_name": (str, None, "it is for Sample Factory's eval.py; enjoy writes eval/report.json and report.md"),
}
"""option -> (type, default, why it changes nothing here)."""


def add_no_effect_args(p: argparse.ArgumentParser) -> None:
    """The ``NO_EFFECT`` options, ``--actor_worker_gpus`` and ``--push_to_hub``."""
    g = p.add_argument_group("Sample Factory options with no effect here (a value other than the default is logged)")
    for name, (kind, default, why) in NO_EFFECT.items():
        g.add_argument(f"--{name}", type=kind, default=default, help=f"no effect: {why}")
    g.add_argument(
        "--actor_worker_gpus",
        type=int,
        nargs="*",
        default=[],
        help="no effect: env workers step on the CPU; a vectorized env runs on --device",
    )
    g.add_argument("--push_to_hub", action="store_true", help="an error: marl_sf uploads nothing (no model hub)")


def check_sample_factory_options(cfg, error) -> None:
    """Log each no-effect option given another value than its default; apply ``--num_envs_per_worker``; check
    ``--recurrence``, ``--push_to_hub`` and ``--async_rl`` with ``--max_policy_lag``.

    Args:
        cfg: the parsed config (changed in place: ``num_envs`` from ``num_envs_per_worker``).
        error: called with a message for a value that cannot apply (``parser.error``: exits with it).
    """
    for name, (_, default, why) in NO_EFFECT.items():
        if cfg[name] != default:
            log.info("--%s=%s has no effect in marl_sf: %s", name, cfg[name], why)
    if cfg.actor_worker_gpus:
        log.info("--actor_worker_gpus has no effect in marl_sf: env workers step on the CPU")
    if cfg.push_to_hub:
        error(
            "--push_to_hub: marl_sf uploads nothing (no model hub); the experiment folder holds the checkpoints, "
            "config.json and the enjoy report to share"
        )
    if cfg.use_rnn and cfg.recurrence not in (-1, cfg.rollout):
        error(
            f"--recurrence={cfg.recurrence}: marl_sf backpropagates through the whole rollout; use --recurrence=-1 "
            f"or set --rollout={cfg.recurrence} for that BPTT length"
        )
    if not cfg.use_rnn and cfg.recurrence not in (-1, 1):
        log.info("--recurrence=%d has no effect without --use_rnn", cfg.recurrence)
    if cfg.async_rl and cfg.max_policy_lag < 1:
        error(
            f"--async_rl=True needs --max_policy_lag >= 1 (got {cfg.max_policy_lag}); --async_rl=False is the "
            "synchronous run, lag 0"
        )
    if cfg.num_envs_per_worker is not None:
        if cfg.num_envs_per_worker < 1:
            error(f"--num_envs_per_worker={cfg.num_envs_per_worker}: give 1 or more")
        workers = 0 if cfg.serial_mode else cfg.num_workers if cfg.num_workers >= 0 else os.cpu_count() or 1
        cfg.num_envs = cfg.num_envs_per_worker * max(workers, 1)
