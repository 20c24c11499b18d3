"""Env-steps per second of a turn-cycle image env through PettingZoo's ``aec_to_parallel`` and through ours.

    python benchmarks/image_env_step.py --module=pettingzoo.butterfly.pistonball_v6 --size 40 40 --steps=500

Both envs get the same SuperSuit preprocessing (``--color``, ``--size``, 3 stacked frames) and the same random
actions; one process, one core. Prints steps/s for each and the ratio ours / PettingZoo's measured in this run.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from marl_sf.envs.image_catalog import make_cycle_env, reduce_and_resize, stack_frames
from marl_sf.envs.pettingzoo_catalog import import_env_module
from marl_sf.utils.attr_dict import AttrDict


def steps_per_second(env, steps: int, seed: int = 0) -> float:
    """Env-steps per second of ``steps`` random joint actions (resetting when the episode ends)."""
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    start = time.perf_counter()
    for _ in range(steps):
        env.step({a: int(rng.integers(env.action_space(a).n)) for a in env.agents})
        if not env.agents:
            env.reset()
    return steps / (time.perf_counter() - start)


def main() -> None:
    """Measure both conversions on the same env and print the ratio."""
    p = argparse.ArgumentParser(
        description=__doc__, allow_abbrev=False, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--module", default="pettingzoo.butterfly.pistonball_v6")
    p.add_argument("--size", type=int, nargs=2, default=[40, 40], help="H W after resizing")
    p.add_argument("--color", default="R", help="SuperSuit color_reduction_v0 mode")
    p.add_argument("--steps", type=int, default=500)
    args = p.parse_args()
    cfg = AttrDict(pz_resize=args.size, pz_color_reduction=args.color, pz_frame_stack=3)
    kwargs = dict(continuous=False) if "pistonball" in args.module else {}
    pettingzoo_parallel = import_env_module(args.module).parallel_env(render_mode="rgb_array", **kwargs)
    theirs = stack_frames(reduce_and_resize(pettingzoo_parallel, cfg), cfg)
    ours = stack_frames(make_cycle_env(args.module, None, cfg, **kwargs), cfg)
    agents = len(ours.possible_agents)
    rate_theirs = steps_per_second(theirs, args.steps)
    rate_ours = steps_per_second(ours, args.steps)
    print(f"{args.module}, {agents} agents, {args.size[0]}x{args.size[1]} {args.color} x3 frames, {args.steps} steps")
    print(f"PettingZoo aec_to_parallel: {rate_theirs:7.1f} env-steps/s ({rate_theirs * agents:7.0f} agent-steps/s)")
    print(f"marl_sf CycleToParallel:    {rate_ours:7.1f} env-steps/s ({rate_ours * agents:7.0f} agent-steps/s)")
    print(f"ratio ours / PettingZoo's:  {rate_ours / rate_theirs:.2f}x")


if __name__ == "__main__":
    main()
