"""Env worker processes: same trajectories as in-process stepping, faults surface cleanly, nothing leaks."""

from __future__ import annotations

import gc
import multiprocessing as mp
import time

import numpy as np
import pytest
import torch

from examples.custom_env import CueMatchEnv
from marl_sf.algo.env_workers import EnvWorkerError
from marl_sf.envs.registry import register_env
from marl_sf.train import Trainer


class FailingEnv(CueMatchEnv):
    """Raises on its 3rd step (only the env with env_id 1) or hangs there (``hang=True``)."""

    def __init__(self, env_id: int, hang: bool = False):
        super().__init__()
        self.env_id, self.hang, self.steps = env_id, hang, 0

    def step(self, actions):
        self.steps += 1
        if self.env_id == 1 and self.steps == 3:
            if self.hang:
                time.sleep(60)
            raise ValueError("boom in env 1")
        return super().step(actions)


def _register():
    register_env("cue_workers", lambda n, cfg=None, env_config=None, render_mode=None: CueMatchEnv())
    register_env("failing", lambda n, cfg=None, env_config=None, render_mode=None: FailingEnv(env_config.env_id))
    register_env("hanging", lambda n, cfg=None, env_config=None, render_mode=None: FailingEnv(env_config.env_id, True))


def _trainer(make_cfg, env, *extra):
    _register()
    argv = (f"--env={env}", f"--experiment={env}", "--num_envs=4", "--rollout=8", "--batch_size=32", "--seed=7")
    return Trainer(make_cfg(*argv, "--critic_input=state", *extra))


def make_spawn_cue(full_env_name, cfg=None, env_config=None, render_mode=None):
    """A module-level maker: pickled by reference, so spawned workers get it without this test's registration."""
    return CueMatchEnv()


@pytest.mark.slow
@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_worker_processes_give_the_same_trajectories_as_serial_mode(make_cfg, start_method):
    # registered here, at run time: a spawned worker's registry lacks it, the maker reaches it explicitly
    register_env("cue_spawn", make_spawn_cue)
    rollouts = {}
    for mode in ("--serial_mode=True", "--num_workers=2"):
        torch.manual_seed(0)  # same policy weights and the same action samples
        extra = (mode, "--restart_behavior=overwrite", f"--worker_start_method={start_method}")
        trainer = _trainer(make_cfg, "cue_spawn", *extra)
        torch.manual_seed(1)
        trainer.sampler.collect()
        st = trainer.storages[0]
        rollouts[mode] = [st.obs["obs"].clone(), st.state.clone(), st.actions.clone(), st.rewards.clone()]
        trainer.close()
    for serial, parallel in zip(*rollouts.values(), strict=True):
        assert torch.equal(serial, parallel)


def test_spawn_with_a_maker_that_does_not_pickle_is_a_clear_error(make_cfg):
    with pytest.raises(ValueError, match=r"maker registered for env 'cue_workers' .* cannot be pickled"):
        _trainer(make_cfg, "cue_workers", "--num_workers=2", "--worker_start_method=spawn")  # a lambda
    assert not mp.active_children()


@pytest.mark.parametrize("mode", ["--async_rl=False", "--async_rl=True"])
def test_an_env_that_raises_in_a_worker_ends_the_run_with_its_traceback(make_cfg, mode):
    trainer = _trainer(make_cfg, "failing", "--num_workers=2", mode)  # async: raised in the sampler thread
    # 4 envs, 2 groups of 2, one env of each group per worker: worker 1 steps envs 1 and 3
    raised = r"(?s)env worker 1 \(env_ids \[1, 3\]\) raised.*ValueError: boom in env 1"
    with pytest.raises(EnvWorkerError, match=raised):
        trainer.train()
    assert not mp.active_children()
    assert (trainer.exp_dir / "checkpoint_p0").exists()  # saved on the way out


@pytest.mark.slow
def test_a_hung_worker_is_detected_by_the_timeout(make_cfg):
    trainer = _trainer(make_cfg, "hanging", "--num_workers=2", "--worker_timeout_sec=2")
    with pytest.raises(EnvWorkerError, match="did not answer within 2 s"):
        trainer.train()
    deadline = time.time() + 10
    while mp.active_children() and time.time() < deadline:
        time.sleep(0.1)
    assert not mp.active_children()


def test_num_envs_must_divide_among_workers(make_cfg):
    with pytest.raises(ValueError, match="--num_envs=4 does not divide among --num_workers=3 x --worker_num_splits=2"):
        _trainer(make_cfg, "cue_workers", "--num_workers=3")


@pytest.mark.slow
def test_training_with_workers_learns(make_cfg):
    trainer = _trainer(
        make_cfg, "cue_workers", "--num_workers=2", "--train_for_env_steps=8000", "--learning_rate=0.002"
    )
    assert trainer.train() == 0
    assert trainer.logger.mean_agent_return() > 4.0  # random play: 2
    assert np.isfinite(trainer.best_metric[0])
    assert not mp.active_children()


def _shared_mappings() -> set[str]:
    """Shared-memory segments mapped into this process (torch shares tensors through /dev/shm files)."""
    with open("/proc/self/maps") as f:
        return {line.split(maxsplit=5)[-1].strip() for line in f if "/dev/shm/" in line or "torch_" in line}


def test_shared_memory_is_released_when_the_run_ends(make_cfg):
    gc.collect()  # earlier tests' runners may still be waiting for the collector
    before = _shared_mappings()
    trainer = _trainer(make_cfg, "cue_workers", "--num_workers=2", "--train_for_env_steps=600")
    created = _shared_mappings() - before
    assert created  # the step buffers live in shared memory
    assert trainer.train() == 0
    del trainer
    gc.collect()
    assert not created & _shared_mappings()
    assert not mp.active_children()


def test_a_worker_that_failed_on_one_group_is_reported_when_the_next_group_is_sent(make_cfg):
    trainer = _trainer(make_cfg, "failing", "--num_workers=2")
    runner, actions = trainer.sampler.runner, np.zeros((2, 2), np.int64)  # 2 envs per group, 2 agents
    for _ in range(2):
        for group in (0, 1):
            runner.step_async(group, actions)
            runner.wait(group)
    runner.step_async(0, actions)  # env 1 (group 0, worker 1) raises on this, its 3rd step
    deadline = time.time() + 10
    while all(p.is_alive() for p in runner.processes) and time.time() < deadline:
        time.sleep(0.05)  # worker 1 exits after reporting its error
    with pytest.raises(EnvWorkerError, match=r"(?s)env worker 1 .*ValueError: boom in env 1"):
        runner.step_async(1, actions)
    trainer.close()
    assert not mp.active_children()
