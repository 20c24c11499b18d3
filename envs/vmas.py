"""VMAS (the Vectorized Multi-Agent Simulator, ``pip install marl-sf[vmas]``) as vectorized envs.

Every VMAS scenario is registered as ``vmas_<scenario>`` (``vmas_navigation``, ``vmas_balance``,
``vmas_transport``, the MPE ports such as ``vmas_simple_spread``, ...) when the ``vmas`` package is installed.
VMAS is GPLv3 and an optional extra: marl_sf imports it only through this module and copies none of its code.

``VmasEnv`` adapts ``vmas.make_env`` to the vectorized contract (``marl_sf.envs.vector``): observations
``{"obs": [E, A, d]}`` on VMAS's device, auto-reset of finished envs with their final observations, truncation at
``--vmas_max_steps``, Discrete or Box actions (``--vmas_continuous_actions``), agents with their own observation or
action sizes as agent groups (padded transport spaces, ``marl_sf.envs.agent_spaces``), and the joint observation
(every agent's observation, concatenated) as the global state. ``--num_envs`` is VMAS's batch of envs.

Resets: VMAS 1.5 resets either every env in one call or one env per ``reset_at(index)`` call. When every env is
done (a time limit with envs started together) the adapter resets them in one call; otherwise it calls
``reset_at`` for each finished env and then reads every env's observation once (benchmarks/README.md measures
scenarios whose envs end at different times).
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from marl_sf.envs.agent_spaces import transport_action_space, transport_obs_space
from marl_sf.envs.registry import recipe_defaults, register_env
from marl_sf.utils.attr_dict import AttrDict
from marl_sf.utils.types import str2bool

VMAS_RECIPE = dict(
    num_envs=256,
    rollout=32,
    num_minibatches=8,
    num_epochs=8,
    learning_rate=1e-3,
    normalize_input=True,
    exploration_loss_coeff=0.0,
    critic_input="state",
    actor_critic_share_weights=False,
    value_bootstrap=True,
    worker_num_splits=1,
    torch_threads=min(os.cpu_count() or 1, 8),  # inference shares the main process with the env, not with workers
    train_for_env_steps=5_000_000,
)
"""Defaults for VMAS scenarios: 256 envs per batched step, MAPPO (separate actor and critic, the critic on the joint
observation), input normalization, no entropy bonus (Gaussian actions, as BenchMARL), 64 gradient steps per rollout of
8,192 env-steps, truncations bootstrapped from the final observation; chosen on vmas_navigation by 60-second runs
(benchmarks/README.md, "VMAS")."""


def gymnasium_space(space) -> gym.Space:
    """A ``gym`` (VMAS's) Box or Discrete space as the gymnasium space marl_sf uses.

    Raises:
        ValueError: another kind of space (MultiDiscrete actions: use VMAS's default Discrete actions).
    """
    kind = type(space).__name__
    if kind == "Box":
        return gym.spaces.Box(space.low, space.high, space.shape, np.float32)
    if kind == "Discrete":
        return gym.spaces.Discrete(int(space.n))
    raise ValueError(f"VMAS space {space} is not supported by marl_sf's VMAS adapter (Box and Discrete only)")


class VmasEnv:
    """E VMAS envs of one scenario as a vectorized contract env (see the module docstring).

    Args:
        scenario: a VMAS scenario name (``vmas.scenarios``, ``vmas.mpe_scenarios``).
        num_envs: E.
        device: VMAS's device (``cpu``, ``cuda``).
        continuous_actions: Box actions (else VMAS's Discrete actions).
        max_steps: episodes are truncated after this many steps.
        seed: VMAS's seed.
        scenario_kwargs: the scenario's own options (``n_agents``, ...).

    Raises:
        ValueError: a scenario whose agents' observations are not vectors (dict observations).
    """

    is_vector_env = True

    def __init__(self, scenario: str, num_envs: int, device: str = "cpu", continuous_actions: bool = True,
                 max_steps: int = 100, seed: int | None = None, scenario_kwargs: dict | None = None):  # fmt: skip
        import vmas

        self.env = vmas.make_env(scenario, num_envs=num_envs, device=device, continuous_actions=continuous_actions,
                                 max_steps=max_steps, seed=seed, terminated_truncated=True,
                                 **(scenario_kwargs or {}))  # fmt: skip
        self.num_envs, self.device, self.max_episode_steps = num_envs, torch.device(device), max_steps
        self.agent_names = [agent.name for agent in self.env.agents]
        self.num_agents = len(self.agent_names)
        obs_spaces = [gymnasium_space(s) for s in self.env.observation_space]
        if any(len(s.shape) != 1 for s in obs_spaces):
            raise ValueError(f"vmas_{scenario}: marl_sf's adapter takes vector observations, got {obs_spaces}")
        self.obs_sizes = [s.shape[0] for s in obs_spaces]
        self._unpadded = len(set(self.obs_sizes)) == 1  # the joint observation is then a view of the stacked ones
        self.agent_observation_spaces = [gym.spaces.Dict({"obs": s}) for s in obs_spaces]
        self.agent_action_spaces = [gymnasium_space(s) for s in self.env.action_space]
        self.observation_space = transport_obs_space(self.agent_observation_spaces, self.agent_names)
        self.action_space = transport_action_space(self.agent_action_spaces, self.agent_names)
        self.state_space = gym.spaces.Box(-np.inf, np.inf, (sum(self.obs_sizes),), np.float32)
        self.action_sizes = [s.shape[0] if isinstance(s, gym.spaces.Box) else None for s in self.agent_action_spaces]
        self._joint = None  # [E, G] the joint observation of the last step

    def _obs(self, per_agent: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """VMAS's ``A`` tensors ``[E, d_i]`` -> ``{"obs": [E, A, d_max]}`` (smaller ones zero-padded); keeps the
        joint observation ``[E, sum d_i]`` for ``state()``."""
        d = self.observation_space["obs"].shape[0]
        padded = [o if o.shape[1] == d else torch.nn.functional.pad(o, (0, d - o.shape[1])) for o in per_agent]
        obs = torch.stack(padded, dim=1)  # A x [E, d_max] -> [E, A, d_max]
        self._joint = obs.view(self.num_envs, -1) if self._unpadded else torch.cat(per_agent, dim=1)  # [E, sum d_i]
        return {"obs": obs}

    def reset(self, seed: int | None = None, options: dict | None = None):
        """Reset every env (VMAS reseeded with ``seed`` when given); returns ``({"obs": [E, A, d]}, {})``."""
        if seed is not None:
            self.env.seed(seed)
        return self._obs(self.env.reset()), {}

    def step(self, actions: torch.Tensor):
        """Step all envs with ``actions`` (``[E, A]`` Discrete or ``[E, A, d_max]`` Box) and reset the finished
        ones; returns ``(obs, rewards [E, A], terminated [E, A], truncated [E, A], infos)``."""
        per_agent = [actions[:, i] if d is None else actions[:, i, :d] for i, d in enumerate(self.action_sizes)]
        obs, rewards, terminated, truncated, _ = self.env.step(per_agent)
        done = terminated | truncated  # [E]
        infos: dict[str, Any] = {}
        next_obs = self._obs(obs)
        if bool(done.any()):
            infos = {"final_obs": next_obs, "_final_obs": done, "final_state": self._joint}
            next_obs = self._obs(self._reset_done(done))
        a = self.num_agents
        flags = [f.unsqueeze(1).expand(-1, a) for f in (terminated, truncated)]  # [E] -> [E, A]
        return next_obs, torch.stack(rewards, dim=1), *flags, infos

    def _reset_done(self, done: torch.Tensor) -> list[torch.Tensor]:
        """Reset the envs where ``done [E]``: all in one call when every env is done, else one ``reset_at`` each;
        returns every env's observation afterwards."""
        if bool(done.all()):
            return self.env.reset()
        for index in torch.nonzero(done).flatten().tolist():
            self.env.reset_at(index, return_observations=False)
        return self.env.get_from_scenario(get_observations=True, get_rewards=False, get_infos=False,
                                          get_dones=False)[0]  # fmt: skip

    def state(self) -> torch.Tensor:
        """The joint observation ``[E, sum of the agents' observation sizes]`` after the last reset or step."""
        return self._joint

    def render(self):
        """An RGB frame of env 0 (VMAS's pyglet renderer)."""
        return self.env.render(mode="rgb_array")

    def close(self) -> None:
        """Nothing to release (VMAS holds tensors only)."""


def vmas_maker(scenario: str):
    """The ``register_env`` maker of ``vmas_<scenario>``: ``env_config.vector_num_envs`` envs (else
    ``--num_envs``) on ``--vmas_device`` with the ``--vmas_*`` options."""

    def make(full_env_name: str, cfg=None, env_config=None, render_mode: str | None = None):
        cfg = cfg or AttrDict()
        num_envs = (env_config or {}).get("vector_num_envs") or cfg.get("num_envs", 1)
        return VmasEnv(
            scenario,
            num_envs=num_envs,
            device=vmas_device(cfg),
            continuous_actions=cfg.get("vmas_continuous_actions", True),
            max_steps=cfg.get("vmas_max_steps", 100),
            seed=cfg.get("seed"),
            scenario_kwargs=scenario_kwargs(cfg.get("vmas_scenario_kwargs", "{}")),
        )

    return make


def vmas_device(cfg) -> str:
    """``--vmas_device``; ``auto``: ``cuda`` with ``--device=gpu`` when CUDA is available, else ``cpu``."""
    device = cfg.get("vmas_device", "auto")
    if device == "auto":
        return "cuda" if cfg.get("device") == "gpu" and torch.cuda.is_available() else "cpu"
    return device


def scenario_kwargs(text: str) -> dict:
    """``--vmas_scenario_kwargs``: a JSON object of the scenario's own options.

    Raises:
        ValueError: not a JSON object; the message shows the expected form.
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        value = exc
    if not isinstance(value, dict):
        raise ValueError(
            f"--vmas_scenario_kwargs={text!r} is not a JSON object: give the scenario's options as "
            """'{"n_agents": 3, "shared_rew": false}'"""
        )
    return value


def add_vmas_args(_env: str, p: argparse.ArgumentParser, evaluation: bool = False) -> None:
    """The VMAS envs' own options."""
    p.add_argument("--vmas_max_steps", default=100, type=int, help="steps per episode (then truncation)")
    p.add_argument("--vmas_continuous_actions", default=True, type=str2bool, help="Box actions (else Discrete)")
    p.add_argument("--vmas_device", default="auto", help="VMAS's device: cpu, cuda, or auto (cuda with --device=gpu)")
    p.add_argument(
        "--vmas_scenario_kwargs", default="{}", help="""the scenario's own options as JSON, e.g. '{"n_agents": 3}'"""
    )


def register_vmas_envs() -> list[str]:
    """Register ``vmas_<scenario>`` for every VMAS scenario (none when ``vmas`` is not installed); returns the names."""
    try:
        import vmas
    except ImportError:
        return []
    names = []
    for scenario in [*vmas.scenarios, *vmas.mpe_scenarios]:
        names.append(f"vmas_{scenario}")
        register_env(names[-1], vmas_maker(scenario), add_vmas_args, recipe_defaults(VMAS_RECIPE))
    return names


VMAS_ENVS = register_vmas_envs()
