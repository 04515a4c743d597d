"""`make chaos` (bench/chaos.py) at a small scale: two real replicas as subprocesses, every kind
of abuse once or twice, SIGTERM and kill -9 under a two-replica client; nothing may be lost."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_a_small_chaos_run_loses_nothing():
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "chaos.py"), "--scale", "0.1"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    table = run.stdout
    for what in ("bad inputs", "disconnect storm", "idle-stream flood", "oversized jobs",
                 "SIGTERM of the replica serving a frame stream",
                 "SIGKILL of the replica serving a server-side video job"):
        assert what in table
