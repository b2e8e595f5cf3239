#!/usr/bin/env bash
# Create .venv (Python 3.11) and install TailShift with its dev extras.
# torch is installed first and pinned (==2.13.0): on the reference machine pip resolves it to the
# local CPU wheel, so no multi-GB CUDA build is downloaded. Elsewhere, set
# PIP_INDEX_URL=https://download.pytorch.org/whl/cpu for that first step.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -e '.[dev]'
