#!/usr/bin/env bash
# Sets up .venv (CPU torch on hosts without CUDA) and runs the whole test suite.
# Extra arguments go to pytest, e.g. scripts/test.sh -k server -x
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -q -rs "$@"
