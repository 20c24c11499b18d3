"""Videos of evaluation episodes: ``enjoy --save_video`` (Sample Factory's flags).

``VideoRecorder`` wraps one contract env built with ``render_mode="rgb_array"``: after ``reset`` and after every
``step`` it renders a frame, draws the agents' returns so far in this episode (and the last finished episode's
team return) in a strip below it, and streams it into an MP4 written by imageio with the ffmpeg binary of the
``imageio-ffmpeg`` wheel (no system ffmpeg). Everything else is passed through to the env, so the env runner
steps it like any other.

The frame after an episode's last step shows the next episode's start (contract envs reset themselves).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame-drawn envs render off-screen, without a display

BLOCK = 16  # H.264 (yuv420p) wants frame sides that are multiples of 16: frames are padded, never resized
FONT_SIZE = 14
LINE_HEIGHT = 18


def render_fps(env: Any, default: float = 30.0) -> float:
    """The env's ``metadata["render_fps"]``, looked up through wrappers (``.env``), or ``default``."""
    for _ in range(8):
        fps = (getattr(env, "metadata", None) or {}).get("render_fps")
        if fps:
            return float(fps)
        env = getattr(env, "env", None)
        if env is None:
            break
    return default


def check_frame(frame: Any, env_name: str) -> np.ndarray:
    """``frame`` as ``[H, W, 3]`` uint8.

    Raises:
        ValueError: ``frame`` is not an RGB(A) image; the message says how to make the env render.
    """
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] not in (3, 4):
        got = type(frame).__name__ if not isinstance(frame, np.ndarray) else f"an array of shape {frame.shape}"
        raise ValueError(
            f"--save_video: env {env_name!r} rendered {got}, not an [H, W, 3] RGB frame. Its make_env_func must "
            "pass render_mode through to the env (e.g. gym.make(..., render_mode=render_mode)), and the env's "
            "render() must return an RGB array when render_mode='rgb_array'"
        )
    return np.ascontiguousarray(frame[..., :3], dtype=np.uint8)


class VideoRecorder:
    """A contract env that records its frames, with per-agent returns, into an MP4.

    Args:
        env: a contract env built with ``render_mode="rgb_array"``.
        path: the MP4 to write (its folder must exist).
        agent_names: A names, drawn beside the returns.
        max_frames: frames to record (then the env steps on unrecorded); -1: every frame until ``close``.
        fps: frames per second of the video; 0: the env's ``render_fps`` (30 when it has none).
        env_name: the env's registered name, for error messages.

    Attributes:
        frames: frames written so far.
        episode_returns: ``[A]`` per-agent returns of each episode finished while recording.
    """

    def __init__(self, env, path: Path, agent_names: list[str], max_frames: int, fps: float, env_name: str):
        self.env, self.path, self.agent_names = env, Path(path), list(agent_names)
        self.max_frames, self.env_name = max_frames, env_name
        self.fps = fps if fps > 0 else render_fps(env)
        self.frames, self.episode_returns = 0, []
        self._running = np.zeros(len(self.agent_names))  # [A] this episode's returns so far
        self._steps, self._writer = 0, None
        from PIL import ImageFont

        self._font = ImageFont.load_default(size=FONT_SIZE)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.env, name)

    @property
    def recording(self) -> bool:
        """Whether frames are still being recorded."""
        return self.max_frames < 0 or self.frames < self.max_frames

    def reset(self, seed: int | None = None, options: dict | None = None):
        """Reset the env and record its first frame."""
        obs, infos = self.env.reset(seed=seed, options=options)
        self._running[:], self._steps = 0.0, 0
        self._record()
        return obs, infos

    def step(self, actions):
        """Step the env, add the rewards to the running returns and record the frame."""
        obs, rewards, terminated, truncated, infos = self.env.step(actions)
        self._running += np.asarray(rewards, dtype=np.float64)
        self._steps += 1
        if all(te or tr for te, tr in zip(terminated, truncated, strict=True)):  # the env has reset itself
            if self.recording:
                self.episode_returns.append(self._running.copy())
            self._running[:], self._steps = 0.0, 0
        self._record()
        return obs, rewards, terminated, truncated, infos

    def _record(self) -> None:
        """Render, annotate and write one frame while recording."""
        if not self.recording:
            return
        frame = self._annotate(check_frame(self.env.render(), self.env_name))
        if self._writer is None:
            import imageio.v2 as imageio

            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = imageio.get_writer(self.path, format="FFMPEG", fps=self.fps, codec="libx264",
                                              quality=7, macro_block_size=BLOCK, ffmpeg_log_level="error")  # fmt: skip
            self._size = frame.shape
        if frame.shape != self._size:
            raise ValueError(f"--save_video: env {self.env_name!r} changed its frame size from {self._size[:2]} "
                             f"to {frame.shape[:2]} during the video")  # fmt: skip
        self._writer.append_data(frame)
        self.frames += 1

    def _caption(self) -> list[str]:
        """The lines drawn below the frame: episode, step, each agent's return so far, the last team return."""
        last = f", last episode's team return {self.episode_returns[-1].sum():.2f}" if self.episode_returns else ""
        head = f"episode {len(self.episode_returns) + 1}, step {self._steps}{last}"
        cells = [f"{name} {ret:+.2f}" for name, ret in zip(self.agent_names, self._running, strict=True)]
        return [head, *cells]

    def _annotate(self, frame: np.ndarray) -> np.ndarray:
        """``frame`` on a canvas padded to multiples of ``BLOCK``, the caption in a strip below it."""
        from PIL import Image, ImageDraw

        head, *cells = self._caption()
        h, w, _ = frame.shape
        cell_w = max(int(self._font.getlength(c)) for c in cells) + 16
        per_row = max(1, (w - 8) // cell_w)
        rows = [cells[i : i + per_row] for i in range(0, len(cells), per_row)]
        strip = LINE_HEIGHT * (1 + len(rows)) + 8
        height, width = -(-(h + strip) // BLOCK) * BLOCK, -(-w // BLOCK) * BLOCK
        canvas = Image.new("RGB", (width, height), (24, 24, 24))
        canvas.paste(Image.fromarray(frame), (0, 0))
        draw = ImageDraw.Draw(canvas)
        draw.text((6, h + 4), head, fill=(255, 255, 255), font=self._font)
        for r, row in enumerate(rows):
            for c, cell in enumerate(row):
                draw.text((6 + c * cell_w, h + 4 + LINE_HEIGHT * (r + 1)), cell, fill=(200, 230, 255), font=self._font)
        return np.asarray(canvas)

    def close(self) -> None:
        """Finish the MP4 and close the env."""
        try:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        finally:
            self.env.close()


def count_frames(path: str | Path) -> int:
    """Frames in the video at ``path``, read back with imageio (ffmpeg decodes the whole stream)."""
    import imageio.v2 as imageio

    with imageio.get_reader(path, format="FFMPEG") as reader:
        return reader.count_frames()
