"""Image envs from PettingZoo's butterfly and atari families, with SuperSuit preprocessing exposed as options.

``butterfly_pistonball`` (pistonball_v6, discrete actions), ``butterfly_cooperative_pong`` (cooperative_pong_v6)
and ``atari_pong`` (pong_v3: two players, 210x160 RGB; the ROMs ship in the ale-py wheel). Every agent sees an
RGB image; ``--pz_color_reduction``, ``--pz_resize`` and
``--pz_frame_stack`` apply SuperSuit's ``color_reduction_v0``, ``resize_v1`` and ``frame_stack_v1`` (in that
order), so the policy gets uint8 ``[H, W, frames]`` images that stay uint8 in the rollout storage and go
through a conv encoder. The defaults train a shared CNN policy with a local critic (IPPO); pistonball's
(``PISTONBALL_RECIPE``) gives the actor and the critic CNNs of their own and 40x40 red-channel frames.
"""

from __future__ import annotations

import argparse

import numpy as np
from pettingzoo.utils.wrappers import BaseParallelWrapper

from marl_sf.envs.cycle_parallel import CycleToParallel
from marl_sf.envs.pettingzoo_catalog import default_render_mode, import_env_module, make_pettingzoo_env
from marl_sf.envs.registry import recipe_defaults, register_env

IMAGE_ENVS = {  # name: (module, the env's keyword arguments from the config)
    "butterfly_pistonball": (
        "pettingzoo.butterfly.pistonball_v6",
        lambda cfg: dict(
            continuous=False, n_pistons=cfg.get("pistonball_n_pistons", 20), max_cycles=cfg.get("pz_max_cycles", 125)
        ),
    ),
    "butterfly_cooperative_pong": (
        "pettingzoo.butterfly.cooperative_pong_v6",
        lambda cfg: dict(max_cycles=cfg.get("pz_max_cycles", 900)),
    ),
    "atari_pong": (
        "pettingzoo.atari.pong_v3",
        lambda cfg: dict(max_cycles=cfg.get("pz_max_cycles", 10_000), auto_rom_install_path=ale_roms()),
    ),
}
CYCLE_MODULES = ("pettingzoo.butterfly.pistonball_v6", "pettingzoo.butterfly.cooperative_pong_v6")
"""AEC envs whose agents act once each per cycle: built through ``CycleToParallel`` (atari envs are Parallel)."""
MAX_CYCLES = {"butterfly_pistonball": 125, "butterfly_cooperative_pong": 900, "atari_pong": 10_000}


def ale_roms() -> str:
    """The Atari ROM folder inside the ale-py wheel (no separate ROM download)."""
    import os

    import ale_py

    return os.path.join(os.path.dirname(ale_py.__file__), "roms")


def reduce_and_resize(env, cfg):
    """SuperSuit's ``color_reduction_v0`` then ``resize_v1`` from the ``--pz_*`` options (each skipped when off);
    works on AEC and Parallel envs alike."""
    import supersuit as ss

    if cfg.get("pz_color_reduction", "B") != "none":
        env = ss.color_reduction_v0(env, mode=cfg.get("pz_color_reduction", "B"))
    size = cfg.get("pz_resize", [64, 64])
    if size:
        env = ss.resize_v1(env, x_size=size[1], y_size=size[0])
    return env


def stack_frames(env, cfg):
    """SuperSuit's ``frame_stack_v1`` (``--pz_frame_stack`` frames as channels; 1: off) on a Parallel env.

    Stacking on the Parallel env, not the AEC one: SuperSuit's AEC frame stack pushes an agent's frame when the
    agent is selected, before the cycle's physics step, so all but the first agent would see the previous frame.
    """
    import supersuit as ss

    return ss.frame_stack_v1(env, cfg.get("pz_frame_stack", 3)) if cfg.get("pz_frame_stack", 3) > 1 else env


class ResizedState(BaseParallelWrapper):
    """An image global state (pistonball's whole screen, ``[560, 880, 3]``) resized to ``[H, W, 3]`` uint8 with
    SuperSuit's own resize transform (bilinear), so a state critic can store it once per env."""

    def __init__(self, env, size: tuple[int, int]):
        from supersuit.utils.basic_transforms import resize

        super().__init__(env)
        self._resize, self._param = resize, (size[1], size[0], True)
        self.state_space = resize.change_obs_space(env.state_space, self._param)

    def state(self) -> np.ndarray:
        """The env's state resized, ``[H, W, C]`` uint8."""
        return self._resize.change_observation(self.env.state(), self.env.state_space, self._param)


def make_cycle_env(module_path: str, render_mode: str | None, cfg, **env_kwargs):
    """A turn-cycle AEC env (``raw_env``, without PettingZoo's order and bounds checks: the adapter resets before
    stepping and samples actions from the spaces) reduced and resized by SuperSuit on the AEC side, then made
    Parallel by ``CycleToParallel`` so that each observation is built once per step."""
    module = import_env_module(module_path)
    raw = module.raw_env(render_mode=default_render_mode(module_path, render_mode), **env_kwargs)
    return CycleToParallel(reduce_and_resize(raw, cfg))


def _image_env_maker(module_path: str, env_kwargs):
    def make(full_env_name, cfg=None, env_config=None, render_mode=None):
        cfg = cfg if cfg is not None else {}
        if module_path in CYCLE_MODULES:
            env = make_cycle_env(module_path, render_mode, cfg, **env_kwargs(cfg))
        else:
            env = reduce_and_resize(make_pettingzoo_env(module_path, render_mode=render_mode, **env_kwargs(cfg)), cfg)
        env = stack_frames(env, cfg)
        state_size = cfg.get("pz_state_resize", [64, 64])
        if state_size and getattr(env, "state_space", None) is not None and len(env.state_space.shape) == 3:
            env = ResizedState(env, state_size)
        return env

    return make


def add_image_env_args(env: str, p: argparse.ArgumentParser, evaluation: bool = False) -> None:
    """The SuperSuit preprocessing options and the env's own size options."""
    p.add_argument(
        "--pz_color_reduction", default="B", choices=["R", "G", "B", "full", "none"], help="keep one channel"
    )
    p.add_argument("--pz_resize", type=int, nargs="*", default=[64, 64], help="H W after resizing (empty: keep)")
    p.add_argument("--pz_frame_stack", type=int, default=3, help="frames stacked as channels (1: off)")
    p.add_argument(
        "--pz_state_resize", type=int, nargs="*", default=[64, 64], help="H W of the image global state a state "
        "critic sees (--critic_input=state; empty: full size)"
    )  # fmt: skip
    p.add_argument("--pz_max_cycles", type=int, default=MAX_CYCLES.get(env, 900), help="episode steps at most")
    if "pistonball" in env:
        p.add_argument("--pistonball_n_pistons", type=int, default=20, help="pistons (agents)")


IMAGE_DEFAULTS = dict(
    critic_input="local",
    actor_critic_share_weights=True,
    encoder_conv_architecture="convnet_simple",
    encoder_conv_mlp_layers=[256],
    nonlinearity="relu",
    obs_scale=255.0,
    learning_rate=3e-4,
    rollout=32,
    num_envs=8,
    batch_size=1024,
    value_bootstrap=True,
    time_aware_critic=False,
)
"""A shared CNN trunk on uint8 images scaled to [0, 1], a local critic (IPPO)."""

PISTONBALL_RECIPE = {
    **IMAGE_DEFAULTS,
    "actor_critic_share_weights": False,
    "pz_color_reduction": "R",
    "pz_resize": [40, 40],
    "gamma": 0.95,
    "gae_lambda": 0.9,
    "learning_rate": 6e-4,
}
"""IPPO with separate actor and critic CNNs on 40x40 red-channel frames, where the blue ball is dark on white
(README "Results"; the runs that chose separate networks and the red channel: docs/results.md)."""


for _name, (_module, _kwargs) in IMAGE_ENVS.items():  # pistonball's recipe, IMAGE_DEFAULTS for the others
    _recipe = PISTONBALL_RECIPE if "pistonball" in _name else IMAGE_DEFAULTS
    register_env(_name, _image_env_maker(_module, _kwargs), add_image_env_args, recipe_defaults(_recipe))
