#!/usr/bin/env bash
# Run the pytest-benchmark benchmarks (separate from the unit tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m pytest bench -q -p no:randomly --benchmark-only "$@"
