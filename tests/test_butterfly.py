"""PettingZoo butterfly envs: knights_archers_zombies (agents die mid-episode) and the image envs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pettingzoo.butterfly import knights_archers_zombies_v11
from pettingzoo.test import parallel_api_test

from marl_sf.envs.image_catalog import make_cycle_env, reduce_and_resize, stack_frames
from marl_sf.envs.pettingzoo_catalog import import_env_module, make_pettingzoo_env
from marl_sf.envs.registry import create_env, registry_entry
from marl_sf.models.encoder import ConvEncoder
from marl_sf.train import Trainer
from tests.adapter_checks import run_checked


def test_kaz_keeps_the_contract_through_the_adapter_as_agents_die(make_cfg):
    cfg = make_cfg("--env=butterfly_knights_archers_zombies", "--kaz_max_cycles=100")
    assert run_checked(create_env("butterfly_knights_archers_zombies", cfg=cfg), 200) == 2


def test_kaz_trains_with_agents_dying_and_dead_steps_carry_no_advantage(make_cfg):
    argv = ["--env=butterfly_knights_archers_zombies", "--experiment=kaz", "--kaz_max_cycles=300"]
    argv += ["--num_envs=4", "--rollout=64", "--batch_size=256", "--num_epochs=1"]
    trainer = Trainer(make_cfg(*argv))
    assert trainer.specs[0].global_space.shape == (104,)  # KAZ's [26, 4] state, stored once per env
    st, learner = trainer.storages[0], trainer.learners[0]
    died = False
    for _ in range(8):  # up to 512 steps per env: random archers and knights die after 140-220 steps
        st.carry_last_step()
        trainer.sampler.collect()
        active = st.active[:-1]  # [T, E, A]
        died = bool((active.any(-1, keepdim=True) & ~active).any())  # some agent dead while others play
        if died:
            break
    assert died
    advantages, _ = learner.compute_targets(st)
    assert torch.all(advantages[~active] == 0)  # dead steps: no advantage, masked out of every loss
    stats = learner.train(st)
    assert 0 < stats["active_fraction"] < 1  # the loss mask left the dead steps out
    trainer.close()


@pytest.mark.parametrize(
    ("name", "extra"), [("butterfly_pistonball", ["--pistonball_n_pistons=3"]), ("butterfly_cooperative_pong", [])]
)
def test_image_envs_keep_the_contract_through_the_adapter(make_cfg, name, extra):
    cfg = make_cfg(f"--env={name}", "--pz_max_cycles=20", "--pz_resize", "24", "24", *extra)
    assert run_checked(create_env(name, cfg=cfg), 30) >= 1


CYCLE_ENVS = [
    ("pettingzoo.butterfly.pistonball_v6", dict(continuous=False, n_pistons=5, max_cycles=30)),
    ("pettingzoo.butterfly.cooperative_pong_v6", dict(max_cycles=30)),
]


@pytest.mark.parametrize("module, kwargs", CYCLE_ENVS)
def test_the_fast_cycle_conversion_passes_parallel_api_test(make_cfg, module, kwargs):
    cfg = make_cfg("--env=butterfly_pistonball", "--experiment=cycle", "--pz_resize", "24", "24")
    parallel_api_test(stack_frames(make_cycle_env(module, None, cfg, **kwargs), cfg), num_cycles=40)


@pytest.mark.parametrize("module, kwargs", CYCLE_ENVS)
def test_the_fast_cycle_conversion_steps_like_pettingzoos_own(make_cfg, module, kwargs):
    """``CycleToParallel`` only skips work: same seed and actions give the same observations, rewards and ends
    as PettingZoo's ``aec_to_parallel`` with the same SuperSuit preprocessing."""
    cfg = make_cfg("--env=butterfly_pistonball", "--experiment=cycle", "--pz_resize", "24", "24")
    ours = stack_frames(make_cycle_env(module, None, cfg, **kwargs), cfg)
    pettingzoo_parallel = import_env_module(module).parallel_env(render_mode="rgb_array", **kwargs)  # aec_to_parallel
    theirs = stack_frames(reduce_and_resize(pettingzoo_parallel, cfg), cfg)
    obs_ours, _ = ours.reset(seed=3)
    obs_theirs, _ = theirs.reset(seed=3)
    rng, steps = np.random.default_rng(0), 0
    while theirs.agents:
        assert obs_ours.keys() == obs_theirs.keys()
        assert all(np.array_equal(obs_ours[a], obs_theirs[a]) for a in obs_theirs)
        actions = {a: int(rng.integers(theirs.action_space(a).n)) for a in theirs.agents}
        obs_ours, *rest_ours = ours.step(actions)
        obs_theirs, *rest_theirs = theirs.step(actions)
        assert [dict(d) for d in rest_ours[:3]] == [dict(d) for d in rest_theirs[:3]]  # rewards, ends
        steps += 1
    assert all(np.array_equal(obs_ours[a], obs_theirs[a]) for a in obs_theirs)  # the final observations
    assert steps > 5 and not ours.agents


def test_kaz_through_the_fast_conversion_steps_like_pettingzoos_own_while_agents_die():
    """``make_pettingzoo_env`` re-converts PettingZoo's converted Parallel envs with ``CycleToParallel``; with
    agents dying mid-episode (KAZ) it still gives the same observations, rewards, ends and live agents."""
    kwargs = dict(obs_method="vector", max_cycles=900)
    ours = make_pettingzoo_env("pettingzoo.butterfly.knights_archers_zombies_v11", **kwargs)
    theirs = knights_archers_zombies_v11.parallel_env(**kwargs)
    assert type(ours).__name__ == "CycleToParallel"
    obs_ours, _ = ours.reset(seed=1)
    obs_theirs, _ = theirs.reset(seed=1)
    rng, died = np.random.default_rng(1), False  # seed 1: an archer or knight dies at step 128 of 157
    while theirs.agents:
        assert ours.agents == theirs.agents and obs_ours.keys() == obs_theirs.keys()
        assert all(np.array_equal(obs_ours[a], obs_theirs[a]) for a in obs_theirs)
        actions = {a: int(rng.integers(theirs.action_space(a).n)) for a in theirs.agents}
        obs_ours, *rest_ours = ours.step(actions)
        obs_theirs, *rest_theirs = theirs.step(actions)
        assert [dict(d) for d in rest_ours[:3]] == [dict(d) for d in rest_theirs[:3]]  # rewards, ends
        died |= 0 < len(theirs.agents) < len(theirs.possible_agents)
    assert all(np.array_equal(obs_ours[a], obs_theirs[a]) for a in obs_theirs)  # the final observations
    assert died and not ours.agents


@pytest.mark.parametrize("env", ["butterfly_pistonball", "butterfly_cooperative_pong"])
def test_image_env_observations_follow_the_game(make_cfg, env):
    """PettingZoo redraws these screens only with a render mode; without one every observation would be the
    reset frame. Ours change from step to step, and the newest stacked frame is the one that changes."""
    argv = [f"--env={env}", "--experiment=frames", "--pz_max_cycles=50", "--pz_resize", "36", "36"]
    env_obj = registry_entry(env).make_env_func(env, cfg=make_cfg(*argv))  # the PettingZoo env, preprocessed
    obs, _ = env_obj.reset(seed=0)
    agent = env_obj.possible_agents[0]
    rng = np.random.default_rng(0)
    changed = newest_changed = 0
    for _ in range(20):
        prev = obs[agent].copy()  # frame_stack_v1 may hand back the same array, updated in place
        obs, *_ = env_obj.step({a: int(rng.integers(env_obj.action_space(a).n)) for a in env_obj.agents})
        changed += int(not np.array_equal(obs[agent], prev))
        newest_changed += int(not np.array_equal(obs[agent][..., -1], prev[..., -1]))  # [H, W, frames]
    assert changed >= 15 and newest_changed >= 15
    env_obj.close()


@pytest.mark.parametrize("env", ["butterfly_pistonball", "butterfly_cooperative_pong"])
def test_image_envs_train_a_cnn_on_preprocessed_uint8_frames(make_cfg, env):
    argv = [f"--env={env}", f"--experiment={env}", "--pz_resize", "36", "36", "--pz_max_cycles=20"]
    argv += ["--pistonball_n_pistons=3"] if "pistonball" in env else []
    agents = 3 if "pistonball" in env else 2
    argv += ["--num_envs=2", "--rollout=8", f"--batch_size={2 * 8 * agents}", "--num_epochs=1"]
    trainer = Trainer(make_cfg(*argv, f"--train_for_env_steps={2 * 2 * 8 * agents}"))
    obs = trainer.storages[0].obs["obs"]
    assert obs.dtype == torch.uint8 and obs.shape[3:] == (36, 36, 3)  # [T + 1, E, A, H, W, frames]
    model = trainer.models[0]  # pistonball's recipe: separate actor and critic CNNs; the others: one shared CNN
    encoders = [model.actor_encoder, model.critic_encoder] if "pistonball" in env else [model.encoder]
    assert all(isinstance(e, ConvEncoder) for e in encoders)
    assert trainer.train() == 0


def test_a_state_critic_reads_the_image_state_stored_once_per_env(make_cfg):
    argv = ["--env=butterfly_pistonball", "--experiment=pb_state", "--pistonball_n_pistons=3", "--pz_max_cycles=20"]
    argv += ["--pz_resize", "36", "36", "--pz_state_resize", "40", "40", "--critic_input=state"]
    argv += ["--actor_critic_share_weights=False", "--num_envs=2", "--rollout=8", "--batch_size=48"]
    trainer = Trainer(make_cfg(*argv, "--train_for_env_steps=96"))
    st = trainer.storages[0]
    assert st.state.dtype == torch.uint8 and st.state.shape == (9, 2, 40, 40, 3)  # [T + 1, E, H, W, C], not per agent
    assert any(isinstance(m, ConvEncoder) for m in trainer.models[0].critic_encoder.modules())  # a CNN critic
    assert trainer.train() == 0


def test_an_agent_specific_state_on_an_image_state_is_a_clear_error(make_cfg):
    cfg = make_cfg("--env=butterfly_cooperative_pong", "--experiment=bad", "--critic_input=state_local")
    with pytest.raises(ValueError, match=r"needs a vector global state, or a uint8 image state with --critic_input="):
        Trainer(cfg)
