"""marl_sf.models: encoders, cores, decoders, action distributions, actor-critics and the model factory."""

from marl_sf.models.actor_critic import (
    ActorCritic,
    ActorCriticSeparateWeights,
    ActorCriticSharedWeights,
    create_actor_critic,
)
from marl_sf.models.core import ModelCore
from marl_sf.models.decoder import Decoder
from marl_sf.models.encoder import Encoder
from marl_sf.models.factory import global_model_factory

__all__ = [
    "ActorCritic",
    "ActorCriticSeparateWeights",
    "ActorCriticSharedWeights",
    "Decoder",
    "Encoder",
    "ModelCore",
    "create_actor_critic",
    "global_model_factory",
]
