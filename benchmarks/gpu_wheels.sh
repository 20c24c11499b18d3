#!/usr/bin/env bash
# Wheels for the GPU machine (see benchmarks/gpu_vmas.sh): that machine has python3 with torch, numpy, tqdm and
# protobuf but none of marl_sf's env packages, and cannot fetch. Run this here (PyPI reachable) before the device call;
# it fills .whl/ (ignored by git, about 2.3 MB), which the call carries (`carry: [".whl"]`).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl
PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "${PLATFORMS[@]}" \
  -d .whl Farama-Notifications==0.0.6 gym-notices==0.0.8 gymnasium==1.4.0 pettingzoo==1.27.0 tensorboardX==2.6.5
python3 -m pip wheel -q --no-deps -w .whl gym==0.26.2 vmas==1.5.2  # sdists only on PyPI: pure Python, built here
ls .whl
