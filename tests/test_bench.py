"""bench/run_all.py's rendering (Markdown tables and plots) on a small hand-made results dict;
no benchmark runs."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

from tests.bench_scripts import load_bench_script  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RUN_ALL = ROOT / "bench" / "run_all.py"


def load_run_all():
    return load_bench_script(RUN_ALL.name)


def served(fps, p50, p99, not_infer=1.0):
    return {"fps": fps, "p50_ms": p50, "p99_ms": p99, "cpu_ms_per_frame": 20.0,
            "not_infer_p50_ms": not_infer}


def service_row(streams, inflight, batch, paced, s, b, echo=None):
    echo = echo or {"fps": 300.0, "p50_ms": 1.5, "p99_ms": 3.0, "cpu_ms_per_frame": 1.2}
    return {"echo": echo, "run": f"{streams} stream{'s' if streams > 1 else ''}, {inflight} in flight",
            "streams": streams, "inflight": inflight, "bare_batch": batch, "paced": paced,
            "bare_name": f"batch {batch}" + (", paced" if paced else ""), "served": s,
            "bare": {k: v for k, v in b.items() if k != "not_infer_p50_ms"},
            "served_over_bare_fps": s["fps"] / b["fps"], "p50_delta_ms": s["p50_ms"] - b["p50_ms"]}


RESULTS = {
    "date": "2026-01-01T00:00:00+00:00", "mode": "quick",
    "machine": {"cpu_model": "Test CPU", "cores": 2, "usable_cores": 2,
                "cpu_flags": {"avx512_bf16": True, "avx512_vnni": True}, "bf16": True,
                "vnni": True, "python": "3.11.0", "versions": {"torch": "2.0", "openvino": None},
                "git_commit": "abc1234", "git_dirty": False},
    "benches": {
        "train": {"bench": "train", "baseline": "baseline fp32 NCHW (official)", "returncode": 0,
                  "settings": {"size": 256, "threads": 2, "steps": 2, "torch": "2.0",
                               "fast_bf16": True},
                  "rows": [{"variant": "baseline fp32 NCHW (official)", "its": 1.0,
                            "vs_baseline": 1.0, "g_l1_drift": 0.0, "d_drift": 0.0,
                            "last_losses": [1.0, 2.0, 0.5, 0.5]},
                           {"variant": "bf16 + fused Adam [default]", "its": 2.5,
                            "vs_baseline": 2.5, "g_l1_drift": 0.01, "d_drift": None,
                            "last_losses": [1.0, 2.0, 0.5, 0.5]}]},
        "engines": {"bench": "engines", "baseline": "torch", "reference": "onnxruntime",
                    "ratio_batch": 8, "returncode": 0,
                    "settings": {"netG": "unet_256", "ngf": 64, "size": 256, "threads": 2,
                                 "rounds": 3, "batches": [1, 8]},
                    "unavailable": {"openvino": "No module named 'openvino'"},
                    "rows": [{"route": "torch", "ms_per_frame": {"1": 100.0, "8": 90.0},
                              "fps": {"1": 10.0, "8": 11.1}, "x_torch": 1.0, "x_ort": 0.8,
                              "psnr_db": 55.0},
                             {"route": "onnxruntime", "ms_per_frame": {"1": 80.0, "8": 72.0},
                              "fps": {"1": 12.5, "8": 13.9}, "x_torch": 1.25, "x_ort": 1.0,
                              "psnr_db": None}]},
        "service": {"bench": "service", "baseline": "bare onnxruntime backend", "returncode": 0,
                    "settings": {"size": 256, "ngf": 16, "threads": 2, "max_batch": 8,
                                 "max_delay_ms": 5.0, "rounds": 2},
                    "rows": [service_row(1, 1, 1, True, served(40, 24, 30), served(42, 22, 28)),
                             service_row(1, 4, 1, False, served(45, 80, 95), served(46, 21, 27)),
                             service_row(4, 4, 4, False, served(48, 300, 340), served(50, 78, 90)),
                             service_row(16, 4, 8, False, served(47, 1300, 1500),
                                         served(51, 156, 170)),
                             {**service_row(4, 4, 4, False, served(20, 700, 800),
                                            served(30, 150, 180)), "size": "512x256",
                              "run": "4 streams, 4 in flight, 512x256"}],
                    "soak": {"frames": 1000, "streams": 4, "ngf": 4, "seconds": 10.0,
                             "fps": 100.0, "rss_early_mb": 200.0, "rss_early_after_frames": 100,
                             "rss_end_mb": 201.5, "rss_growth_mb": 1.5}},
        "video_file": {"bench": "video_file", "returncode": 0, "baseline_s": 30.0,
                       "settings": {"clip": "clip.mp4", "frames": 132, "threads": 2,
                                    "backend": "openvino", "net": "unet_256 ngf 64"},
                       "rows": [{"path": "pix2pix-client video (local decode, default)",
                                 "seconds": 5.0, "vs_baseline": 6.0},
                                {"path": "pix2pix-client video --server-decode",
                                 "seconds": 7.5, "vs_baseline": 4.0}]},
        "broken": {"bench": "broken", "returncode": 2},
    },
}


def test_render_writes_markdown_json_and_plots(tmp_path):
    run_all = load_run_all()
    written = run_all.render(RESULTS, tmp_path)
    names = {p.name for p in written}
    assert names == {"results.json", "results.md", "service.png", "engines.png"}
    for path in written:
        assert path.stat().st_size > 0
    assert json.loads((tmp_path / "results.json").read_text()) == RESULTS
    for png in ("service.png", "engines.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    md = (tmp_path / "results.md").read_text()
    for heading in ("## Training", "## Inference engines", "## gRPC service", "## A 720p video",
                    "## broken"):
        assert heading in md
    assert "| pix2pix-client video --server-decode | 7.5 | 17.6 | 4.00x |" in md
    assert "| bf16 + fused Adam [default] | 2.50 | 2.50x | 1.00% | – |" in md
    assert "| onnxruntime | 12.5 | 13.9 | 72.0 | 1.25x | 1.00x | inf |" in md
    assert "- openvino: unavailable" in md
    assert "| 4 streams, 4 in flight | 48.0 |" in md and "0.96x" in md
    assert "| 20.00 | batch 4 |" in md  # served cpu ms/frame, then the bare side
    assert "| 0.96x |  | 1.50 | 1.20 |" in md  # then the echo server's p50 and cpu ms/frame
    assert "**+1.5 MB**" in md
    assert "Test CPU, 2 cores" in md


def test_targets_table_puts_this_runs_numbers_next_to_the_targets():
    targets = load_run_all().targets
    results = copy.deepcopy(RESULTS)
    for row, served_cpu in zip(results["benches"]["service"]["rows"], (30.0, 22.0, 21.0, 24.0)):
        row["served"]["cpu_ms_per_frame"] = served_cpu  # bare: 20 ms/frame in every row
    for row, echo_cpu in zip(results["benches"]["service"]["rows"], (5.0, 1.2, 0.9, 0.8, 0.1)):
        row["echo"]["cpu_ms_per_frame"] = echo_cpu
    lines = targets.table(results)
    assert lines[0] == f"| what | now (this run) | target | {targets.FLOOR_HEADING} |"
    cells = {line.split(" | ")[0].lstrip("| "): line.split(" | ")[1] for line in lines[2:]}
    floors = {line.split(" | ")[0].lstrip("| "): line.split(" | ")[3].rstrip(" |")
              for line in lines[2:]}
    # the echo rows: median over the same unpaced square rows (1.2, 0.9, 0.8); the paced p50
    assert floors[targets.TARGETS[0].what] == "0.90 ms/frame"
    assert floors["1 stream p50 over bare batch 1"] == "+1.50 ms"
    assert floors["4 streams served / bare batch 4"] == "–"
    assert len(cells) == len(targets.TARGETS) == 5
    assert cells[targets.TARGETS[0].what] == "2.00 ms/frame (missed)"  # median of 2, 1, 4
    assert cells["4 streams served / bare batch 4"] == "0.96× (met)"
    assert cells["1 stream p50 over bare batch 1"] == "+2.00 ms (missed)"
    assert cells[targets.TARGETS[3].what] == "2.50× (loss drift 1.00%) (met)"
    assert cells[targets.TARGETS[4].what] == "default 6.00×, --server-decode 4.00× (missed)"

    results["benches"]["service"]["returncode"] = 3
    del results["benches"]["train"]
    del results["benches"]["video_file"]
    cells = [line.split(" | ")[1] for line in targets.table(results)[2:]]
    assert cells[:3] == ["bench/service.py failed (exit status 3)"] * 3
    floors = [line.split(" | ")[3] for line in targets.table(results)[2:5]]
    assert floors == ["not measured |", "– |", "not measured |"]
    assert cells[3].startswith("not run") and cells[4].startswith("not run")


def test_a_service_run_without_echo_rows_has_no_floor():
    """Results from before bench/echo_server.py (or a row without it) leave the floor unknown
    rather than taking it from fewer rows."""
    targets = load_run_all().targets
    results = copy.deepcopy(RESULTS)
    del results["benches"]["service"]["rows"][1]["echo"]
    floors = [line.split(" | ")[3] for line in targets.table(results)[2:5]]
    assert floors == ["not measured |", "– |", "not measured |"]
    assert "| 0.98x |  | – | – |" in load_run_all().render_markdown(results)


def test_readme_targets_block_is_rewritten_in_place(tmp_path):
    targets = load_run_all().targets
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\n## Performance\n\n{targets.BEGIN}\nold\n{targets.END}\n\n"
                      "## Known limits\n")
    targets.rewrite_readme(readme, RESULTS)
    once = readme.read_text()
    assert "old" not in once and "| 4 streams served / bare batch 4 | 0.96× (met) |" in once
    assert once.startswith("# title\n\n## Performance\n\n" + targets.BEGIN)
    assert once.endswith(targets.END + "\n\n## Known limits\n")
    assert "(quick settings) on 2026-01-01" in once and "commit abc1234" in once
    assert "exceeded" not in once  # no load recorded
    targets.rewrite_readme(readme, RESULTS)
    assert readme.read_text() == once  # idempotent
    busy = copy.deepcopy(RESULTS)
    busy["benches"]["service"]["load_average"] = {"before": 1.0, "after": 5.0}
    assert "load exceeded the 2 cores" in targets.provenance(busy)

    # measured CPU taken elsewhere wins over the load average, which the benches raise too
    busy["benches"]["service"]["other_work"] = {"other_cores": 0.02, "steal_cores": 0.01}
    quiet_text = targets.provenance(busy)
    assert "service 0.03" in quiet_text and "exceeded" not in quiet_text
    assert "shared the cores" not in quiet_text
    busy["benches"]["train"]["other_work"] = {"other_cores": 0.2, "steal_cores": 0.1}
    assert "**Other work shared the cores during train**" in targets.provenance(busy)

    readme.write_text("no markers\n")
    with pytest.raises(targets.MarkersMissing):
        targets.rewrite_readme(readme, RESULTS)


def test_the_readme_has_one_targets_block():
    targets = load_run_all().targets
    text = (ROOT / "README.md").read_text()
    assert text.count(targets.BEGIN) == 1 and text.count(targets.END) == 1
    performance = text.index("## Performance")
    assert performance < text.index(targets.BEGIN) < text.index("\n## ", performance + 1)


def test_the_train_bench_marks_the_cpu_default_with_or_without_native_bf16():
    """The targets read the "[default]" row; on a CPU without native bf16 the default is fp32 +
    fused Adam and the (emulated, very slow) bf16 rows are not timed."""
    train = load_bench_script("train.py")
    perf = train.Performance
    native = train.speed_variants(time_bf16=True, compile_model=False)
    assert train.default_variant(native, perf("bf16", fused_adam=True)) == "bf16 + fused Adam"
    emulated = train.speed_variants(time_bf16=False, compile_model=True)
    assert all(p.precision != "bf16" for name, p in emulated if name.startswith(("bf16", "fused")))
    assert not any(name.startswith("bf16") for name, _ in emulated)
    assert train.default_variant(emulated, perf(fused_adam=True)) == "fused Adam"


def test_other_work_is_the_machines_busy_cpu_minus_the_benchs_own():
    run_all = load_run_all()
    # 10 s of bench: the machine was busy 14 CPU-s, 12 of them the bench's own; 1 s stolen
    others = run_all.other_work((100.0, 5.0), (114.0, 6.0), 12.0, 10.0)
    assert others == pytest.approx({"other_cores": 0.2, "steal_cores": 0.1})
    assert run_all.other_work((100.0, 5.0), (110.0, 5.0), 12.0, 10.0)["other_cores"] == 0.0
    assert run_all.other_work(None, (1.0, 0.0), 1.0, 1.0) is None


def test_a_bench_run_records_its_own_cpu_apart_from_other_work(tmp_path, monkeypatch):
    """A real subprocess that burns 0.5 CPU-s: that CPU is the bench's own, so it is not in
    the other-work share (whatever else the machine did meanwhile is in both measures)."""
    run_all = load_run_all()
    bench_dir = tmp_path / "bench"
    bench_dir.mkdir()
    (bench_dir / "burn.py").write_text(
        "import json, sys, time\n"
        "end = time.process_time() + 0.5\n"
        "while time.process_time() < end: pass\n"
        "json.dump({'bench': 'burn', 'rows': [1]}, open(sys.argv[-1], 'w'))\n")
    monkeypatch.setattr(run_all, "BENCH", bench_dir)
    before = run_all.machine_cpu_s()
    payload = run_all.run_bench("burn", [], tmp_path)
    after = run_all.machine_cpu_s()
    assert payload["returncode"] == 0 and payload["rows"] == [1]
    seconds, others = payload["seconds"], payload["other_work"]
    whole_machine = (after[0] - before[0]) / seconds   # cores busy in all, the bench included
    assert whole_machine - others["other_cores"] >= 0.8 * 0.5 / seconds
    assert others["steal_cores"] >= 0.0
