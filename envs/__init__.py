"""marl_sf.envs: the multi-agent env contract, the env registry, PettingZoo adapters and built-in envs.

Importing this package registers the built-in envs (see :mod:`marl_sf.envs.catalog`).
"""

from marl_sf.envs import catalog, image_catalog, mpe_catalog, pettingzoo_catalog, sisl_catalog, vmas  # noqa: F401  (registers the built-in envs)
from marl_sf.envs.contract import SingleAgentEnvWrapper, is_multiagent_env
from marl_sf.envs.registry import create_env, env_registry, register_env

__all__ = ["SingleAgentEnvWrapper", "create_env", "env_registry", "is_multiagent_env", "register_env"]
