#!/usr/bin/env bash
# The main job: set up .venv (CPU torch on hosts without CUDA), serve the shipped engine on CPU,
# translate a sample video through the gRPC client, write out/demo.mp4 and out/demo.png.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python scripts/demo.py "$@"
