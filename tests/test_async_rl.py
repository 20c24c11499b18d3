"""``--async_rl`` (APPO): the sampler thread's lag stays within ``--max_policy_lag``, runs end cleanly, a wrong setup
is a clear error, and training learns."""

from __future__ import annotations

import pytest
import torch

from marl_sf.cfg.arguments import parse_full_cfg, parse_sf_args
from marl_sf.train import run_rl
from marl_sf.utils.summary_reader import read_scalars


def _cfg(tmp_path, *args):
    argv = ["--env=mpe_simple_spread", f"--train_dir={tmp_path}", "--progress_bar=False", "--save_plots=False",
            "--num_envs=8", "--num_workers=2", "--seed=1", "--experiment_summaries_interval=0", *args]  # fmt: skip
    parser, _ = parse_sf_args(argv)
    return parse_full_cfg(parser, argv)


@pytest.mark.parametrize("lag", [1, 3])
def test_policy_lag_is_bounded_and_reported(tmp_path, lag):
    cfg = _cfg(tmp_path, "--experiment=lag", "--async_rl=True", f"--max_policy_lag={lag}",
               "--train_for_env_steps=20000")  # fmt: skip
    assert run_rl(cfg) == 0
    diffs = [v for _, v in read_scalars(tmp_path / "lag" / ".summary", "version_diff")]
    assert diffs and max(diffs) <= lag
    assert max(diffs) >= 1  # the sampler did run ahead of the learner


def test_vtrace_run_trains(tmp_path):
    cfg = _cfg(tmp_path, "--experiment=vt", "--async_rl=True", "--max_policy_lag=2", "--with_vtrace=True",
               "--train_for_env_steps=10000")  # fmt: skip
    assert run_rl(cfg) == 0
    assert (tmp_path / "vt" / "checkpoint_p0").is_dir()


def test_async_with_a_lag_of_zero_is_refused(tmp_path):
    with pytest.raises(SystemExit):
        _cfg(tmp_path, "--async_rl=True", "--max_policy_lag=0")


def test_async_with_envs_in_the_main_process_is_refused(tmp_path):
    cfg = _cfg(tmp_path, "--experiment=serial", "--async_rl=True", "--num_workers=0")
    with pytest.raises(ValueError, match="hung env step cannot be interrupted"):
        run_rl(cfg)


def test_vtrace_targets_use_the_current_critic_not_the_samplers_values(tmp_path):
    from marl_sf.train import Trainer

    # shared weights: act returns the values, so without V-trace's pass st.values would stay the sampler's
    trainer = Trainer(_cfg(tmp_path, "--experiment=cur", "--with_vtrace=True", "--actor_critic_share_weights=True"))
    try:
        trainer.sampler.collect()
        learner, st = trainer.learners[0], trainer.storages[0]
        st.values.fill_(1000.0)  # what a stale sampler might have left
        advantages, targets = learner.compute_targets(st)
        assert st.values[:-1].abs().max() < 100.0  # replaced by the current critic's values
        assert torch.isfinite(targets).all() and targets.abs().max() < 100.0
    finally:
        trainer.close()
