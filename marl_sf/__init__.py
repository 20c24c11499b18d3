"""marl_sf: multi-agent, centralized-critic reinforcement learning in the spirit of Sample Factory.

The Sample Factory extension API is re-exported here (docs/custom_envs.md and docs/custom_models.md map it):
``register_env``, ``global_model_factory``, ``Encoder``, ``ModelCore``, ``Decoder``, ``ActorCritic``,
``parse_sf_args``, ``parse_full_cfg``, ``run_rl`` and ``enjoy``; and for several policies and self-play
``register_policy_mapping`` (agent -> policy), ``register_scripted_policy`` (scripted opponents) and
``register_game_score`` (who won an episode); ``load_policy`` runs a trained policy in your own loop.
Sample Factory 2's module paths (``marl_sf.model.encoder``, ``marl_sf.algo.utils.context``, ...) import as aliases of
these (``marl_sf.sample_factory_paths``).
"""

from marl_sf.algo.policy_mapping import register_policy_mapping
from marl_sf.cfg.arguments import parse_full_cfg, parse_sf_args
from marl_sf.envs.contract import is_multiagent_env
from marl_sf.envs.registry import register_env
from marl_sf.models.actor_critic import ActorCritic
from marl_sf.models.core import ModelCore
from marl_sf.models.decoder import Decoder
from marl_sf.models.encoder import Encoder
from marl_sf.models.factory import global_model_factory
from marl_sf.policy import Policy, load_policy
from marl_sf.sample_factory_paths import install as _install_sample_factory_paths
from marl_sf.selfplay.scoring import register_game_score
from marl_sf.selfplay.scripted import register_scripted_policy

__version__ = "0.1.0"

_install_sample_factory_paths()  # from here on, Sample Factory's module paths resolve under marl_sf


def run_rl(cfg):
    """Train as configured (``marl_sf.train.run_rl``)."""
    from marl_sf.train import run_rl as _run_rl

    return _run_rl(cfg)


def enjoy(cfg):
    """Evaluate and write the report (``marl_sf.enjoy.enjoy``)."""
    from marl_sf.enjoy import enjoy as _enjoy

    return _enjoy(cfg)


__all__ = [
    "ActorCritic",
    "Decoder",
    "Encoder",
    "ModelCore",
    "Policy",
    "enjoy",
    "global_model_factory",
    "is_multiagent_env",
    "load_policy",
    "parse_full_cfg",
    "parse_sf_args",
    "register_env",
    "register_game_score",
    "register_policy_mapping",
    "register_scripted_policy",
    "run_rl",
]
