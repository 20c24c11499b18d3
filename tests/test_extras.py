"""An optional extra missing at the moment of use ends the command with one line naming the extra, no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

HIDE_AND_RUN = """
import sys
for name in {hidden!r}:
    sys.modules[name] = None  # as if the extra were not installed: importing it raises ImportError
from marl_sf.{command} import main
sys.argv = ["marl_sf.{command}", *{argv!r}]
sys.exit(main())
"""


@pytest.mark.parametrize(
    ("command", "hidden", "argv", "expected"),
    [
        ("enjoy", ["imageio", "imageio.v2"], ["--save_video"], "--save_video needs imageio, which is not installed: "
         "pip install 'marl-sf[viz]'"),
        ("train", ["ray"], ["--distributed=ray"], "--distributed=ray needs ray, which is not installed: "
         "pip install 'marl-sf[ray]'"),
        ("export", ["onnxruntime"], ["--format=onnx"], "export --format=onnx needs onnxruntime, which is not "
         "installed: pip install 'marl-sf[onnx]'"),
    ],
)  # fmt: skip
def test_a_missing_extra_is_one_line_naming_it(tmp_path, command, hidden, argv, expected):
    argv = ["--experiment=extras", f"--train_dir={tmp_path}", *argv]
    if command != "export":  # the training and evaluation commands also take the env and the device
        argv = ["--env=mpe_simple_spread", "--device=cpu", *argv]
    code = HIDE_AND_RUN.format(hidden=hidden, command=command, argv=argv)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert expected in done.stderr and "Traceback" not in done.stderr
