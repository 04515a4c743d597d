"""Loading a bench/ script as a module, for the tests that use its pieces (bench/ itself may not
import tests/, tests/test_layering.py checks that)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_bench_script(name: str):
    # A bench script imports its neighbours (run_all: targets), as when run as a script; bench/
    # leaves the path afterwards so that its scripts (engines.py, train.py) never shadow another
    # import.
    path = ROOT / "bench" / name
    sys.path.insert(0, str(path.parent))
    try:
        spec = importlib.util.spec_from_file_location(f"bench_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module   # dataclasses look their module up there
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module
