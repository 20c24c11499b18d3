#!/usr/bin/env bash
# The GPU check of vectorized envs (issue #17, acceptance 5), one prepared script for a lent GPU machine (< 10 min):
# raw VMAS vs marl_sf sampling vs training on cuda with 16384 envs, simple_spread and navigation, inference and
# learning on the device. Usage: bash benchmarks/gpu_vmas.sh [NUM_ENVS] [SECONDS]   (from the checkout, venv built)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
E=${1:-16384}
S=${2:-60}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
for env in vmas_simple_spread vmas_navigation; do
  "$PY" benchmarks/throughput.py --env=$env --device=gpu --vmas_device=cuda --num_envs=$E --bench_seconds=$S \
    --vmas_continuous_actions=False --torch_threads=4
done
