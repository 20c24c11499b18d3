"""enjoy --save_video: an MP4 that imageio reads back with the requested frames, for MPE and a gymnasium env."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import imageio.v2 as imageio
import pytest

from marl_sf.enjoy import enjoy
from marl_sf.envs.registry import register_env
from marl_sf.train import run_rl
from marl_sf.video import count_frames

SPREAD = (
    "--env=mpe_simple_spread",
    "--experiment=spread_video",
    "--num_envs=4",
    "--rollout=25",
    "--learner_torch_threads=1",
)


def test_simple_spread_video_has_the_frames_asked_for_and_the_recorded_returns(make_cfg):
    assert run_rl(make_cfg(*SPREAD, "--train_for_env_steps=1200")) == 0
    argv = (*SPREAD, "--max_num_episodes=3", "--save_video", "--video_frames=60", "--fps=12")
    cfg = make_cfg(*argv, evaluation=True)
    assert enjoy(cfg) == 0
    eval_dir = Path(cfg.train_dir) / "spread_video" / "eval"
    assert count_frames(eval_dir / "replay.mp4") == 60
    first = imageio.get_reader(eval_dir / "replay.mp4").get_data(0)
    assert first.shape[0] > 700 and first.shape[0] % 16 == 0  # the 700x700 frame plus the returns strip below
    video = json.loads((eval_dir / "report.json").read_text())["video"]
    assert video["frames"] == 60 and video["fps"] == 12 and video["file"] == "replay.mp4"
    # 60 frames: the reset and 59 steps, so two whole 25-step episodes; their returns are the env's
    assert len(video["recorded_episodes"]) == 2
    assert sorted(video["recorded_episodes"][0]) == ["agent_0", "agent_1", "agent_2"]
    assert all(-200 < r < 0 for ep in video["recorded_episodes"] for r in ep.values())


def _cartpole(render_through: bool):
    def make(full_env_name, cfg=None, env_config=None, render_mode=None):
        return gym.make("CartPole-v1", render_mode=render_mode if render_through else None)

    return make


def test_single_agent_gymnasium_env_video(make_cfg):
    register_env("cartpole_video", _cartpole(render_through=True))
    argv = ("--env=cartpole_video", "--experiment=cp", "--num_envs=2", "--learner_torch_threads=1")
    assert run_rl(make_cfg(*argv, "--train_for_env_steps=256", "--rollout=32")) == 0
    cfg = make_cfg(*argv, "--max_num_episodes=1", "--save_video", "--video_frames=30", evaluation=True)
    assert enjoy(cfg) == 0
    assert count_frames(Path(cfg.train_dir) / "cp" / "eval" / "replay.mp4") == 30


def test_env_that_ignores_render_mode_is_a_clear_error(make_cfg):
    register_env("cartpole_no_render", _cartpole(render_through=False))
    argv = ("--env=cartpole_no_render", "--experiment=cp_nr", "--num_envs=2")
    assert run_rl(make_cfg(*argv, "--train_for_env_steps=64", "--rollout=32")) == 0
    with pytest.raises(ValueError, match="must pass render_mode through"):
        enjoy(make_cfg(*argv, "--max_num_episodes=1", "--save_video", evaluation=True))


@pytest.mark.parametrize("name", ["../out.mp4", "replay.avi"])
def test_bad_video_name_is_a_clear_error(make_cfg, name):
    cfg = make_cfg(*SPREAD, "--save_video", f"--video_name={name}", evaluation=True)
    with pytest.raises(ValueError, match="--video_name"):
        enjoy(cfg)
