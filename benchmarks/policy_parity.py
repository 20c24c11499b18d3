"""A trained policy outside marl_sf's engine plays as ``enjoy`` does, and its ONNX export acts as torch does.

    python benchmarks/policy_parity.py --experiment=simple_spread_mappo [--episodes=100] [--observations=10000]

1. Runs ``python -m marl_sf.enjoy`` on the experiment (greedy, ``--num_envs=1``, ``--eval_seed``) and reads its
   per-agent returns and 95% intervals from ``eval/report.json`` (the report is rewritten).
2. Plays the same number of episodes with ``marl_sf.load_policy`` in the experiment's PettingZoo env directly (a
   Parallel or AEC loop; the first reset with the same seed, later resets unseeded, as enjoy's env does) and prints
   each agent's mean return next to enjoy's mean and interval (the same episodes give the same mean).
3. Exports the policies to ONNX (a temporary folder) and runs onnxruntime on the actor inputs of
   ``--observations`` agent-steps of sampled play (varied states, also in games that greedy play repeats), built
   from the PettingZoo observations with nothing but the exported ``.json`` description (as
   docs/using_policies.md does), with the recurrent states the torch policy carried; prints how many greedy
   actions equal the torch actor's on the same inputs and the largest logit difference.

Results: docs/results.md, "Loaded and exported policies".
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime
import torch

import marl_sf
from marl_sf.export import export_policies


def run_enjoy(exp: Path, episodes: int, seed: int) -> tuple[dict, str]:
    """enjoy's report (per-agent mean return and 95% interval) of ``episodes`` greedy episodes in one env, and the
    env's name."""
    env = json.loads((exp / "config.json").read_text())["env"]
    argv = [f"--env={env}", f"--train_dir={exp.parent}", f"--experiment={exp.name}", f"--max_num_episodes={episodes}",
            "--num_envs=1", f"--eval_seed={seed}", "--eval_deterministic=True", "--save_plots=False"]  # fmt: skip
    subprocess.run([sys.executable, "-m", "marl_sf.enjoy", *argv], check=True, capture_output=True)
    report = json.loads((exp / "eval" / "report.json").read_text())
    return report, env


def json_inputs(policy, exp: Path, out: Path) -> list[tuple[onnxruntime.InferenceSession, list[dict]]]:
    """Each policy's exported ONNX session and its ``.json`` input description."""
    sessions = []
    for path in export_policies(exp, "onnx", out):
        description = json.loads(path.with_suffix(".json").read_text())
        sessions.append((onnxruntime.InferenceSession(str(path)), description["inputs"]))
    return sessions


def feed_row(inputs: list[dict], observation, agent_index: int, rnn_state: np.ndarray) -> dict[str, np.ndarray]:
    """One agent's ONNX inputs from its PettingZoo observation (an array, or a dict with ``observation`` and
    ``action_mask``), as a user would build them from the ``.json`` description."""
    obs = dict(observation) if isinstance(observation, dict) else {"obs": observation}
    if "observation" in obs:
        obs["obs"] = obs.pop("observation")
    row = {}
    for i in inputs:
        if i["name"] == "agent_index":
            row["agent_index"] = np.asarray(agent_index, dtype=np.int64)
        elif i["name"] == "rnn_states":
            row["rnn_states"] = rnn_state.astype(np.float32)
        else:
            row[i["name"]] = np.asarray(obs[i["name"]]).astype(i["dtype"])
    return row


def play(policy, episodes: int | None, seed: int, record: int = 0):
    """``episodes`` episodes (None: until ``record`` agent-steps are recorded) of the PettingZoo env with
    ``policy``: per-agent returns ``[N, A]`` and, per policy, the first ``record`` agent-steps' ``(agent name,
    observation, rnn state before acting)``."""
    env = policy.make_env()
    names = list(policy.agent_names)
    aec = hasattr(env, "agent_iter")
    returns, recorded = [], [[] for _ in policy.actors]

    def note(name, observation):
        p, j = policy.policy_of[name]
        if sum(len(r) for r in recorded) < record:
            recorded[p].append((name, observation, policy.rnn[p][j].cpu().numpy().copy()))

    episode = 0
    while (episode < episodes) if episodes is not None else sum(len(r) for r in recorded) < record:
        total = dict.fromkeys(names, 0.0)
        policy.reset()
        if aec:
            env.reset(seed=seed if episode == 0 else None)
            for agent in env.agent_iter():
                obs, reward, terminated, truncated, _ = env.last()
                total[agent] += reward
                action = None
                if not (terminated or truncated):
                    note(agent, obs)
                    action = policy.act({agent: obs})[agent]
                env.step(action)
        else:
            obs, _ = env.reset(seed=seed if episode == 0 else None)
            while env.agents:
                for name, o in obs.items():
                    note(name, o)
                obs, rewards, _, _, _ = env.step(policy.act(obs))
                for name, r in rewards.items():
                    total[name] += r
        returns.append([total[n] for n in names])
        episode += 1
    env.close()
    return np.asarray(returns), recorded


def compare_onnx(policy, sessions, recorded) -> tuple[int, int, float]:
    """(greedy actions equal, agent-steps compared, largest |logit difference|) between onnxruntime and torch."""
    equal = total = 0
    worst = 0.0
    for p, ((session, inputs), rows) in enumerate(zip(sessions, recorded, strict=True)):
        if not rows:
            continue
        feeds = [feed_row(inputs, o, policy.agent_names.index(n), h) for n, o, h in rows]
        batch = {k: np.stack([f[k] for f in feeds]) for k in feeds[0]}  # [n, ...] per input
        got = session.run(None, batch)
        with torch.no_grad():
            want = [t.numpy() for t in policy.actors[p](*(torch.as_tensor(batch[i["name"]]) for i in inputs))]
        equal += int(np.sum(np.all((got[0] == want[0]).reshape(len(rows), -1), axis=1)))
        total += len(rows)
        worst = max(worst, float(np.abs(got[1] - want[1]).max()))
    return equal, total, worst


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--experiment", required=True)
    p.add_argument("--train_dir", default="train_dir")
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--observations", type=int, default=10_000, help="agent-steps compared with ONNX")
    p.add_argument("--eval_seed", type=int, default=12345)
    args = p.parse_args()
    exp = Path(args.train_dir) / args.experiment
    report, env = run_enjoy(exp, args.episodes, args.eval_seed)
    policy = marl_sf.load_policy(exp)
    returns, _ = play(policy, args.episodes, args.eval_seed)
    # the observations for ONNX from sampled play: varied states, also in games that greedy play repeats
    _, recorded = play(marl_sf.load_policy(exp, deterministic=False), None, args.eval_seed, args.observations)
    print(f"{env} ({args.experiment}): {args.episodes} greedy episodes, eval seed {args.eval_seed}")
    print("| agent | enjoy mean [95% CI] | load_policy mean | difference | within the interval |")
    print("|---|---|---|---|---|")
    for agent in report["agents"]:
        lo, hi = agent["return_ci95"]
        mine = returns[:, policy.agent_names.index(agent["name"])].mean()
        print(f"| {agent['name']} | {agent['return_mean']:.3f} [{lo:.3f}, {hi:.3f}] | {mine:.3f} | "
              f"{mine - agent['return_mean']:.2g} | {'yes' if lo - 1e-9 <= mine <= hi + 1e-9 else 'NO'} |")  # fmt: skip
    with tempfile.TemporaryDirectory() as out:
        equal, total, worst = compare_onnx(policy, json_inputs(policy, exp, Path(out)), recorded)
    print(f"ONNX: {equal}/{total} greedy actions equal to torch's; largest |logit difference| {worst:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
