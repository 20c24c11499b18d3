"""The VMAS adapter (``marl_sf.envs.vmas``) against VMAS stepped by hand; groups; a short training run."""

from __future__ import annotations

import pytest
import torch

vmas = pytest.importorskip("vmas")  # the [vmas] extra; CI installs it

from marl_sf.envs.registry import env_registry  # noqa: E402
from marl_sf.envs.spec import read_env_spec  # noqa: E402
from marl_sf.envs.vmas import VmasEnv  # noqa: E402
from marl_sf.train import Trainer  # noqa: E402


def _raw(scenario: str, num_envs: int, max_steps: int, continuous: bool = True, **kwargs):
    return vmas.make_env(scenario, num_envs=num_envs, device="cpu", continuous_actions=continuous, seed=0,
                         max_steps=max_steps, terminated_truncated=True, **kwargs)  # fmt: skip


def test_every_scenario_is_registered():
    names = set(env_registry())
    for scenario in [*vmas.scenarios, *vmas.mpe_scenarios]:
        assert f"vmas_{scenario}" in names


def test_steps_match_vmas_by_hand_and_a_time_limit_resets_every_env_with_final_observations():
    env = VmasEnv("navigation", num_envs=3, max_steps=4, seed=0, scenario_kwargs={"n_agents": 2})
    actions = [torch.rand(3, 2, 2) * 2 - 1 for _ in range(6)]  # [E, A, 2] per step
    obs0, _ = env.reset()
    got = [env.step(a) for a in actions]
    raw = _raw("navigation", 3, 4, n_agents=2)  # seeds VMAS's stream again: replay the same draws
    assert torch.equal(obs0["obs"], torch.stack(raw.reset(), dim=1))
    for t, a in enumerate(actions):
        obs, rewards, terminated, truncated, _ = raw.step([a[:, 0], a[:, 1]])
        g_obs, g_rew, g_term, g_trunc, g_info = got[t]
        assert torch.equal(g_rew, torch.stack(rewards, dim=1))
        assert torch.equal(g_trunc[:, 0], truncated) and torch.equal(g_term[:, 0], terminated)
        if t == 3:  # the time limit: every env ends; the final observations are VMAS's, then all reset at once
            assert truncated.all() and g_info["_final_obs"].all()
            assert torch.equal(g_info["final_obs"]["obs"], torch.stack(obs, dim=1))
            assert torch.equal(g_info["final_state"], torch.cat(obs, dim=1))
            obs = raw.reset()
        else:
            assert "final_obs" not in g_info
        assert torch.equal(g_obs["obs"], torch.stack(obs, dim=1))


def test_envs_that_end_alone_are_reset_one_by_one_and_the_others_go_on():
    env = VmasEnv("navigation", num_envs=4, max_steps=50, seed=0, scenario_kwargs={"n_agents": 2})
    env.reset()
    before = env.step(torch.zeros(4, 2, 2))[0]["obs"]
    done = torch.tensor([False, True, False, True])
    after = torch.stack(env._reset_done(done), dim=1)  # [E, A, d]
    assert torch.equal(after[~done], before[~done])
    assert not torch.equal(after[done], before[done])
    assert env.env.steps.tolist() == [1, 0, 1, 0]  # VMAS's per-env step counters restart where reset


def test_discrete_actions_reach_vmas_as_indices():
    env = VmasEnv("simple_spread", num_envs=2, max_steps=10, continuous_actions=False, seed=0)
    raw = _raw("simple_spread", 2, 10, continuous=False)
    assert str(read_env_spec(env).action_space) == f"Discrete({raw.action_space[0].n})"
    env.reset()
    actions = torch.tensor([[1, 2, 3], [4, 0, 8]])
    got = env.step(actions)
    raw = _raw("simple_spread", 2, 10, continuous=False)
    raw.reset()
    obs = raw.step([actions[:, i] for i in range(3)])[0]
    assert torch.equal(got[0]["obs"], torch.stack(obs, dim=1))


def test_agents_with_their_own_observation_sizes_are_groups_with_padded_transport():
    env = VmasEnv("simple_adversary", num_envs=2, max_steps=10, seed=0)
    spec = read_env_spec(env)
    assert spec.agent_names == ("adversary_0", "agent_0", "agent_1")
    assert [s["obs"].shape for s in spec.agent_observation_spaces] == [(8,), (10,), (10,)]
    assert spec.observation_space["obs"].shape == (10,) and spec.state_space.shape == (28,)
    obs, _ = env.reset()
    raw = _raw("simple_adversary", 2, 10)
    raw_obs = raw.reset()
    assert torch.equal(obs["obs"][:, 0, :8], raw_obs[0]) and (obs["obs"][:, 0, 8:] == 0).all()


@pytest.mark.slow
def test_short_training_run_on_a_heterogeneous_scenario_trains_one_policy_per_group(make_cfg):
    cfg = make_cfg("--env=vmas_simple_adversary", "--experiment=vmas_adv", "--num_envs=16", "--rollout=8",
                   "--policy_mapping=per_group", "--train_for_env_steps=2000", "--vmas_max_steps=20")  # fmt: skip
    trainer = Trainer(cfg)
    assert [s.agent_indices for s in trainer.specs] == [[0], [1, 2]]
    assert trainer.train() == 0
    assert trainer.agent_steps >= 2000
