"""A custom centralized-critic ActorCritic on a PettingZoo env: the critic attends over every agent's observation.

python examples/train_custom_env_custom_model.py --env=mpe_simple_spread --experiment=attention_critic

The actor is an MLP over the agent's own observation (decentralized execution). The critic sees the joint
observation (``--critic_input=joint_obs``: the obs dict's ``"state"`` is every agent's observation joined,
``[B, A * D]``), embeds each agent's observation as a token and lets the agent's own token attend over all of
them (scaled dot-product attention, Vaswani et al. 2017, "Attention Is All You Need", Eq. 1), so the value is
invariant to the order of the other agents, in the spirit of MAAC (Iqbal & Sha 2019, "Actor-Attention-Critic
for Multi-Agent Reinforcement Learning").
"""

from __future__ import annotations

import sys

import torch
from torch import nn

from marl_sf.cfg.arguments import parse_full_cfg, parse_sf_args
from marl_sf.models.actor_critic import ActorCritic
from marl_sf.models.factory import global_model_factory
from marl_sf.train import run_rl


class AttentionCriticActorCritic(ActorCritic):
    """MLP actor on ``"obs"`` ``[B, D]``; attention critic over ``"state"`` ``[B, A * D]`` (joint observations).

    Raises:
        ValueError: the obs dict has no ``"state"`` (run with ``--critic_input=joint_obs``), or the state is not
            a whole number of observations.
    """

    def __init__(self, model_factory, obs_space, action_space, cfg, hidden: int = 64, heads: int = 4):
        super().__init__(obs_space, action_space, cfg)
        if "state" not in obs_space.spaces:
            raise ValueError("AttentionCriticActorCritic attends over joint observations: use --critic_input=joint_obs")
        self.obs_dim = obs_space["obs"].shape[0]
        self.num_agents, rest = divmod(obs_space["state"].shape[0], self.obs_dim)
        if rest:
            raise ValueError(f"state size {obs_space['state'].shape[0]} is not a multiple of obs size {self.obs_dim}")
        self.actor = nn.Sequential(nn.Linear(self.obs_dim, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh())
        self.embed = nn.Sequential(nn.Linear(self.obs_dim, hidden), nn.Tanh())
        self.attention = nn.MultiheadAttention(hidden, heads, batch_first=True)
        self.critic_head = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.Tanh())
        self.critic_linear = nn.Linear(hidden, 1)
        self.action_parameterization = self.get_action_parameterization(hidden)

    def forward(self, normalized_obs_dict, rnn_states, values_only=False):
        """``{"obs": [B, D], "state": [B, A * D]}`` -> ``values [B]``, ``action_logits [B, P]``, ``new_rnn_states``."""
        own = self.embed(normalized_obs_dict["obs"]).unsqueeze(1)  # [B, D] -> [B, 1, H]
        joint = normalized_obs_dict["state"].view(-1, self.num_agents, self.obs_dim)  # [B, A * D] -> [B, A, D]
        tokens = self.embed(joint)  # [B, A, H]
        attended, _ = self.attention(own, tokens, tokens)  # [B, 1, H]
        critic_x = self.critic_head(torch.cat([own, attended], dim=-1).squeeze(1))  # [B, 2H] -> [B, H]
        result = {"values": self.critic_linear(critic_x).squeeze(-1), "new_rnn_states": rnn_states}
        if not values_only:
            result["action_logits"], _ = self.action_parameterization(self.actor(normalized_obs_dict["obs"]))
        return result


def register_model_components():
    """Use the attention-critic model for every policy."""
    global_model_factory().register_actor_critic_factory(AttentionCriticActorCritic)


def parse_args(argv=None, evaluation=False):
    """The config: simple_spread unless ``--env`` says otherwise, a joint-observation critic input."""
    argv = sys.argv[1:] if argv is None else argv
    if not any(a == "--env" or a.startswith("--env=") for a in argv):
        argv = ["--env=mpe_simple_spread", *argv]
    parser, _ = parse_sf_args(argv=argv, evaluation=evaluation)
    parser.set_defaults(critic_input="joint_obs")
    return parse_full_cfg(parser, argv)


def main():
    """Script entry point."""
    register_model_components()
    return run_rl(parse_args())


if __name__ == "__main__":
    sys.exit(main())
