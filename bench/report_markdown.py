"""results.md from a bench/run_all.py results dict: the machine, the issue's targets
(bench/targets.py), then one Markdown table per bench, each row against the baseline of the same
run."""
from __future__ import annotations

import math

import targets  # bench/, this script's folder


def fmt(value, spec: str = ".2f", suffix: str = "", none: str = "–") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return none
    return f"{value:{spec}}{suffix}"


def md_table(header: list[str], rows: list[list[str]], align: str) -> list[str]:
    """``align``: one character per column, l or r."""
    rule = ["---:" if a == "r" else ":---" for a in align]
    return ["| " + " | ".join(line) + " |" for line in (header, rule, *rows)]


def failed_note(bench: dict) -> list[str]:
    if bench.get("returncode", 0) != 0:
        return [f"**Failed** with exit status {bench['returncode']}; its log is "
                f"`{bench.get('bench', '?')}.log`.", ""]
    return []


def md_train(bench: dict) -> list[str]:
    s = bench.get("settings", {})
    lines = ["## Training (bench/train.py)", "", *failed_note(bench)]
    if not bench.get("rows"):
        return lines
    lines += [f"Batch 1 at {s.get('size')}x{s.get('size')}, unet_256 ngf 64 + 70x70 PatchGAN, "
              f"{s.get('threads')} threads, {s.get('steps')} timed steps per variant "
              f"(median), torch {s.get('torch')}, native bf16: {s.get('fast_bf16')}. Baseline: "
              f"**{bench.get('baseline')}** in the same run; drift = relative difference of the "
              "summed losses against it.", ""]
    rows = [[r["variant"], fmt(r["its"]), fmt(r["vs_baseline"], ".2f", "x"),
             fmt(r["g_l1_drift"], ".2%"), fmt(r["d_drift"], ".2%")] for r in bench["rows"]]
    return lines + md_table(["variant", "it/s", "vs baseline", "G_L1 drift", "D drift"], rows,
                            "lrrrr") + [""]


def route_label(row: dict) -> str:
    """A route, with the compute size it ran at when the row has one (bench/engines.py)."""
    return f"{row['route']} @ {row['size']}" if row.get("size") else row["route"]


def md_engines(bench: dict) -> list[str]:
    s = bench.get("settings", {})
    lines = ["## Inference engines (bench/engines.py)", "", *failed_note(bench)]
    if not bench.get("rows"):
        return lines
    batches = [str(b) for b in s.get("batches", [])] or list(bench["rows"][0]["fps"])
    last = str(bench.get("ratio_batch", batches[-1]))
    lines += [f"{s.get('netG')} ngf {s.get('ngf')} at {s.get('size')}x{s.get('size')}, "
              f"{s.get('threads')} threads, best of {s.get('rounds')} calls, torch "
              f"{s.get('torch')}. Baseline: **PyTorch eager fp32** in the same run; speed-ups at "
              f"batch {last}; PSNR against the ONNX Runtime fp32 frames (inf = identical).", ""]
    header = ["route", *(f"fps b{b}" for b in batches), f"ms/frame b{last}", "vs torch",
              "vs ORT fp32", "PSNR dB"]
    rows = []
    for r in bench["rows"]:
        psnr = r.get("psnr_db")
        rows.append([route_label(r), *(fmt(r["fps"].get(b), ".1f") for b in batches),
                     fmt(r["ms_per_frame"].get(last), ".1f"), fmt(r["x_torch"], ".2f", "x"),
                     fmt(r["x_ort"], ".2f", "x"), "inf" if psnr is None else fmt(psnr, ".1f")])
    lines += md_table(header, rows, "l" + "r" * (len(header) - 1)) + [""]
    for route, reason in (bench.get("unavailable") or {}).items():
        lines.append(f"- {route}: unavailable ({reason})")
    return lines + ([""] if bench.get("unavailable") else [])


def md_service(bench: dict) -> list[str]:
    s = bench.get("settings", {})
    lines = ["## gRPC service (bench/service.py)", "", *failed_note(bench)]
    if bench.get("rows"):
        lines += [f"{s.get('size')}x{s.get('size')} raw RGB frames, unet_256 ngf {s.get('ngf')}, "
                  f"{s.get('threads')} inference threads, max batch {s.get('max_batch')}, max "
                  f"delay {s.get('max_delay_ms')} ms, {s.get('rounds')} alternating stretches "
                  "per row. Baseline: **the bare ONNX Runtime backend** in this process, run "
                  "alternately with the server; its latency is per call of its batch. Targets: "
                  "served p50 at most +2 ms over bare for the paced request/response row, "
                  "served/bare fps >= 0.9 for 4 streams. not infer = p50 of latency minus the "
                  "server's inference time; cpu ms/frame = CPU time of every process involved "
                  "(served: server + client) per frame. echo = the same client against "
                  "bench/echo_server.py, which sends each frame straight back (no model), "
                  "alternated with both: the transport's own latency and CPU per frame.", ""]
        header = ["service run", "fps", "p50 ms", "p99 ms", "not infer ms", "cpu ms/frame",
                  "bare backend", "bare fps", "bare p50 ms", "bare p99 ms", "bare cpu ms/frame",
                  "served/bare fps", "p50 vs bare", "echo p50 ms", "echo cpu ms/frame"]
        rows = []
        for r in bench["rows"]:
            sv, b = r["served"], r["bare"]
            rows.append([r["run"], fmt(sv["fps"], ".1f"), fmt(sv["p50_ms"]), fmt(sv["p99_ms"]),
                         fmt(sv.get("not_infer_p50_ms")), fmt(sv.get("cpu_ms_per_frame")),
                         r["bare_name"], fmt(b["fps"], ".1f"), fmt(b["p50_ms"]), fmt(b["p99_ms"]),
                         fmt(b.get("cpu_ms_per_frame")),
                         fmt(r["served_over_bare_fps"], ".2f", "x"),
                         fmt(r["p50_delta_ms"], "+.2f", " ms") if r["paced"] else "",
                         fmt(r.get("echo", {}).get("p50_ms")),
                         fmt(r.get("echo", {}).get("cpu_ms_per_frame"))])
        lines += md_table(header, rows, "lrrrrrlrrrrrrrr") + [""]
    soak = bench.get("soak")
    if soak:
        lines += [f"Soak: {soak['frames']} frames over {soak['streams']} streams (ngf "
                  f"{soak['ngf']} engine) in {fmt(soak['seconds'], '.1f')} s "
                  f"({fmt(soak['fps'], '.0f')} fps); server RSS "
                  f"{fmt(soak['rss_early_mb'], '.1f')} MB after {soak['rss_early_after_frames']} "
                  f"frames, {fmt(soak['rss_end_mb'], '.1f')} MB at the end "
                  f"(**{fmt(soak['rss_growth_mb'], '+.1f')} MB**).", ""]
    return lines


def md_video_file(bench: dict) -> list[str]:
    s = bench.get("settings", {})
    lines = ["## A 720p video file end to end (bench/video_file.py)", "", *failed_note(bench)]
    if not bench.get("rows"):
        return lines
    frames = s.get("frames") or 0
    lines += [f"{s.get('clip')}, {frames} frames, {s.get('net')}, {s.get('threads')} threads, "
              f"served on {s.get('backend')}. Baseline: **ffmpeg -> official test.py -> ffmpeg**, "
              "re-enacted step by step (the official code is not in this repository), in the "
              "same run.", ""]
    base = bench["baseline_s"]
    rows = [["ffmpeg -> official test.py -> ffmpeg (re-enacted)", fmt(base, ".1f"),
             fmt(frames / base, ".1f"), "1.00x"]]
    rows += [[r["path"], fmt(r["seconds"], ".1f"), fmt(frames / r["seconds"], ".1f"),
              fmt(r["vs_baseline"], ".2f", "x")] for r in bench["rows"]]
    return lines + md_table(["path", "seconds", "fps", "vs baseline"], rows, "lrrr") + [""]


RENDERERS = {"train": md_train, "engines": md_engines, "service": md_service,
             "video_file": md_video_file}


def render_markdown(results: dict) -> str:
    m = results.get("machine", {})
    versions = ", ".join(f"{k} {v}" for k, v in m.get("versions", {}).items() if v)
    flags = ", ".join(k for k, v in m.get("cpu_flags", {}).items() if v) or "none of note"
    lines = ["# Benchmark results", "",
             f"- date: {results.get('date')} ({results.get('mode')} settings)",
             f"- machine: {m.get('cpu_model')}, {m.get('cores')} cores "
             f"({m.get('usable_cores')} usable), bf16: {m.get('bf16')}, VNNI: {m.get('vnni')} "
             f"(flags: {flags})",
             f"- python {m.get('python')}, {versions}",
             f"- code: {m.get('git_commit')}{' (with local changes)' if m.get('git_dirty') else ''}"]
    for name, bench in results.get("benches", {}).items():
        load = bench.get("load_average")
        if load:
            lines.append(f"- {name}: {fmt(bench.get('seconds'), '.0f')} s, 1-minute load "
                         f"average {load['before']:.1f} before, {load['after']:.1f} after"
                         + targets.other_work_text(bench))
    lines += ["", "## Targets", "", *targets.table(results), ""]
    for name, bench in results.get("benches", {}).items():
        lines += RENDERERS.get(name, lambda b: [f"## {name}", "", *failed_note(b)])(bench)
    return "\n".join(lines).rstrip() + "\n"
