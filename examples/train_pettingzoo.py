"""Train any registered PettingZoo env (built-ins: ``python -m marl_sf.envs``), then evaluate it and record a video.

python examples/train_pettingzoo.py --env=mpe_simple_spread --experiment=spread --train_for_env_steps=500000 \
    --save_video --video_frames=200

Writes ``train_dir/spread/plots/*.png`` (learning curves) and, in ``train_dir/spread/eval/``, ``report.html``
(the evaluation page) and ``replay.mp4``.
"""

from __future__ import annotations

import sys

from marl_sf.enjoy import enjoy
from marl_sf.train import parse_args, run_rl


def main():
    """Train, then write the per-agent evaluation report (and the video with ``--save_video``)."""
    status = run_rl(parse_args())
    if status != 0:
        return status
    return enjoy(parse_args(evaluation=True))


if __name__ == "__main__":
    sys.exit(main())
