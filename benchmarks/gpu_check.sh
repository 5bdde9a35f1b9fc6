#!/usr/bin/env bash
# The prepared GPU check: one run, under 8 minutes on one GPU, writing benchmarks/gpu/REPORT-<UTC time>.md.
#
# Runs the project from this source tree (PYTHONPATH), never pip-installs: the GPU machines have Python 3.12,
# torch with CUDA, torchvision, timm, nvidia-ml-py, onnxruntime, pandas, rich, scikit-learn and pytest, and
# no Ray, Optuna, fvcore or ptflops (the check blocks those imports to prove it needs none). Without a CUDA
# device every GPU part is skipped by name. See benchmarks/gpu_check.py for the checks and their goals.
#
#   bash benchmarks/gpu_check.sh [--device cuda:0] [--out FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
PY="${PYTHON:-python3}"
if [ -z "${PYTHON:-}" ] && [ -x .venv/bin/python ]; then PY=.venv/bin/python; fi
exec timeout 470 "$PY" benchmarks/gpu_check.py "$@"
