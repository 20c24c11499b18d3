"""Data-parallel learners on real torch.distributed (gloo, two processes on this machine): two learners, each on
half of the envs of a rollout, take the step one learner takes on the whole rollout."""

from __future__ import annotations

import copy
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from marl_sf.algo.learner import Learner
from marl_sf.algo.storage import RolloutStorage
from marl_sf.train import Trainer

pytestmark = pytest.mark.slow  # real processes and clusters, or a subprocess per command

BUFFERS = ("actions", "log_probs", "values", "bootstrap_values", "rewards", "terminated", "truncated", "active",
           "rnn_states", "episode_start")  # fmt: skip


def _shard(st: RolloutStorage, rank: int, world: int) -> RolloutStorage:
    """Envs ``[rank * E / world, (rank + 1) * E / world)`` of ``st`` as a storage of their own."""
    per = st.num_envs // world
    envs = slice(rank * per, (rank + 1) * per)
    shard = RolloutStorage(st.spec, st.rollout, per, st.rnn_states.shape[-1], st.rewards.device)
    for name in BUFFERS:
        getattr(shard, name).copy_(getattr(st, name)[:, envs])
    for k, v in st.obs.items():
        shard.obs[k].copy_(v[:, envs])
    if st.state is not None:
        shard.state.copy_(st.state[:, envs])
    return shard


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _learner_process(rank, world, port, cfg, model, st, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        learner = Learner(cfg, model, torch.device("cpu"))
        assert learner.reducer.world_size == world
        stats = learner.train(_shard(st, rank, world))
        out.put((rank, {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}, stats))  # by value
        dist.barrier()  # neither rank tears gloo down while the other still talks to it (an abort at exit)
    finally:
        dist.destroy_process_group()
    out.close()
    out.join_thread()  # the results are sent before the process ends
    os._exit(0)  # skip the interpreter's teardown, where gloo's threads can still abort a finished learner


def _one_and_two_learners(make_cfg, *argv):
    trainer = Trainer(make_cfg("--env=mpe_simple_spread", "--experiment=ddp", "--num_envs=4", "--rollout=8",
                               "--num_epochs=2", "--num_minibatches=3", "--seed=3", *argv))  # fmt: skip
    try:
        trainer.sampler.collect()
        model, st, cfg = trainer.models[0], trainer.storages[0], trainer.cfg
        start = copy.deepcopy(model.state_dict())
        one = Learner(cfg, copy.deepcopy(model), torch.device("cpu"))
        one_stats = one.train(st)
        ctx, port = mp.get_context("spawn"), _free_port()  # fork after torch's threads ran can hang the children
        out = ctx.Queue()
        procs = [ctx.Process(target=_learner_process, args=(r, 2, port, cfg, copy.deepcopy(model), st, out))
                 for r in range(2)]  # fmt: skip
        for p in procs:
            p.start()
        results = dict((rank, (params, stats)) for rank, params, stats in (out.get(timeout=120) for _ in procs))
        for p in procs:
            p.join(timeout=30)
            assert p.exitcode == 0
        return start, one.model.state_dict(), one_stats, results
    finally:
        trainer.close()


@pytest.mark.parametrize("argv", [(), ("--use_rnn=True",), ("--normalize_input=True", "--critic_input=joint_obs")])
def test_two_gloo_learners_on_halves_take_the_one_learner_step(make_cfg, argv):
    start, one, one_stats, results = _one_and_two_learners(make_cfg, *argv)
    for rank in (0, 1):
        params, stats = results[rank]
        for name, value in one.items():
            got = torch.from_numpy(params[name])
            torch.testing.assert_close(got, value, rtol=1e-4, atol=1e-5, msg=f"rank {rank}: {name}")
        for key in ("loss", "value_loss", "entropy", "grad_norm", "explained_variance"):
            assert stats[key] == pytest.approx(one_stats[key], rel=1e-4, abs=1e-5), key
    assert any(not torch.equal(start[n], one[n]) for n in one if n.endswith("weight"))  # the step moved weights


def test_training_with_two_learner_processes_writes_one_experiment(tmp_path):
    from marl_sf.checkpoint import find_checkpoint, load_checkpoint

    argv = ["--env=mpe_simple_spread", "--experiment=two", "--num_learners=2", "--num_envs=4", "--rollout=25",
            "--num_epochs=1", "--train_for_env_steps=1500", "--save_plots=False", f"--train_dir={tmp_path}",
            "--device=cpu", "--progress_bar=False", "--learner_torch_threads=1"]  # fmt: skip
    # a fresh process, as a user runs it: the learners are forked before any torch work
    run = subprocess.run([sys.executable, "-m", "marl_sf.train", *argv], capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "learner processes: 2" in run.stderr
    exp_dir = tmp_path / "two"
    state = load_checkpoint(find_checkpoint(exp_dir, 0), torch.device("cpu"))
    # 2 learners x 2 envs x 3 agents x 25 steps = 300 agent-steps per update, counted over both learners
    assert state["agent_steps"] == 1500 and state["train_step"] == 5
    assert len(list((exp_dir / ".summary").glob("events.out.tfevents.*"))) == 1  # rank 0 alone writes
    assert (exp_dir / "config.json").exists()


def test_num_learners_that_do_not_split_the_envs_is_a_clear_error(make_cfg):
    from marl_sf.train import run_rl

    with pytest.raises(ValueError, match="does not split over --num_learners=3"):
        run_rl(make_cfg("--env=mpe_simple_spread", "--experiment=bad", "--num_learners=3", "--num_envs=4"))


def _children(pid: int) -> list[int]:
    """The pids of ``pid``'s child processes, in start order (from /proc)."""
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        if int(fields[1]) == pid:
            kids.append((int(fields[19]), int(stat.parent.name)))  # (start time, pid)
    return [p for _, p in sorted(kids)]


def test_when_learner_rank_0_dies_rank_1_writes_the_last_completed_update(tmp_path):
    from marl_sf.checkpoint import find_checkpoint, load_checkpoint

    argv = ["--env=mpe_simple_spread", "--experiment=die", "--num_learners=2", "--num_envs=4", "--rollout=25",
            "--num_epochs=1", "--train_for_env_steps=100000000", "--save_every_sec=1e9", "--save_plots=False",
            f"--train_dir={tmp_path}", "--device=cpu", "--progress_bar=False", "--learner_torch_threads=1"]  # fmt: skip
    run = subprocess.Popen([sys.executable, "-m", "marl_sf.train", *argv], stderr=subprocess.PIPE, text=True)
    summary, deadline = tmp_path / "die" / ".summary", time.time() + 120
    while not (summary.exists() and any(summary.iterdir())) and time.time() < deadline:
        time.sleep(0.5)
    time.sleep(3.0)  # a few updates
    rank0 = _children(run.pid)[0]  # the launcher starts rank 0 first
    os.kill(rank0, signal.SIGKILL)
    _, err = run.communicate(timeout=120)
    assert run.returncode != 0
    assert f"learner rank 0 (pid {rank0}) is gone: rank 1 writes the exit checkpoint" in err, err[-3000:]
    state = load_checkpoint(find_checkpoint(tmp_path / "die", 0), torch.device("cpu"))  # no periodic one was due
    assert state["agent_steps"] > 0 and state["agent_steps"] == 300 * state["train_step"]  # whole updates only
