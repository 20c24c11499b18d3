#!/usr/bin/env bash
# The GPU check of vectorized envs (issue #17, acceptance 5), one prepared script for a lent GPU machine (< 10 min):
# raw VMAS vs marl_sf sampling vs training on cuda with 16384 envs, simple_spread and navigation, inference and
# learning on the device. Usage: bash benchmarks/gpu_vmas.sh [NUM_ENVS] [SECONDS]
# From a checkout with its .venv, or on the lent machine (python3 with torch, no network): run
# benchmarks/gpu_wheels.sh here first, then call the device with `carry: [".whl"]` and this script as the command;
# the wheels and marl_sf itself are installed into /tmp/site there.
set -euo pipefail
cd "$(dirname "$0")/.."
E=${1:-16384}
S=${2:-60}
if [ -x .venv/bin/python ]; then
  PY=${PY:-.venv/bin/python}
else
  PY=${PY:-python3}
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  "$PY" -m pip install -q --no-index --no-deps --no-build-isolation --no-cache-dir --target /tmp/site .
  export PYTHONPATH=/tmp/site
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
for env in vmas_simple_spread vmas_navigation; do
  "$PY" benchmarks/throughput.py --env=$env --device=gpu --vmas_device=cuda --num_envs=$E --bench_seconds=$S \
    --vmas_continuous_actions=False --torch_threads=4 --save_plots=False
done
