#!/usr/bin/env bash
# Creates .venv with everything needed to train, export, serve, use the client and run the tests.
# On hosts without CUDA it installs the CPU build of torch (torch==2.13.0+cpu) first (pip then keeps it, since
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
    # CPU build, asked for by its local version label so that pip can never settle for the
    # registry's CUDA build of the same version: a local wheel (pip's find-links) where one is
    # present, else PyTorch's CPU index; last resort, that index's newest CPU build.
    .venv/bin/python -m pip install -q "torch==2.13.0+cpu" 2>/dev/null \
      || .venv/bin/python -m pip install -q "torch==2.13.0+cpu" \
           --extra-index-url https://download.pytorch.org/whl/cpu \
      || .venv/bin/python -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu
  fi
fi
.venv/bin/python -m pip install -q -e ".[client,serve,train,openvino,dev]"
# The web page's browser test drives the system's Chromium through Playwright (the dev extra);
# Playwright's own browser download is never used. Installed only when missing, and only where
# apt-get can run (as root); elsewhere that test skips and says what is missing.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
      || echo "set-up: could not install chromium; the browser test will skip"
  else
    echo "set-up: chromium not installed (as root: apt-get install chromium); the browser test will skip"
  fi
fi
echo "set-up done: $(.venv/bin/python -c 'import torch; print("torch", torch.__version__)')"
