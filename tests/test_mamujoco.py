"""Multi-Agent MuJoCo through ``--env=mamujoco:<scenario>:<agent_conf>`` (the ``mamujoco`` extra)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("gymnasium_robotics")

from marl_sf.envs.registry import create_env  # noqa: E402
from marl_sf.envs.spec import read_env_spec  # noqa: E402
from marl_sf.train import Trainer  # noqa: E402


def test_halfcheetah_2x3_is_two_agents_with_the_robots_state_and_time_limit():
    env = create_env("mamujoco:HalfCheetah:2x3")
    try:
        spec = read_env_spec(env)
        assert spec.num_agents == 2 and spec.max_episode_steps == 1000
        assert spec.state_space is not None and spec.state_space.shape == (17,)  # the robot's full observation
        assert [s.shape for s in spec.agent_action_spaces] == [(3,), (3,)]  # each agent moves one leg's 3 joints
        obs = env.reset(seed=0)[0]
        assert len(obs) == 2 and np.all(np.isfinite(obs[0]["obs"]))
    finally:
        env.close()


def test_a_centralized_critic_trains_on_walker2d(make_cfg):
    cfg = make_cfg("--env=mamujoco:Walker2d:2x3", "--experiment=walker", "--critic_input=state", "--num_envs=2",
                   "--rollout=32", "--batch_size=128", "--train_for_env_steps=512")  # fmt: skip
    trainer = Trainer(cfg)
    assert trainer.train() == 0 and trainer.agent_steps >= 512


def test_the_mamujoco_recipe_normalizes_inputs_with_separate_networks_unless_told_otherwise(make_cfg):
    cfg = make_cfg("--env=mamujoco:HalfCheetah:2x3")
    assert cfg.normalize_input is True and cfg.actor_critic_share_weights is False
    assert cfg.initial_stddev == pytest.approx(0.1353, abs=1e-4) and cfg.lr_schedule == "linear_decay"
    cfg = make_cfg("--env=mamujoco:HalfCheetah:2x3", "--normalize_input=False", "--actor_critic_share_weights=True")
    assert cfg.normalize_input is False and cfg.actor_critic_share_weights is True


def test_an_unknown_configuration_names_the_env_and_the_form():
    with pytest.raises(ValueError, match="mamujoco:Walker2d:9x9.*9x9"):
        create_env("mamujoco:Walker2d:9x9")
    with pytest.raises(ValueError, match="--env=mamujoco:HalfCheetah:2x3"):
        create_env("mamujoco:HalfCheetah")


def _robot_pixels(frame: np.ndarray) -> int:
    """Pixels of the robot's orange and pink bodies (the floor is black and pale green: green above red)."""
    red, green = frame[..., 0].astype(int), frame[..., 1].astype(int)
    return int(np.count_nonzero(red - green > 30))


def test_frames_follow_the_robot_headless():
    import mujoco

    from marl_sf.envs.mamujoco_catalog import make_mamujoco_env

    env = make_mamujoco_env("HalfCheetah", "2x3", "mamujoco:HalfCheetah:2x3", render_mode="rgb_array")
    try:
        env.reset(seed=0)
        try:
            at_start = _robot_pixels(env.render())
        except (ImportError, RuntimeError, mujoco.FatalError) as exc:  # no EGL, OSMesa or display
            pytest.skip(f"no OpenGL library for MuJoCo's off-screen rendering here: {exc}")
        robot = env.single_agent_env.unwrapped
        qpos = robot.data.qpos.copy()
        qpos[0] += 30.0  # 30 m further on: out of the picture of a camera that stays where it started
        robot.set_state(qpos, robot.data.qvel.copy())
        far_on = _robot_pixels(env.render())
        assert at_start > 1000 and far_on > at_start / 2
    finally:
        env.close()
