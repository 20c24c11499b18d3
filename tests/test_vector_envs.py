"""The vectorized-env path without VMAS: examples.vector_env through VectorEnvRunner, the sampler and a training run;
contract and non-finite errors; episode progress per env; Box actions mapped per agent."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from examples.vector_env import VectorCueMatchEnv, make_vector_cue_match
from marl_sf.algo.env_check import EnvContractError
from marl_sf.algo.vector_runner import VectorEnvRunner
from marl_sf.envs.actions import BoxBounds
from marl_sf.envs.episode_progress import EPISODE_PROGRESS_KEY, VectorEpisodeProgress
from marl_sf.envs.registry import register_env
from marl_sf.train import Trainer
from marl_sf.utils.finite import NonFiniteError


@pytest.fixture(autouse=True)
def _register():
    register_env("vector_cue_match", make_vector_cue_match)


def test_training_on_a_vectorized_env_learns(make_cfg):
    cfg = make_cfg("--env=vector_cue_match", "--num_envs=32", "--rollout=16", "--train_for_env_steps=40000",
                   "--experiment=vcm", "--learning_rate=1e-3")  # fmt: skip
    trainer = Trainer(cfg)
    assert isinstance(trainer.sampler.runner, VectorEnvRunner)
    assert trainer.train() == 0
    # episodes of 8, 9 or 10 steps: random play earns a quarter of them (about 2.25), a perfect policy all
    assert trainer.logger.mean_agent_return() > 4.0


def test_sampler_records_final_observations_of_envs_that_end_at_different_times(make_cfg):
    cfg = make_cfg("--env=vector_cue_match", "--num_envs=6", "--rollout=9", "--value_bootstrap=True",
                   "--experiment=vcm_final")  # fmt: skip
    trainer = Trainer(cfg)
    try:
        stats = trainer.sampler.collect()
        st = trainer.storages[0]
        # env e ends after 8 + e % 3 steps: envs 0 and 3 at step 7 (0-based), 1 and 4 at step 8
        assert st.truncated[7, [0, 3]].all() and not st.truncated[7, [1, 2, 4, 5]].any()
        assert st.truncated[8, [1, 4]].all()
        assert st.episode_start[8, [0, 3]].all() and not st.episode_start[8, [1, 2, 4, 5]].any()
        assert len(stats.episode_returns) == 4
        assert stats.agent_steps == 6 * 9 * 2
        # truncated episodes are bootstrapped from V(final observation), not V(obs_t) (the fallback) nor left at 0
        bootstrapped = st.bootstrap_values[7, [0, 3]]  # [2, A]
        assert torch.isfinite(bootstrapped).all() and (bootstrapped != 0).all()
        assert not torch.equal(bootstrapped, st.values[7, [0, 3]])
    finally:
        trainer.close()


class _BrokenVectorEnv(VectorCueMatchEnv):
    def __init__(self, fault: str):
        super().__init__(4)
        self.fault = fault

    def step(self, actions):
        obs, rewards, terminated, truncated, infos = super().step(actions)
        if self.fault == "shape":
            obs = {"obs": obs["obs"][:, :1]}
        elif self.fault == "dtype":
            terminated = terminated.float()
        elif self.fault == "nan":
            rewards = rewards.clone()
            rewards[2, 1] = float("nan")
        return obs, rewards, terminated, truncated, infos


@pytest.mark.parametrize(
    ("fault", "error", "words"),
    [("shape", EnvContractError, "has shape (4, 1, 4), expected (4, 2, 4)"),
     ("dtype", EnvContractError, "terminated has dtype torch.float32"),
     ("nan", NonFiniteError, "non-finite reward")],
)  # fmt: skip
def test_a_broken_vectorized_env_fails_with_a_clear_error(fault, error, words):
    runner = VectorEnvRunner(_BrokenVectorEnv(fault), with_state=False, env_name="broken")
    runner.reset(seed=0)
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")) as info:
        runner.step_async(0, torch.zeros(4, 2, dtype=torch.int64))
    assert "'broken'" in str(info.value)


def test_episode_progress_counts_per_env_and_reaches_one_in_the_final_observation():
    env = VectorEpisodeProgress(VectorCueMatchEnv(3, episode_len=2), max_episode_steps=4)
    obs, _ = env.reset(seed=0)
    assert obs[EPISODE_PROGRESS_KEY].shape == (3, 2, 1) and (obs[EPISODE_PROGRESS_KEY] == 0).all()
    actions = torch.zeros(3, 2, dtype=torch.int64)
    env.step(actions)
    obs, _, _, _, infos = env.step(actions)  # env 0 ends its 2-step episode, envs 1 and 2 go on
    assert infos["_final_obs"].tolist() == [True, False, False]
    assert infos["final_obs"][EPISODE_PROGRESS_KEY][0, 0, 0] == pytest.approx(0.5)
    assert obs[EPISODE_PROGRESS_KEY][:, 0, 0].tolist() == pytest.approx([0.0, 0.5, 0.5])


def test_box_actions_map_the_unit_box_onto_each_agents_bounds():
    spaces = (gym.spaces.Box(-2.0, 2.0, (2,), np.float32), gym.spaces.Box(0.0, 1.0, (1,), np.float32))
    box = BoxBounds(spaces)
    actions = torch.tensor([[[-1.0, 0.5], [0.0, 0.0]], [[3.0, -3.0], [1.0, 7.0]]])  # [E=2, A=2, d_max=2]
    out = box(actions)
    assert out[0, 0].tolist() == pytest.approx([-2.0, 1.0])
    assert out[0, 1, 0].item() == pytest.approx(0.5)  # the middle of [0, 1]
    assert out[1, 0].tolist() == pytest.approx([2.0, -2.0])  # clipped to the unit box first
    assert out[1, 1, 0].item() == pytest.approx(1.0)


def test_a_vectorized_state_of_the_wrong_shape_is_named_at_the_reset():
    class _BadState(VectorCueMatchEnv):
        def state(self):
            return super().state()[:, :4]  # [E, 4] instead of [E, A * n] = [E, 8]

    runner = VectorEnvRunner(_BadState(4), with_state=True, env_name="bad_state")
    with pytest.raises(EnvContractError, match=r"state\(\) has shape \(4, 4\), expected \(4, 8\)"):
        runner.reset(seed=0)
