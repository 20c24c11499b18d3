"""Population-based training (marl_sf.pbt): the exploit and explore rules on known rankings, and a real population
trained, updated, summarized and resumed through ``python -m marl_sf.train --with_pbt``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from marl_sf.pbt import TUNED, Member, PBTConfigError, PopulationBasedTraining, PopulationState
from marl_sf.train import INTERRUPTED, train_pbt_member
from marl_sf.utils.attr_dict import AttrDict
from marl_sf.utils.summary_reader import read_all_scalars

DEFAULTS = dict(learning_rate=1e-3, exploration_loss_coeff=0.01, value_loss_coeff=1.0, max_grad_norm=10.0,
                ppo_clip_ratio=0.2, ppo_clip_value=0.2)  # fmt: skip


def _controller(tmp_path, **overrides) -> PopulationBasedTraining:
    cfg = AttrDict(num_policies=4, num_learners=1, pbt_mix_policies_in_one_env=False, pbt_optimize_gamma=False,
                   seed=3, train_dir=str(tmp_path), experiment="pop", pbt_period_env_steps=1000, pbt_mutation_rate=0.0,
                   pbt_perturb_min=1.1,
                   pbt_perturb_max=1.5, pbt_replace_fraction=0.3, pbt_replace_reward_gap=0.1,
                   pbt_replace_reward_gap_absolute=1e-6, **DEFAULTS)  # fmt: skip
    cfg.update(overrides)
    return PopulationBasedTraining(cfg, train_member=None)


def _population(objectives, lrs) -> PopulationState:
    return PopulationState([Member(i, {**DEFAULTS, "learning_rate": lr}, obj) for i, (obj, lr) in
                            enumerate(zip(objectives, lrs, strict=True))], agent_steps=1000)  # fmt: skip


def _checkpoint(tmp_path, member: int, name: str, data: bytes) -> Path:
    path = tmp_path / "pop" / f"member_{member}" / "checkpoint_p0" / f"checkpoint_{name}.pth"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_the_worst_members_take_the_weights_and_hyperparameters_of_a_best_one(tmp_path):
    pbt = _controller(tmp_path)
    for i in range(4):
        _checkpoint(tmp_path, i, "000000005_1000", f"weights of member {i}".encode())
    _checkpoint(tmp_path, 3, "000000004_800", b"older weights of member 3")
    state = _population([10.0, 5.0, 0.0, -20.0], [1e-3, 2e-3, 3e-3, 4e-3])
    pbt.update(state)  # ceil(0.3 * 4) = 2 best (members 0, 1), 2 worst (2, 3); gaps well above 10% and 1e-6
    for m in state.members[2:]:
        assert m.replaced_by in (0, 1)
        assert m.hyperparams["learning_rate"] == [1e-3, 2e-3][m.replaced_by]  # mutation rate 0: copied as they are
        files = list((tmp_path / "pop" / f"member_{m.index}" / "checkpoint_p0").glob("checkpoint_*.pth"))
        assert [f.read_bytes() for f in files] == [f"weights of member {m.replaced_by}".encode()]  # only the copy
    assert [m.replaced_by for m in state.members[:2]] == [-1, -1]
    assert [e["replaced"] for e in state.events if "replaced" in e] == [2, 3]


def test_a_small_gap_replaces_nobody_and_member_0_is_never_perturbed(tmp_path):
    pbt = _controller(tmp_path, pbt_mutation_rate=1.0)
    state = _population([10.0, 9.5, 9.4, 9.3], [1e-3] * 4)  # gaps under 10% of 10
    state.members[0].objective = 9.0  # member 0 among the worst, still not perturbed
    pbt.update(state)
    assert all(m.replaced_by == -1 for m in state.members)
    assert state.members[0].hyperparams == DEFAULTS
    ranked_best = {1, 2}
    for m in state.members[1:]:
        changed = m.hyperparams != {**DEFAULTS}
        assert changed == (m.index not in ranked_best)  # mutation rate 1: every non-best member moves
    for event in (e for e in state.events if e.get("member") == 3):
        ratio = event["to"] / event["from"]
        assert 1.1 <= max(ratio, 1 / ratio) <= 1.5


def test_a_new_population_starts_from_the_config_with_members_1_and_up_perturbed(tmp_path):
    state = _controller(tmp_path).load_or_start()
    assert [m.index for m in state.members] == [0, 1, 2, 3]
    assert state.members[0].hyperparams == DEFAULTS
    assert all(set(m.hyperparams) == set(TUNED) and m.hyperparams != DEFAULTS for m in state.members[1:])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [({"num_policies": 1}, "needs a population"), ({"pbt_mix_policies_in_one_env": True}, "not supported")],
)
def test_unsupported_pbt_configurations_are_clear_errors(tmp_path, overrides, message):
    with pytest.raises(PBTConfigError, match=message):
        _controller(tmp_path, **overrides)


@pytest.mark.slow
def test_a_population_trains_updates_logs_and_resumes(tmp_path):
    argv = [sys.executable, "-m", "marl_sf.train", "--env=mpe_simple_spread", "--experiment=pop", "--device=cpu",
            f"--train_dir={tmp_path}", "--num_workers=0", "--num_envs=2", "--batch_size=150", "--progress_bar=False",
            "--with_pbt=True", "--num_policies=3", "--pbt_period_env_steps=300", "--pbt_mutation_rate=1.0",
            "--seed=5"]  # fmt: skip
    done = subprocess.run([*argv, "--train_for_env_steps=900"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    state = json.loads((tmp_path / "pop" / "pbt.json").read_text())
    assert state["agent_steps"] == 900 and len(state["members"]) == 3
    assert any(e.get("param") for e in state["events"])  # mutation rate 1: every update perturbs someone
    scalars = read_all_scalars(tmp_path / "pop" / ".summary")
    assert [s for s, _ in scalars["pbt/member_1/learning_rate"]] == [300, 600, 900]
    assert len(scalars["pbt/member_2/objective"]) == 3 and "pbt/member_0/replaced_by" in scalars
    for i in range(3):  # each member is a whole experiment of its own, trained to 900 agent-steps
        assert list((tmp_path / "pop" / f"member_{i}" / "checkpoint_p0").glob("checkpoint_*_900.pth"))
    more = subprocess.run([*argv, "--train_for_env_steps=1200"], capture_output=True, text=True, timeout=600)
    assert more.returncode == 0, more.stderr[-3000:]
    assert "resuming the population at 900" in more.stderr
    assert json.loads((tmp_path / "pop" / "pbt.json").read_text())["agent_steps"] == 1200
    over = subprocess.run([*argv, "--train_for_env_steps=300", "--restart_behavior=overwrite"], capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert over.returncode == 0 and "resuming" not in over.stderr  # a new population from scratch
    assert json.loads((tmp_path / "pop" / "pbt.json").read_text())["agent_steps"] == 300


@pytest.mark.slow
def test_an_interrupted_population_resumes_without_retraining_or_forgetting_a_member(make_cfg):
    cfg = make_cfg(
        "--env=mpe_simple_spread",
        "--experiment=pop",
        "--num_envs=2",
        "--batch_size=150",
        "--with_pbt=True",
        "--num_policies=2",
        "--pbt_period_env_steps=300",
        "--train_for_env_steps=600",
    )
    turns = []

    def interrupted_after_one_member(member_cfg, stop_at):
        turns.append((member_cfg.experiment, stop_at))
        if len(turns) == 2:
            return INTERRUPTED, None  # as Ctrl-C during member 1's turn ends it
        return train_pbt_member(member_cfg, stop_at)

    assert PopulationBasedTraining(cfg, interrupted_after_one_member).run() == INTERRUPTED
    saved = json.loads((Path(cfg.train_dir) / "pop" / "pbt.json").read_text())["members"]
    assert saved[0]["agent_steps"] == 300 and saved[0]["objective"] is not None and saved[1]["agent_steps"] == 0
    turns.clear()
    assert PopulationBasedTraining(cfg, lambda c, s: (turns.append((c.experiment, s)), train_pbt_member(c, s))[1]
                                   ).run() == 0  # fmt: skip
    assert turns == [("member_1", 300), ("member_0", 600), ("member_1", 600)]  # member 0 not trained twice


@pytest.mark.slow
def test_a_self_play_population_keeps_an_opponent_pool_per_member(make_cfg):
    cfg = make_cfg("--env=classic_tictactoe", "--opponent_prob=1.0", "--experiment=sp_pop", "--num_envs=4",
                   "--policy_mapping=self_play",
                   "--pool_snapshot_every=200", "--with_pbt=True", "--num_policies=2", "--pbt_period_env_steps=400",
                   "--train_for_env_steps=800")  # fmt: skip
    assert PopulationBasedTraining(cfg, train_pbt_member).run() == 0
    for member in ("member_0", "member_1"):
        pool = json.loads((Path(cfg.train_dir) / "sp_pop" / member / "pool" / "p0" / "pool.json").read_text())
        assert len(pool["members"]) >= 2  # its own snapshots
