"""What a trained pistonball policy does next to the ball: mean action probabilities by offset from the ball.

    python benchmarks/pistonball_probe.py --experiment=pb --episodes=4

Plays ``--episodes`` episodes with the experiment's latest checkpoint (actions sampled from the policy) and
averages each piston's action probabilities (down, stay, up) by its offset from the piston under the ball's
centre (-1: the piston on the ball's left). A policy that uses the ball moves the left neighbour down and the
right neighbour up; one that ignores it shows the same probabilities at every offset.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from marl_sf.enjoy import load_policies
from marl_sf.envs.registry import create_env, registry_entry
from marl_sf.envs.spec import read_env_spec
from marl_sf.train import parse_args

OFFSETS = range(-3, 4)


def ball_piston(raw) -> int:
    """Index of the piston under the ball's centre (pistonball_v6 ``raw_env``)."""
    return int((raw.ball.position[0] - raw.wall_width) // raw.piston_width)


def probe(experiment: str, episodes: int, seed: int = 100) -> dict[int, np.ndarray]:
    """``{offset: mean [down, stay, up] probabilities}`` over every step of ``episodes`` episodes."""
    cfg = parse_args(["--env=butterfly_pistonball", f"--experiment={experiment}"], evaluation=True)
    _, models, _ = load_policies(cfg, read_env_spec(create_env(cfg.env, cfg=cfg)))
    model = models[0]
    env = registry_entry(cfg.env).make_env_func(cfg.env, cfg=cfg)  # the PettingZoo env, preprocessed
    agents, rng = env.possible_agents, np.random.default_rng(seed)
    probs: dict[int, list[np.ndarray]] = {o: [] for o in OFFSETS}
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        while env.agents:
            k = ball_piston(env.unwrapped)
            x = torch.as_tensor(np.stack([obs[a] for a in agents])).float() / cfg.obs_scale  # [A, H, W, C]
            with torch.no_grad():
                out = model(model.normalize_obs({"obs": x}), torch.zeros(len(agents), model.rnn_state_size()))
            p = torch.softmax(out["action_logits"], -1).numpy()  # [A, 3]
            for o in OFFSETS:
                if 0 <= k + o < len(agents):
                    probs[o].append(p[k + o])
            obs, *_ = env.step({a: int(rng.choice(3, p=p[i] / p[i].sum())) for i, a in enumerate(agents)})
    return {o: np.mean(v, axis=0) for o, v in probs.items() if v}


def main() -> None:
    """Print the table."""
    p = argparse.ArgumentParser(
        description=__doc__, allow_abbrev=False, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--experiment", required=True)
    p.add_argument("--episodes", type=int, default=4)
    args = p.parse_args()
    print("| offset from the ball | down | stay | up |\n|---|---|---|---|")
    for offset, (down, stay, up) in probe(args.experiment, args.episodes).items():
        print(f"| {offset:+d} | {down:.2f} | {stay:.2f} | {up:.2f} |")


if __name__ == "__main__":
    main()
