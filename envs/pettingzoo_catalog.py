"""PettingZoo envs by name: catalog entries, and the generic ``pz:<module path>`` form for any other env.

``--env=classic_connect_four`` builds a catalog entry; ``--env=pz:pettingzoo.classic.go_v5`` wraps any
PettingZoo module without registering it (``parallel_env()`` when the module has one, else the AEC
``env()``). Either way ``create_env`` adapts the result with the Parallel or AEC adapter.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from pettingzoo.utils.conversions import aec_to_parallel_wrapper

from marl_sf.envs.cycle_parallel import CycleToParallel
from marl_sf.envs.random_opening import RandomOpening
from marl_sf.envs.registry import EnvRegistryEntry, recipe_defaults, register_env

GENERIC_PREFIX = "pz:"

CLASSIC_GAMES = {
    "classic_connect_four": "pettingzoo.classic.connect_four_v3",
    "classic_tictactoe": "pettingzoo.classic.tictactoe_v3",
    "classic_leduc_holdem": "pettingzoo.classic.leduc_holdem_v4",
    "classic_texas_holdem": "pettingzoo.classic.texas_holdem_v4",
}
"""Turn-based board games (AEC, action masks, no global state: critics use the joined observations)."""


def import_env_module(module_path: str) -> ModuleType:
    """Import a PettingZoo env module such as ``pettingzoo.classic.tictactoe_v3``.

    Raises:
        ValueError: the module does not import (the message carries the import error), or it has neither
            ``parallel_env`` nor ``env``.
    """
    try:
        module = importlib.import_module(module_path)
    except ImportError as e:
        raise ValueError(
            f"env module {module_path!r} does not import ({e}). Give a PettingZoo env module path such as "
            f"'{GENERIC_PREFIX}pettingzoo.classic.tictactoe_v3' or 'pz:mpe2.simple_spread_v3'; some families "
            "need extras: pip install 'pettingzoo[classic]', 'pettingzoo[butterfly]', ..."
        ) from e
    if not hasattr(module, "parallel_env") and not hasattr(module, "env"):
        raise ValueError(f"{module_path!r} imports but has neither parallel_env() nor env(): not a PettingZoo env")
    return module


DRAWN_ONLY_WHEN_RENDERING = ("pettingzoo.butterfly.pistonball_v6", "pettingzoo.butterfly.cooperative_pong_v6")
"""Envs whose observations are crops of a screen that PettingZoo 1.27.0 (installed here) redraws only when a
render mode is set: with ``render_mode=None`` every observation after ``reset`` is the first frame again (the
agents are blind while the rewards still change). ``make_pettingzoo_env`` builds them with
``render_mode="rgb_array"``, which draws to an off-screen surface and opens no window."""


def make_pettingzoo_env(module_path: str, render_mode: str | None = None, **kwargs):
    """``module.parallel_env(**kwargs)`` when the module has it, else ``module.env(**kwargs)`` (AEC); the
    modules in ``DRAWN_ONLY_WHEN_RENDERING`` get ``render_mode="rgb_array"`` when none is given. A Parallel env
    that PettingZoo converted from its AEC env is converted again by ``CycleToParallel`` (same steps, no discarded
    ``last()`` observation per agent)."""
    module = import_env_module(module_path)
    make = getattr(module, "parallel_env", None) or module.env
    env = make(render_mode=default_render_mode(module_path, render_mode), **kwargs)
    if isinstance(env, aec_to_parallel_wrapper) and not isinstance(env, CycleToParallel):
        env = CycleToParallel(env.aec_env)  # the same steps, each observation built once
    return env


def default_render_mode(module_path: str, render_mode: str | None) -> str | None:
    """``render_mode``, or ``"rgb_array"`` for the modules in ``DRAWN_ONLY_WHEN_RENDERING`` when it is None."""
    if render_mode is None and module_path in DRAWN_ONLY_WHEN_RENDERING:
        return "rgb_array"
    return render_mode


def generic_entry(env_name: str) -> EnvRegistryEntry | None:
    """A registry entry for ``pz:<module path>`` names (None for other names)."""
    if not env_name.startswith(GENERIC_PREFIX):
        return None
    module_path = env_name[len(GENERIC_PREFIX) :]
    import_env_module(module_path)  # fail now, with the clear message
    return EnvRegistryEntry(module_env_maker(module_path))


def module_env_maker(module_path: str):
    """A ``make_env_func`` that builds the module's env with its default arguments."""

    def make(full_env_name, cfg=None, env_config=None, render_mode=None):
        return make_pettingzoo_env(module_path, render_mode=render_mode)

    return make


def make_knights_archers_zombies(full_env_name, cfg=None, env_config=None, render_mode=None):
    """knights_archers_zombies_v11 with vector observations (``[27, 5]`` per agent, ``state`` ``[26, 4]``).

    Archers and knights die when a zombie reaches them: the adapter gives a dead agent zero observations and
    ``is_active=False`` until the episode ends (our own dead-agent padding, not SuperSuit's black_death).
    """
    max_cycles = cfg.get("kaz_max_cycles", 900) if cfg is not None else 900
    return make_pettingzoo_env(
        "pettingzoo.butterfly.knights_archers_zombies_v11",
        render_mode=render_mode,
        obs_method="vector",
        max_cycles=max_cycles,
    )


def add_kaz_args(_env: str, parser, evaluation: bool = False) -> None:
    """knights_archers_zombies' own options."""
    parser.add_argument("--kaz_max_cycles", default=900, type=int, help="steps per episode at most")


LONG_EPISODE_RECIPE = dict(
    actor_critic_share_weights=False,
    rollout=32,
    num_envs=16,
    batch_size=1024,
    value_bootstrap=True,
    time_aware_critic=False,
)
"""Separate actor and critic, 32-step rollouts of 16 envs, truncations bootstrapped: the envs whose episodes run to
hundreds of steps (KAZ, SISL); each recipe adds what its critic sees."""

KAZ_RECIPE = {**LONG_EPISODE_RECIPE, "critic_input": "state"}
"""A centralized critic on KAZ's global state."""

register_env(
    "butterfly_knights_archers_zombies", make_knights_archers_zombies, add_kaz_args, recipe_defaults(KAZ_RECIPE)
)


CLASSIC_RECIPE = dict(
    critic_input="joint_obs", rollout=32, num_envs=16, batch_size=256, gamma=0.99, value_bootstrap=True
)
"""Defaults for short turn-based games: a joint-observation critic, whole games in a rollout."""


def make_connect_four(full_env_name, cfg=None, env_config=None, render_mode=None):
    """connect_four_v3's ``raw_env``: it asserts every move is legal itself, so PettingZoo's order-enforcing and
    illegal-move wrappers are left out (their cost: docs/results.md, "Measurements behind the catalog")."""
    from pettingzoo.classic import connect_four_v3

    return connect_four_v3.raw_env(render_mode=render_mode)


BOARD_GAMES = {"classic_connect_four": 0, "classic_tictactoe": 3}
"""The classic games that take ``--random_opening_plies`` (``envs.random_opening``), with its training default."""


def add_board_game_args(env: str, parser, evaluation: bool = False) -> None:
    """``--random_opening_plies``: in training, each game starts after that many random moves at most (default:
    ``BOARD_GAMES``); in evaluation and tournaments an evaluation option, never read from the run's saved config,
    0 unless given."""
    group = parser.add_argument_group("evaluation" if evaluation else "board games")
    group.add_argument("--random_opening_plies", type=int, default=0 if evaluation else BOARD_GAMES[env],
                       help="training games start after 0..N uniformly random legal moves (every opening gets "
                       "learned); evaluation: 0")  # fmt: skip


def board_game_maker(env_name: str, module_path: str):
    """The maker of a board game in ``BOARD_GAMES``: its env, in ``RandomOpening`` when the option asks."""
    base = make_connect_four if env_name == "classic_connect_four" else module_env_maker(module_path)

    def make(full_env_name, cfg=None, env_config=None, render_mode=None):
        env = base(full_env_name, cfg, env_config, render_mode)
        plies = cfg.get("random_opening_plies", 0) if cfg is not None else 0
        return RandomOpening(env, plies) if plies else env

    return make


TICTACTOE_RECIPE = {**CLASSIC_RECIPE, "opponent_prob": 0.0}
"""The classic defaults, and self-play against the current policy (no pool opponents in training games; with them
the critic learns its values against weaker play). With the random openings of ``BOARD_GAMES`` it keeps learning
every line; without them it collapses to a few (docs/results.md, "Tictactoe self-play against perfect play")."""


for _name, _module in CLASSIC_GAMES.items():
    if _name in BOARD_GAMES:
        defaults = recipe_defaults(TICTACTOE_RECIPE if _name == "classic_tictactoe" else CLASSIC_RECIPE)
        register_env(_name, board_game_maker(_name, _module), add_board_game_args, defaults)
    else:
        register_env(_name, module_env_maker(_module), override_default_params_func=recipe_defaults(CLASSIC_RECIPE))
