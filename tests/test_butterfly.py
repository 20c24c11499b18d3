"""PettingZoo butterfly envs: knights_archers_zombies, whose agents die mid-episode."""

from __future__ import annotations

import torch
from pettingzoo.butterfly import knights_archers_zombies_v11
from pettingzoo.test import parallel_api_test

from marl_sf.train import Trainer


def test_underlying_kaz_passes_pettingzoo_parallel_api_test():
    parallel_api_test(knights_archers_zombies_v11.parallel_env(obs_method="vector", max_cycles=100), num_cycles=200)


def test_kaz_trains_with_agents_dying_and_dead_steps_carry_no_advantage(make_cfg):
    argv = ["--env=butterfly_knights_archers_zombies", "--experiment=kaz", "--kaz_max_cycles=300"]
    argv += ["--num_envs=4", "--rollout=64", "--batch_size=256", "--num_epochs=1"]
    trainer = Trainer(make_cfg(*argv))
    assert trainer.specs[0].global_space.shape == (104,)  # KAZ's [26, 4] state, stored once per env
    st, learner = trainer.storages[0], trainer.learners[0]
    died = False
    for _ in range(3):  # 192 steps per env: random archers and knights die after 140-220 steps
        st.carry_last_step()
        trainer.sampler.collect()
        active = st.active[:-1]  # [T, E, A]
        died |= bool((active.any(-1, keepdim=True) & ~active).any())  # some agent dead while others play
    assert died
    advantages, _ = learner.compute_targets(st)
    assert torch.all(advantages[~active] == 0)  # dead steps: no advantage, masked out of every loss
    stats = learner.train(st)
    assert 0 < stats["active_fraction"] < 1  # the loss mask left the dead steps out
    trainer.close()
