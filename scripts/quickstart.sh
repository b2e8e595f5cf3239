#!/usr/bin/env bash
# README command 1: set up (if needed) and run the main job, offline, on the embedded world.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/tailshift quickstart "$@"
