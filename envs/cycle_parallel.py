"""A faster AEC-to-Parallel conversion for envs whose agents all act once per cycle (pistonball, cooperative_pong).

PettingZoo's ``aec_to_parallel`` calls ``last()`` before every agent's move and throws the observation away.
For image envs that observation is the expensive part (pistonball copies a 457x120x3 crop of its screen, then
SuperSuit reduces and resizes it), so every observation was built twice per step. ``CycleToParallel`` steps the
same way and builds each observation once (the speed-up: benchmarks/README.md, ``benchmarks/image_env_step.py``).
"""

from __future__ import annotations

from collections import defaultdict

from pettingzoo.utils.conversions import aec_to_parallel_wrapper


class CycleToParallel(aec_to_parallel_wrapper):
    """PettingZoo's ``aec_to_parallel_wrapper`` whose ``step`` skips the discarded ``last()`` call per agent.

    Same contract: ``step(actions)`` takes one action per live agent, moves the AEC env one full cycle in agent
    order and returns ``(observations, rewards, terminations, truncations, infos)`` dicts over the agents that were
    live at the start of the step; ``reset``, spaces and ``state()`` are inherited.

    Raises:
        AssertionError: (from PettingZoo's wrapper) an env not marked ``is_parallelizable``, or agents that do not
            act in a cycle.
    """

    def step(self, actions):
        """One cycle: each live agent acts once, in ``aec_env.agents`` order; rewards are summed over the cycle."""
        aec = self.aec_env
        rewards = defaultdict(int)
        for agent in aec.agents:
            if agent != aec.agent_selection:
                raise AssertionError(f"expected agent {agent}, got {aec.agent_selection}: agents must act in a cycle")
            aec.step(actions[agent])
            for live in aec.agents:
                rewards[live] += aec.rewards[live]
        terminations, truncations, infos = dict(aec.terminations), dict(aec.truncations), dict(aec.infos)
        observations = {agent: aec.observe(agent) for agent in aec.agents}
        while aec.agents and (aec.terminations[aec.agent_selection] or aec.truncations[aec.agent_selection]):
            aec.step(None)
        self.agents = aec.agents
        return observations, rewards, terminations, truncations, infos
