"""The model factory: where custom encoders, cores, decoders and whole actor-critics are registered.

``global_model_factory()`` returns the one documented, process-wide factory (Sample Factory's
``sample_factory.algo.utils.context.global_model_factory``).
"""

from __future__ import annotations

from collections.abc import Callable

from marl_sf.models.core import make_default_core
from marl_sf.models.decoder import make_default_decoder
from marl_sf.models.encoder import make_default_encoder


class ModelFactory:
    """Holds the callables that build each model component.

    * ``make_encoder_func(cfg, obs_space) -> Encoder``
    * ``make_model_core_func(cfg, core_input_size) -> ModelCore``
    * ``make_decoder_func(cfg, decoder_input_size) -> Decoder``
    * ``make_actor_critic_func(model_factory, obs_space, action_space, cfg) -> ActorCritic`` (optional;
      when set it replaces the built-in shared/separate-weights actor-critics)

    A class whose constructor has these signatures (the seed template's classes) is such a callable.
    """

    def __init__(self):
        self.make_encoder_func: Callable = make_default_encoder
        self.make_model_core_func: Callable = make_default_core
        self.make_decoder_func: Callable = make_default_decoder
        self.make_actor_critic_func: Callable | None = None

    def register_encoder_factory(self, make_encoder_func: Callable) -> None:
        """Use ``make_encoder_func(cfg, obs_space)`` for every encoder (actor and critic)."""
        self.make_encoder_func = make_encoder_func

    def register_model_core_factory(self, make_model_core_func: Callable) -> None:
        """Use ``make_model_core_func(cfg, core_input_size)`` for every core."""
        self.make_model_core_func = make_model_core_func

    register_core_factory = register_model_core_factory

    def register_decoder_factory(self, make_decoder_func: Callable) -> None:
        """Use ``make_decoder_func(cfg, decoder_input_size)`` for every decoder."""
        self.make_decoder_func = make_decoder_func

    def register_actor_critic_factory(self, make_actor_critic_func: Callable) -> None:
        """Use ``make_actor_critic_func(model_factory, obs_space, action_space, cfg)`` for whole models."""
        self.make_actor_critic_func = make_actor_critic_func

    def reset(self) -> None:
        """Back to the built-in components (tests use this between cases)."""
        self.__init__()


_MODEL_FACTORY = ModelFactory()


def global_model_factory() -> ModelFactory:
    """The process-wide model factory."""
    return _MODEL_FACTORY
