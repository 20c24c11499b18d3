"""Grouping experiments into configurations (marl_sf.aggregate) from their config.json and summaries."""

from __future__ import annotations

import json
from pathlib import Path

from tensorboardX import SummaryWriter

from marl_sf.aggregate import aggregate, configurations, find_experiments, read_run


def _experiment(folder: Path, config: dict, returns: list[float]) -> Path:
    """An experiment folder as training leaves it: config.json and policy_0/episode_return summaries."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config))
    with SummaryWriter(str(folder / ".summary")) as writer:
        for step, value in enumerate(returns):
            writer.add_scalar("policy_0/episode_return", value, (step + 1) * 1000)
    return folder


def test_seeds_group_by_configuration_and_envs_with_their_own_options_do_not_split_one(tmp_path):
    base = {"learning_rate": 1e-3, "restart_behavior": "resume", "command_line": "x"}
    for seed in (0, 1):
        for lr in (1e-3, 3e-4):
            _experiment(tmp_path / f"spread_lr{lr}_s{seed}",
                        {**base, "env": "mpe_simple_spread", "mpe_max_cycles": 25, "seed": seed, "learning_rate": lr,
                         "restart_behavior": "overwrite" if seed else "resume"}, [-30.0, -20.0 + seed])  # fmt: skip
            _experiment(tmp_path / f"cartpole_lr{lr}_s{seed}", {**base, "env": "cartpole", "batch_size": 512,
                        "seed": seed, "learning_rate": lr}, [20.0, 100.0 + seed])  # fmt: skip
    old = _experiment(tmp_path / "spread_lr0.001_s0_old_20261206_101010", {**base, "env": "x", "seed": 9}, [0.0])
    found = find_experiments(tmp_path)
    assert old not in found and len(found) == 8  # the folder --restart_behavior=restart left is not a run
    groups = configurations([read_run(p) for p in found])
    assert sorted(groups) == ["learning_rate=0.0003", "learning_rate=0.001"]  # 2 envs x 2 seeds in each
    assert all(len(g) == 4 and {r.env for r in g} == {"mpe_simple_spread", "cartpole"} for g in groups.values())
    data = aggregate(found, reps=200)
    assert data["normalized"] and len(data["configurations"]) == 2  # two envs: scores min-max normalized per env


def test_a_run_that_logged_no_return_is_left_out_with_a_warning(tmp_path, caplog):
    good = _experiment(tmp_path / "a", {"env": "e", "seed": 0}, [1.0, 2.0])
    crashed = tmp_path / "b"
    (crashed / ".summary").mkdir(parents=True)
    (crashed / "config.json").write_text(json.dumps({"env": "e", "seed": 1}))
    with SummaryWriter(str(crashed / ".summary")) as writer:
        writer.add_scalar("perf/agent_steps_per_sec", 1.0, 1)
    data = aggregate([good, crashed], reps=100)
    assert data["configurations"][0]["experiments"] == ["a"]
    assert "left out of the aggregate" in caplog.text
