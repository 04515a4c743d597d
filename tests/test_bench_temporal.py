"""bench/temporal.py end to end on a clip drawn here, without its training part: the filter
rows, the filter's CPU cost and the LIVE latency through a real pix2pix-serve, each at the
clip's compute size and on its 256x256 centre."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pix2pix_stream.media.synthetic import make_clip

pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parent.parent


def test_the_temporal_bench_reports_cost_and_live_latency_at_both_sizes(tmp_path):
    clip = make_clip(tmp_path / "wide.mp4", frames=24, width=384, height=216, fps=24,
                     audio=False)
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "temporal.py"), "--clip", str(clip),
         "--train-seconds", "0.5", "--skip-train", "--repeats", "1", "--latency-frames", "6",
         "--rounds", "1", "--out", str(out)],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((out / "temporal.json").read_text())
    live, cost = result["cost"]["live"], result["cost"]["filter"]
    assert set(live) == set(cost) == {"compute_size", "256x256"}
    assert live["compute_size"]["frame_size"] == cost["compute_size"]["frame_size"] == "455x256"
    assert live["256x256"]["frame_size"] == cost["256x256"]["frame_size"] == "256x256"
    assert all(row["p50_off_ms"] > 0 and row["p50_strong_ms"] > 0 for row in live.values())
    assert "LIVE p50, 256x256:" in done.stdout and "LIVE p50, 455x256:" in done.stdout
    assert (out / "temporal.png").stat().st_size > 0
