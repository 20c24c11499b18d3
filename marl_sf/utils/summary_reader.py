"""Read scalar summaries back from an experiment's tensorboardX event files (``<experiment>/.summary``).

Event files are TFRecord streams (per record: ``uint64`` length, ``uint32`` CRC of the length, the serialized
``Event`` protobuf, ``uint32`` CRC of the data); the ``Event`` message is tensorboardX's own protobuf. CRCs
are not checked: a record cut short by a crash ends the read.

    python -m marl_sf.utils.summary_reader train_dir/<experiment>/.summary policy_1/episode_return
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

from tensorboardX.proto.event_pb2 import Event


def read_scalars(summary_dir: str | Path, tag: str) -> list[tuple[int, float]]:
    """``[(step, value)]`` of scalar ``tag`` over every event file in ``summary_dir``, sorted by step.

    Raises:
        FileNotFoundError: ``summary_dir`` holds no event file.
    """
    files = sorted(Path(summary_dir).glob("events.out.tfevents.*"))
    if not files:
        raise FileNotFoundError(f"no tensorboard event files in {summary_dir}")
    points = []
    for path in files:
        data = path.read_bytes()
        pos = 0
        while pos + 12 <= len(data):
            (length,) = struct.unpack_from("<Q", data, pos)
            start, end = pos + 12, pos + 12 + length
            if end + 4 > len(data):
                break
            event = Event.FromString(data[start:end])
            points += [(event.step, v.simple_value) for v in event.summary.value if v.tag == tag]
            pos = end + 4
    return sorted(points)


def main() -> int:
    """Print ``step value`` lines of one tag."""
    summary_dir, tag = sys.argv[1], sys.argv[2]
    for step, value in read_scalars(summary_dir, tag):
        print(step, value)
    return 0


if __name__ == "__main__":
    sys.exit(main())
