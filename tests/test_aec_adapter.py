"""The AEC (turn-based) adapter on PettingZoo's classic games: one mover per step, masks, end-of-game rewards."""

from __future__ import annotations

import numpy as np
import pytest
from mpe2 import simple_spread_v3
from pettingzoo.classic import connect_four_v3, tictactoe_v3

from marl_sf.envs.pettingzoo import PettingZooParallelEnv
from marl_sf.envs.pettingzoo_aec import PettingZooAECEnv
from marl_sf.envs.registry import create_env, to_contract_env
from marl_sf.train import Trainer
from tests.adapter_checks import run_checked
from tests.contract_envs import EpisodeCounter


@pytest.mark.parametrize("make", [connect_four_v3.env, tictactoe_v3.env])
def test_classic_games_keep_the_contract_through_the_aec_adapter(make):
    assert run_checked(to_contract_env(make()), 200) >= 5


def _random_legal(env, obs, rng):
    """One legal action per agent from its action mask (inactive agents' masks may be all zero)."""
    actions = []
    for o in obs:
        legal = np.flatnonzero(o["action_mask"])
        actions.append(int(rng.choice(legal)) if legal.size else 0)
    return actions


def test_only_the_mover_is_active_and_the_loser_gets_its_reward_on_the_winning_move():
    env = to_contract_env(tictactoe_v3.env())
    assert isinstance(env, PettingZooAECEnv) and env.num_agents == 2
    assert set(env.observation_space.spaces) == {"obs", "action_mask"}
    obs, infos = env.reset(seed=3)
    counted = EpisodeCounter(infos)
    rng = np.random.default_rng(0)
    games, steps_in_game = 0, 0
    while games < 20:
        active = [info["is_active"] for info in infos]
        assert sum(active) == 1  # turn-based: exactly one mover
        mover = active.index(True)
        assert obs[mover]["action_mask"].any()
        obs, rewards, terminated, truncated, infos = env.step(_random_legal(env, obs, rng))
        counted.step(rewards, terminated, truncated, infos)
        steps_in_game += 1
        if all(terminated):
            games += 1
            assert infos[0]["final_obs"]["obs"].shape == (3, 3, 2)
            # a decisive game pays +1 / -1 on the last move, to the mover and the waiting loser alike
            assert sorted(rewards) in ([-1.0, 1.0], [0.0, 0.0])
            assert counted.returns[-1] == rewards  # only the last move pays
            assert sum(counted.lengths[-1]) == steps_in_game
            steps_in_game = 0
        else:
            assert rewards == [0.0, 0.0] and not any(terminated)


def test_classic_games_have_no_state_and_end_with_final_observations_only():
    env = PettingZooAECEnv(tictactoe_v3.env())
    assert env.state_space is None  # a critic on both boards is --critic_input=joint_obs
    obs, infos = env.reset(seed=0)
    for move in (0, 3, 1, 4, 2):  # the first player wins on the top row
        obs, rewards, terminated, truncated, infos = env.step([move, move])
    assert all(terminated) and rewards == [1.0, -1.0]
    assert all("final_obs" in info and "final_state" not in info for info in infos)


def test_aec_and_parallel_adapters_refuse_each_others_envs():
    with pytest.raises(TypeError, match="is not a PettingZoo AEC env.*PettingZooParallelEnv"):
        PettingZooAECEnv(simple_spread_v3.parallel_env())
    with pytest.raises(TypeError, match="is a PettingZoo AEC env, PettingZooParallelEnv needs a ParallelEnv"):
        PettingZooParallelEnv(connect_four_v3.env())


def test_tictactoe_trains_with_only_legal_moves(make_cfg):
    cfg = make_cfg("--env=classic_tictactoe", "--experiment=ttt", "--train_for_env_steps=4096", "--num_epochs=2")
    assert cfg.critic_input == "joint_obs"  # the catalog's default: classic games have no state()
    trainer = Trainer(cfg)
    assert trainer.train() == 0
    st = trainer.storages[0]  # slots 1..T-1 of the last rollout (slot 0 now holds the next rollout's start)
    active = st.active[1:-1]  # [T - 1, E, A]
    assert active.sum(-1).eq(1).all()  # one mover per env and step
    masks = st.obs["action_mask"][1:-1]  # [T - 1, E, A, 9]
    chosen = masks.gather(-1, st.actions[1:].long().unsqueeze(-1)).squeeze(-1)  # [T - 1, E, A]
    assert bool(chosen[active].all())  # every move played was legal
    assert trainer.agent_steps >= 4096


def test_any_pettingzoo_module_by_path_and_a_clear_error_when_it_does_not_import():
    env = create_env("pz:pettingzoo.classic.connect_four_v3")
    assert isinstance(env, PettingZooAECEnv) and env.agent_names == ["player_0", "player_1"]
    assert isinstance(create_env("pz:mpe2.simple_reference_v3"), PettingZooParallelEnv)
    with pytest.raises(ValueError, match=r"env module 'pettingzoo.classic.chess_v99' does not import"):
        create_env("pz:pettingzoo.classic.chess_v99")
