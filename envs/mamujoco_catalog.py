"""``--env=mamujoco:<scenario>:<agent_conf>``: Multi-Agent MuJoCo (Peng et al. 2021, "FACMAC"; Gymnasium-Robotics'
``mamujoco_v1``), e.g. ``mamujoco:HalfCheetah:2x3`` or ``mamujoco:Walker2d:2x3``: a PettingZoo Parallel env whose
agents each move some of the robot's joints, with the robot's full state as ``state()`` (for a centralized critic).

Needs the ``mamujoco`` extra (``pip install marl-sf[mamujoco]``: gymnasium-robotics and mujoco). Episodes end when
the robot falls (Walker2d, Hopper, Ant) or after the single-agent task's time limit (1,000 steps), which the maker
gives the adapter as ``max_cycles`` so that a time-aware critic sees the episode's progress.
"""

from __future__ import annotations

import functools
import math
import os

from marl_sf.envs.registry import EnvRegistryEntry, recipe_defaults
from marl_sf.utils.extras import require

MAMUJOCO_PREFIX = "mamujoco:"

MAMUJOCO_RECIPE = dict(
    normalize_input=True,
    actor_critic_share_weights=False,
    exploration_loss_coeff=0.0,
    num_epochs=10,
    num_minibatches=8,
    initial_stddev=math.exp(-2.0),
    learning_rate=1e-4,
    lr_schedule="linear_decay",
)
"""Defaults for MaMuJoCo tasks: CleanRL's PPO layout for MuJoCo (``ppo_continuous_action.py``): observations
normalized by their running mean and variance (joint angles, velocities and contact forces differ in scale by orders
of magnitude), separate actor and critic networks, no entropy bonus, 10 epochs of 8 minibatches over each rollout,
and the learning rate decaying linearly to 0 over the budget; with rl-baselines3-zoo's initial action standard
deviation for MuJoCo PPO (e^-2, ``log_std_init=-2``) and a learning rate of 1e-4. The runs that chose it:
docs/results.md, "Learning panel against published results"."""


def mamujoco_entry(env_name: str) -> EnvRegistryEntry | None:
    """A registry entry for ``mamujoco:<scenario>:<agent_conf>`` names (None for other names).

    Raises:
        ValueError: the name lacks the scenario or the agent configuration (the message gives the form).
        MissingExtraError: gymnasium-robotics is not installed.
    """
    if not env_name.startswith(MAMUJOCO_PREFIX):
        return None
    scenario, _, agent_conf = env_name[len(MAMUJOCO_PREFIX) :].partition(":")
    if not scenario or not agent_conf:
        raise ValueError(f"--env={env_name}: give a scenario and an agent configuration, as in "
                         "--env=mamujoco:HalfCheetah:2x3 or --env=mamujoco:Walker2d:2x3")  # fmt: skip
    require("gymnasium_robotics", "mamujoco", f"--env={env_name}")
    return EnvRegistryEntry(
        functools.partial(make_mamujoco_env, scenario, agent_conf),
        override_default_params_func=recipe_defaults(MAMUJOCO_RECIPE),
    )


def make_mamujoco_env(scenario: str, agent_conf: str, full_env_name, cfg=None, env_config=None, render_mode=None):
    """``mamujoco_v1.parallel_env(scenario, agent_conf, render_mode=...)`` with ``max_cycles`` set to its task's time
    limit and ``state_space`` to the space of its ``state()`` (the single-agent task's observation); a maker that
    pickles by reference (env workers and Ray actors rebuild it). Frames (``render_mode="rgb_array"``) come from the
    model's ``track`` camera, which follows the robot; without a display, through EGL unless ``MUJOCO_GL`` names
    another backend.

    Raises:
        ValueError: MaMuJoCo does not know the scenario or configuration (its own message, with the env name).
    """
    from gymnasium_robotics import mamujoco_v1

    if render_mode is not None and not os.environ.get("DISPLAY"):
        os.environ.setdefault("MUJOCO_GL", "egl")  # headless: MuJoCo's off-screen backend (glfw needs a display)
    try:
        # the models' "track" camera follows the robot; Gymnasium's default free camera stays where it starts
        env = mamujoco_v1.parallel_env(scenario, agent_conf, render_mode=render_mode, camera_name="track")
    except Exception as exc:  # noqa: BLE001 - MaMuJoCo raises a bare Exception for an unknown configuration
        raise ValueError(f"--env={full_env_name}: MaMuJoCo cannot build {scenario!r} with agent configuration "
                         f"{agent_conf!r} ({exc})") from exc  # fmt: skip
    spec = env.single_agent_env.spec
    env.max_cycles = spec.max_episode_steps if spec is not None else None
    env.state_space = env.single_agent_env.observation_space  # state() is the task's observation; no space is set
    return env
