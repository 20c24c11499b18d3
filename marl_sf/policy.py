"""Use a trained policy in your own loop: ``load_policy(experiment)`` gives a ``Policy`` that acts for a
PettingZoo-style env's agents by name, one step at a time (docs/using_policies.md).

    policy = marl_sf.load_policy("train_dir/simple_spread_mappo")
    env = policy.make_env()                      # the env as the experiment registered it (PettingZoo Parallel)
    obs, _ = env.reset(seed=0)
    while env.agents:
        obs, rewards, terminations, truncations, infos = env.step(policy.act(obs))

Observations go through the same preprocessing as in training (``--obs_subtract_mean`` and ``--obs_scale``, the
one-hot agent id, the model's running normalization); action masks in the observations are honoured; recurrent
states are kept per agent until ``reset``. Checkpoints load as weights only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from marl_sf.algo.storage import torch_dtype
from marl_sf.envs.actions import to_env_actions
from marl_sf.envs.pettingzoo import pz_obs_to_dict
from marl_sf.envs.registry import registry_entry
from marl_sf.envs.spec import EnvSpec
from marl_sf.standalone_actor import StandaloneActor


class Policy:
    """The trained policies of an experiment, acting for one env's agents (each agent by its policy).

    Args:
        cfg: the experiment's config.
        specs: one ``PolicySpec`` per policy (which agents each controls).
        models: one actor-critic per policy, weights loaded.
        env_spec: the env's shape (agent names in the env's order).
        deterministic: the most likely action (True) or a sample of the policy's distribution.
    """

    def __init__(self, cfg, specs, models, env_spec: EnvSpec, deterministic: bool = True):
        self.cfg, self.specs, self.models, self.deterministic = cfg, specs, models, deterministic
        self.agent_names = list(env_spec.agent_names)
        self.device = next(models[0].parameters()).device
        self.actors = [StandaloneActor(s, m, cfg.obs_scale, deterministic, cfg.obs_subtract_mean).to(self.device)
                       for s, m in zip(specs, models, strict=True)]  # fmt: skip
        self.rnn = [torch.zeros(len(s.agent_indices), a.rnn_state_size, device=self.device)
                    for s, a in zip(specs, self.actors, strict=True)]  # [A_p, R] per policy  # fmt: skip
        self.policy_of = {}  # agent name -> (policy index, position among its agents)
        for p, spec in enumerate(specs):
            for j, i in enumerate(spec.agent_indices):
                self.policy_of[self.agent_names[i]] = (p, j)

    def make_env(self, render_mode: str | None = None) -> Any:
        """The env as the experiment's registered maker builds it (a PettingZoo env for the PettingZoo catalog, with
        the preprocessing training used), for your own loop."""
        return registry_entry(self.cfg.env).make_env_func(self.cfg.env, self.cfg, None, render_mode)

    def reset(self, agents: list[str] | None = None) -> None:
        """Forget the recurrent state of ``agents`` (all agents: None), as at an episode start."""
        for name in self.agent_names if agents is None else agents:
            p, j = self._policy(name)
            self.rnn[p][j] = 0.0

    def act(self, observations: dict[str, Any]) -> dict[str, Any]:
        """Actions for the agents in ``observations`` (``{agent: observation}``, PettingZoo's layout: an array, or a
        dict with ``"observation"``/``"obs"`` and ``"action_mask"``), in each agent's own action space; agents not
        in ``observations`` do not act and keep their recurrent state.

        Raises:
            KeyError: an agent name the experiment's env does not have.
            ValueError: an observation misses a key the model reads.
        """
        for name in observations:
            self._policy(name)  # KeyError for a name the env does not have
        actions = {}
        with torch.no_grad():
            for p, (spec, actor) in enumerate(zip(self.specs, self.actors, strict=True)):
                names = [self.agent_names[i] for i in spec.agent_indices]
                if not any(n in observations for n in names):
                    continue
                inputs = self._inputs(p, [observations.get(n) for n in names])  # [A_p, ...] each
                chosen, _, *new_rnn = actor(*inputs)
                chosen = chosen.cpu().numpy()  # [A_p, ...]
                for j, name in enumerate(names):
                    if name in observations:
                        actions[name] = _env_action(spec.action_space, chosen[j])
                        if new_rnn:
                            self.rnn[p][j] = new_rnn[0][j]
        return actions

    def _policy(self, name: str) -> tuple[int, int]:
        if name not in self.policy_of:
            raise KeyError(f"agent {name!r} is not an agent of {self.cfg.env!r}; its agents are {self.agent_names}")
        return self.policy_of[name]

    def _inputs(self, p: int, observations: list) -> list[torch.Tensor]:
        """The actor's inputs for all ``A_p`` agents of a policy (``input_names`` order, ``[A_p, ...]`` each): zeros
        for absent agents, so that sampling draws as in evaluation, which acts for every agent."""
        spec, actor = self.specs[p], self.actors[p]
        dicts = [pz_obs_to_dict(obs) if obs is not None else None for obs in observations]
        inputs = []
        for key, space in actor.obs_spaces.items():
            rows = []
            for obs in dicts:
                if obs is not None and obs.get(key) is None:
                    raise ValueError(f"the observation has no key {key!r}, which the policy reads (it has "
                                     f"{sorted(obs)})")  # fmt: skip
                rows.append(np.zeros(space.shape) if obs is None else np.asarray(obs[key]))
            inputs.append(torch.as_tensor(np.stack(rows), dtype=torch_dtype(space), device=self.device))
        if actor.num_env_agents:
            inputs.append(torch.tensor(spec.agent_indices, device=self.device))  # [A_p]
        if actor.rnn_state_size:
            inputs.append(self.rnn[p])  # [A_p, R]
        return inputs


def _env_action(space, action: np.ndarray) -> Any:
    """One agent's action from the actor (``StandaloneActor``'s layout) as its env takes it (a Python int for
    Discrete, Box actions in the space's dtype)."""
    if isinstance(space, gym.spaces.Box):  # on the bounds already; clipped again after a cast to float64 bounds
        return np.clip(action.astype(space.dtype), space.low, space.high)
    env_action = to_env_actions(space, action[None])[0]
    return int(env_action) if np.ndim(env_action) == 0 else env_action


def load_policy(path: str | Path, device: str = "cpu", deterministic: bool = True, kind: str = "latest") -> Policy:
    """The trained policies of an experiment folder (``train_dir/<experiment>``) with the weights of their ``kind``
    (``latest`` or ``best``) checkpoints, on ``device`` (``cpu`` or ``gpu``). A registered custom env or model must
    be registered first, as the training script did.

    Raises:
        FileNotFoundError: no experiment (``config.json``) there, or a policy without a checkpoint.
        UnsafeCheckpointError: a checkpoint would run code when unpickled (nothing in it has run).
    """
    from marl_sf.enjoy import load_policies
    from marl_sf.experiment import probe_env_spec
    from marl_sf.train import parse_args

    exp = Path(path)
    config = exp / "config.json"
    if not config.is_file():
        raise FileNotFoundError(f"{exp} is not an experiment folder (no config.json): give train_dir/<experiment>")
    env = json.loads(config.read_text())["env"]
    argv = [f"--env={env}", f"--train_dir={exp.parent}", f"--experiment={exp.name}", f"--load_checkpoint_kind={kind}"]
    cfg = parse_args([*argv, f"--device={device}"], evaluation=True)
    env_spec = probe_env_spec(cfg)
    specs, models, _ = load_policies(cfg, env_spec)
    return Policy(cfg, specs, models, env_spec, deterministic)
