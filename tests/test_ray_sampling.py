"""``--distributed=ray``: sampler actors on a real local Ray instance (and a real two-node ``ray.cluster_utils.Cluster``
for the node-loss case), killed mid-run, interrupted, and the rollout merge they rely on."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

ray = pytest.importorskip("ray")

from marl_sf.checkpoint import find_checkpoint, load_checkpoint  # noqa: E402

pytestmark = pytest.mark.slow  # real processes and clusters, or a subprocess per command

# 2 samplers x 2 envs x 3 agents x 25 steps = 300 agent-steps per update
RUN_ARGS = ["--env=mpe_simple_spread", "--distributed=ray", "--num_samplers=2", "--num_envs=4", "--num_epochs=1",
            "--device=cpu", "--progress_bar=False", "--save_plots=False", "--status_every_sec=0",
            "--learner_torch_threads=1", "--seed=0"]  # fmt: skip


def ray_processes() -> set[int]:
    """PIDs of the Ray processes on this machine (GCS, raylets, workers, actors, monitors)."""
    found = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if cmd.startswith(b"ray::") or b"site-packages/ray/" in cmd:
            found.add(int(proc.name))
    return found


def assert_no_ray_left(before: set[int], grace_s: float = 15.0) -> None:
    deadline = time.time() + grace_s
    while (left := ray_processes() - before) and time.time() < deadline:
        time.sleep(0.5)
    assert not left, f"Ray processes left behind: {left}"


class Run:
    """``python -m marl_sf.train`` in a fresh process, its output read line by line as it comes."""

    def __init__(self, tmp_path: Path, *argv: str):
        cmd = [sys.executable, "-m", "marl_sf.train", f"--train_dir={tmp_path}", *RUN_ARGS, *argv]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=lambda: [self.lines.put(line) for line in self.proc.stdout], daemon=True).start()

    def wait_for(self, text: str, timeout: float = 120.0) -> str:
        """The first new output line containing ``text``."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                line = self.lines.get(timeout=1.0)
            except queue.Empty:
                assert self.proc.poll() is None, "the run ended early:\n" + "".join(self.output[-40:])
                continue
            self.output.append(line)
            if text in line:
                return line
        raise AssertionError(f"no {text!r} within {timeout} s:\n" + "".join(self.output[-40:]))

    def finish(self, timeout: float = 180.0) -> tuple[int, str]:
        code = self.proc.wait(timeout=timeout)
        time.sleep(0.2)  # the reader thread drains the pipe
        while not self.lines.empty():
            self.output.append(self.lines.get())
        return code, "".join(self.output)


def sampler_pid(run: Run, index: int) -> int:
    line = run.wait_for(f"sampler actor {index}: pid")
    return int(line.split("pid")[1].split()[0])


def final_state(exp_dir: Path) -> dict:
    return load_checkpoint(find_checkpoint(exp_dir, 0), torch.device("cpu"))


def test_a_killed_sampler_actor_is_restarted_and_the_run_reaches_its_budget(tmp_path):
    from marl_sf.utils.summary_reader import read_scalars

    before = ray_processes()
    run = Run(tmp_path, "--experiment=kill", "--train_for_env_steps=3000", "--async_rl=True")
    pid = sampler_pid(run, 1)
    run.wait_for("agent-steps/s")  # an update is done: the run is going
    os.kill(pid, signal.SIGSTOP)  # frozen, the actor holds the rollout the learner waits for next ...
    time.sleep(1.0)
    os.kill(pid, signal.SIGKILL)  # ... so its death loses that rollout
    code, out = run.finish()
    assert code == 0, out[-3000:]
    assert "sampler actor 1 died: its rollout is lost (1 lost in this run)" in out
    assert f"sampler actor 1 restarted: pid {pid} -> " in out
    state = final_state(tmp_path / "kill")
    assert state["agent_steps"] >= 3000
    assert state["train_step"] == state["agent_steps"] // 300  # every update had both samplers' rollouts
    summaries = tmp_path / "kill" / ".summary"
    assert [v for _, v in read_scalars(summaries, "distributed/lost_rollouts")][-1] == 1.0
    lags = [v for _, v in read_scalars(summaries, "version_diff")]
    assert lags[0] == 0.0 and set(lags[1:]) <= {0.0, 1.0} and lags[-1] == 1.0  # 0 after a re-collect only
    assert_no_ray_left(before)


def test_losing_a_node_restarts_its_sampler_and_ctrl_c_then_leaves_no_ray_process(tmp_path):
    from ray.cluster_utils import Cluster

    before = ray_processes()
    fast_failure_detection = {"health_check_initial_delay_ms": 0, "health_check_period_ms": 500,
                              "health_check_failure_threshold": 2}  # fmt: skip
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "_system_config": fast_failure_detection})
    try:
        doomed = cluster.add_node(num_cpus=1)  # one CPU per node: the two samplers land on different nodes
        cluster.wait_for_nodes()
        run = Run(tmp_path, "--experiment=node", "--train_for_env_steps=10000000", f"--ray_address={cluster.address}")
        run.wait_for("agent-steps/s")
        cluster.remove_node(doomed)
        cluster.add_node(num_cpus=1)  # the replacement node, as an autoscaler would bring
        run.wait_for("died: its rollout is lost")
        run.wait_for("restarted: pid")
        steps_then = int(run.wait_for("agent-steps/s").split()[1].replace(",", ""))
        while int(run.wait_for("agent-steps/s").split()[1].replace(",", "")) < steps_then + 1500:
            pass  # the run goes on with the restarted sampler
        run.proc.send_signal(signal.SIGINT)  # Ctrl-C
        code, out = run.finish(timeout=60)
        assert code == 2, out[-3000:]
        assert "interrupted: saving a checkpoint" in out
        assert final_state(tmp_path / "node")["agent_steps"] >= steps_then + 1500
    finally:
        cluster.shutdown()
    assert_no_ray_left(before)


def test_self_play_across_ray_samplers_scores_every_game_in_the_learners_pool(make_cfg):
    from marl_sf.train import Trainer

    cfg = make_cfg("--env=classic_tictactoe", "--opponent_prob=1.0", "--experiment=selfplay_ray",
                   "--policy_mapping=self_play",
                   "--pool_scripted", "random", "--pool_snapshot_every=300", "--distributed=ray", "--num_samplers=2",
                   "--num_envs=4", "--rollout=16", "--num_epochs=1", "--train_for_env_steps=1200",
                   "--learner_torch_threads=1")  # fmt: skip

    def run_handler(signum, frame):  # what run_rl installs: checkpoint, then exit
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, run_handler)
    try:
        trainer = Trainer(cfg)
        assert signal.getsignal(signal.SIGTERM) is run_handler  # ray.init's own (exit at once) was undone
        assert trainer.train() == 0
    finally:
        signal.signal(signal.SIGTERM, previous)
    pool, elo = trainer.league.pools[0], trainer.league.elo
    snapshots = [name for name in pool.members if name.startswith("p0_")]
    assert len(snapshots) >= 3  # taken by the learner every 300 agent-steps, sent to the samplers by name
    assert pool.games.get("random", 0) > 0 and sum(pool.games.get(n, 0) for n in snapshots) > 0
    assert elo.games["policy_0"] == sum(pool.games.values())  # every game the samplers played was rated


def test_rollouts_of_samplers_merge_into_the_learners_env_rows(make_cfg):
    from marl_sf.experiment import build_policies, build_storages, probe_env_spec

    cfg = make_cfg("--env=mpe_simple_spread", "--rollout=5")
    spec = probe_env_spec(cfg)
    specs, models = build_policies(cfg, spec, torch.device("cpu"))
    whole = build_storages(cfg, specs, models, 4, 5, "cpu")[0]
    part = build_storages(cfg, specs, models, 2, 5, "cpu")[0]
    for i, buf in enumerate(part.tensors().values()):
        buf.fill_(i + 1)
    whole.write_envs(part.tensors(), slice(2, 4))
    for name, buf in whole.tensors().items():
        assert torch.equal(buf[:, 2:4], part.tensors()[name]), name
        assert not buf[:, :2].any(), name  # the other sampler's rows are untouched
    with pytest.raises(ValueError, match="shape"):
        whole.write_envs(part.tensors(), slice(0, 3))


@pytest.mark.parametrize(
    "argv, match",
    [(["--num_samplers=3"], "does not split over --num_samplers=3"),
     (["--num_samplers=0"], "give 1 or more sampler actors"),
     (["--num_envs=6", "--worker_num_splits=2"], "does not divide among --num_workers=1 x --worker_num_splits=2")],
)  # fmt: skip
def test_ray_options_that_cannot_run_are_clear_errors(make_cfg, argv, match):
    from marl_sf.ray_sampling import check_ray_cfg

    with pytest.raises(ValueError, match=match):
        check_ray_cfg(make_cfg("--env=mpe_simple_spread", "--distributed=ray", "--num_envs=4", "--num_workers=-1",
                               *argv))  # fmt: skip
