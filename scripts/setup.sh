#!/usr/bin/env bash
# Creates .venv with everything needed to train, export, serve, use the client and run the tests.
# On hosts without CUDA it installs the CPU build of torch first (pip then keeps it, since
# pyproject asks only for torch>=2.3); on CUDA hosts pip's default build is the CUDA one.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    .venv/bin/python -m pip install -q torch
  else
    # CPU build: the local wheel where one is present, else PyTorch's CPU index.
    .venv/bin/python -m pip install -q torch==2.13.0 \
      || .venv/bin/python -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu
  fi
fi
.venv/bin/python -m pip install -q -e ".[client,serve,train,openvino,dev]"
echo "set-up done: $(.venv/bin/python -c 'import torch; print("torch", torch.__version__)')"
