"""Reference returns of uniformly random play on a registered env, per agent and per agent group.

    python benchmarks/random_play.py --env=mpe_simple_speaker_listener --episodes=200

Each agent samples from its own action space (legal moves only where the env has an ``action_mask``).
Prints the mean episode return with its 95% confidence interval per agent and per group of agents
(``per_group`` names), the figures trained policies are compared with in README.md and docs/results.md.
"""

from __future__ import annotations

import sys

import gymnasium as gym
import numpy as np
import torch

from marl_sf.algo.policy_mapping import group_name
from marl_sf.algo.runners import make_vector_env
from marl_sf.envs.registry import create_env
from marl_sf.envs.spec import env_agent_names, read_env_spec
from marl_sf.experiment import probe_env_spec
from marl_sf.report import return_stats
from marl_sf.train import parse_args


def random_action(space, obs: dict, rng: np.random.Generator):
    """A uniformly random action of ``space``, legal under ``obs["action_mask"]`` when there is one."""
    mask = obs.get("action_mask")
    if mask is not None and np.asarray(mask).any():
        return int(rng.choice(np.flatnonzero(mask)))
    return space.sample()


def vector_random_returns(cfg, episodes: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """``(agent names, returns [episodes, A])`` of random play on a vectorized ``cfg.env``: ``episodes`` envs play
    one episode each (the first of every env, so short episodes are not over-counted); Box actions uniform in each
    agent's bounds, Discrete uniform."""
    env = make_vector_env(cfg, episodes)
    spec = read_env_spec(env)
    device = getattr(env, "device", torch.device("cpu"))
    generator = torch.Generator(device).manual_seed(seed)

    def sample(space) -> torch.Tensor:  # [E] or [E, d_max] for one agent
        if isinstance(space, gym.spaces.Discrete):
            return torch.randint(0, int(space.n), (episodes,), generator=generator, device=device)
        d = spec.action_space.shape[0]  # the transport size: smaller Boxes read their first columns
        low, high = torch.zeros(d, device=device), torch.zeros(d, device=device)
        low[: space.shape[0]], high[: space.shape[0]] = torch.as_tensor(space.low), torch.as_tensor(space.high)
        return low + (high - low) * torch.rand(episodes, d, generator=generator, device=device)

    env.reset(seed=seed)
    returns = torch.zeros(episodes, spec.num_agents, dtype=torch.float64, device=device)
    running = torch.ones(episodes, dtype=torch.bool, device=device)  # [E] still in its first episode
    while bool(running.any()):
        actions = torch.stack([sample(s) for s in spec.agent_action_spaces], dim=1)  # [E, A, ...]
        _, rewards, terminated, truncated, _ = env.step(actions)
        returns += rewards * running.unsqueeze(1)
        running &= ~(terminated | truncated).all(dim=1)
    env.close()
    return list(spec.agent_names), returns.cpu().numpy()


def random_returns(cfg, episodes: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """``(agent names, returns [episodes, A])`` of random play on ``cfg.env``."""
    if probe_env_spec(cfg).vectorized:
        return vector_random_returns(cfg, episodes, seed)
    env = create_env(cfg.env, cfg=cfg)
    names = list(env_agent_names(env))
    spaces = getattr(env, "agent_action_spaces", None) or [env.action_space] * env.num_agents
    for i, space in enumerate(spaces):
        space.seed(seed + i)
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    returns, episode_return = [], np.zeros(env.num_agents)
    while len(returns) < episodes:
        actions = [random_action(space, o, rng) for space, o in zip(spaces, obs, strict=True)]
        obs, rewards, terminated, truncated, _ = env.step(actions)
        episode_return += rewards
        if all(te or tr for te, tr in zip(terminated, truncated, strict=True)):  # the env has reset itself
            returns.append(episode_return.copy())
            episode_return[:] = 0.0
    env.close()
    return names, np.array(returns)


def main() -> int:
    """Print random play's returns per agent and per group."""
    argv = sys.argv[1:]
    episodes = next((int(a.split("=", 1)[1]) for a in argv if a.startswith("--episodes=")), 100)
    cfg = parse_args([a for a in argv if not a.startswith("--episodes=")])
    names, returns = random_returns(cfg, episodes)
    print(f"random play on {cfg.env}, {episodes} episodes: mean episode return [95% CI]")
    for i, name in enumerate(names):
        s = return_stats(returns[:, i])
        print(f"  {name}: {s['return_mean']:.2f} [{s['return_ci95'][0]:.2f}, {s['return_ci95'][1]:.2f}]")
    for group in dict.fromkeys(group_name(n) for n in names):
        cols = [i for i, n in enumerate(names) if group_name(n) == group]
        s = return_stats(returns[:, cols].mean(axis=1))
        print(f"  group {group}: {s['return_mean']:.2f} [{s['return_ci95'][0]:.2f}, {s['return_ci95'][1]:.2f}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
