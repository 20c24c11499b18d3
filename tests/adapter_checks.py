"""Drive a marl_sf contract env (one of our adapters) with random legal actions and check every reset and step
against the contract with marl_sf's own checks (``marl_sf.algo.env_check``): what PettingZoo's ``api_test`` does for
PettingZoo envs, done on what marl_sf hands its sampler."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from marl_sf.algo.env_check import check_reset, check_state, check_step


def _random_actions(spaces: list[gym.Space], obs: list[dict], rng: np.random.Generator) -> list:
    """One action per agent from its own action space: a legal one where the observation carries an action mask."""
    actions = []
    for space, o in zip(spaces, obs, strict=True):
        if "action_mask" in o and isinstance(space, gym.spaces.Discrete):
            legal = np.flatnonzero(o["action_mask"])
            actions.append(int(rng.choice(legal)) if legal.size else 0)
        else:
            actions.append(space.sample())
    return actions


def run_checked(env, steps: int, seed: int = 0) -> int:
    """Reset and step ``env`` ``steps`` times, checking lists, spaces and the state on every call, and that every
    episode end reports its final observation; returns the number of episodes that ended. Closes ``env``."""
    rng = np.random.default_rng(seed)
    spaces = list(getattr(env, "agent_action_spaces", None) or [env.action_space] * env.num_agents)
    for i, space in enumerate(spaces):
        space.seed(seed + i)
    with_state = getattr(env, "state_space", None) is not None
    try:
        obs, infos = env.reset(seed=seed)
        check_reset("env", env.num_agents, env.observation_space, obs, infos)
        episodes = 0
        for _ in range(steps):
            result = env.step(_random_actions(spaces, obs, rng))
            check_step("env", env.num_agents, env.observation_space, result)
            obs, _, terminated, truncated, infos = result
            if with_state:
                check_state("env", env.state_space, env.state())
            if all(te or tr for te, tr in zip(terminated, truncated, strict=True)):
                assert all("final_obs" in info for info in infos), "an episode ended without its final observation"
                episodes += 1
        return episodes
    finally:
        env.close()
