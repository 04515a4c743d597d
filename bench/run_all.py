"""Runs the train, engines and service benchmarks and writes their results in one place.

    .venv/bin/python bench/run_all.py              # the defaults of every bench (make bench)
    .venv/bin/python bench/run_all.py --quick      # small settings, a few minutes (make bench-quick)
    .venv/bin/python bench/run_all.py --only engines service
    .venv/bin/python bench/run_all.py --render bench/results/results.json   # redraw only
    .venv/bin/python bench/run_all.py --readme      # and rewrite README.md's targets block (make bench)

Each bench runs as its own subprocess (`bench/NAME.py ... --json TMP`), one after the other, so
that they do not compete for the cores; its printed output goes to the terminal and to
OUT/NAME.log. Into OUT (default bench/results/):

- results.json: the machine (CPU model, cores, bf16/VNNI flags, package versions, load, and
  the cores that other processes and hypervisor steal took during each bench), the
  date, and every bench's settings and rows (bench/results_json.py; null = nan, or inf for PSNR);
- results.md: the issue's targets with this run's numbers (bench/targets.py), then one Markdown
  table per bench, each row against the baseline of the same run;
- service.png: served against bare throughput per number of streams, p50/p99 latency per run;
- engines.png: frames per second per inference route and batch size.

A bench that fails is recorded with its exit status; the others still run, and the exit status
of this script is then 1.
"""
from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import targets  # bench/, this script's folder

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
BENCHES = ("train", "engines", "service", "video_file")

# Small settings that finish in a few minutes on a busy 2-core machine: few steps, two batch
# sizes and five routes, short service stretches and a 1000-frame soak.
QUICK_ARGS = {
    "train": ["--steps", "2", "--round", "2", "--warmup", "1"],
    "engines": ["--batches", "1", "8", "--rounds", "3", "--routes", "torch", "onnxruntime",
                "onnxruntime-int8", "openvino", "torch-bf16"],
    "service": ["--frames", "80", "--rounds", "2", "--soak-frames", "1000"],
    "video_file": ["--drawn", "--frames", "24"],
}
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_int8",
             "amx_tile")
PACKAGES = ("torch", "onnxruntime", "openvino", "numpy", "grpcio", "matplotlib")


# ---------------------------------------------------------------------------------------------
# Machine description and running the benches


def machine() -> dict:
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                                capture_output=True, check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                    cwd=ROOT, text=True, capture_output=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = None, None
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "cpu_flags": {flag: flag in flags for flag in CPU_FLAGS},
        "bf16": any(f in flags for f in ("avx512_bf16", "amx_bf16")),
        "vnni": any(f in flags for f in ("avx512_vnni", "avx_vnni", "amx_int8")),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "git_commit": commit,
        "git_dirty": dirty,
    }


def machine_cpu_s() -> tuple[float, float] | None:
    """(busy, stolen) CPU seconds of the whole machine so far, from /proc/stat; None elsewhere.
    Busy = user + nice + system + irq + softirq; stolen = time the hypervisor gave elsewhere."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / tick, steal / tick


def own_cpu_s() -> float:
    """CPU seconds of this process and of every child it has waited for (the benches and, as
    they wait for theirs, their servers and clients)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def other_work(before: tuple, after: tuple, own_s: float, seconds: float) -> dict | None:
    """How many cores, on average over a bench, went to work that was not the bench's own
    (other processes) and to the hypervisor's other guests (steal). The load average cannot
    tell: a bench's own server, client and inference threads push it above the core count."""
    if before is None or after is None or seconds <= 0:
        return None
    busy, steal = after[0] - before[0], after[1] - before[1]
    return {"other_cores": max(0.0, busy - own_s) / seconds, "steal_cores": steal / seconds}


def run_bench(name: str, extra: list[str], out_dir: Path) -> dict:
    """Runs bench/NAME.py with --json into a temp file; its payload plus how it ran."""
    with tempfile.TemporaryDirectory() as tmp:
        json_path = Path(tmp) / f"{name}.json"
        command = [sys.executable, str(BENCH / f"{name}.py"), *extra, "--json", str(json_path)]
        print(f"\n=== {name}: bench/{name}.py {' '.join(extra)}", flush=True)
        load_before, start = os.getloadavg()[0], time.perf_counter()
        machine_before, own_before = machine_cpu_s(), own_cpu_s()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(out_dir / f"{name}.log", "w") as log:
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True)
            for line in process.stdout:
                sys.stdout.write(line)
                log.write(line)
            returncode = process.wait()
        seconds = time.perf_counter() - start
        others = other_work(machine_before, machine_cpu_s(), own_cpu_s() - own_before, seconds)
        payload = json.loads(json_path.read_text()) if json_path.is_file() else {"bench": name}
    payload.update(command=["bench/" + Path(command[1]).name, *extra], returncode=returncode,
                   seconds=seconds, other_work=others,
                   load_average={"before": load_before, "after": os.getloadavg()[0]})
    if returncode != 0:
        print(f"=== {name} FAILED with exit status {returncode} (see {out_dir / name}.log)",
              flush=True)
    return payload


# ---------------------------------------------------------------------------------------------
# Rendering: Markdown and plots from a results dict (also used by tests/test_bench.py)


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


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, path: Path) -> bool:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_service(bench: dict, path: Path) -> bool:
    rows = bench.get("rows") or []
    if not rows:
        return False
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5), width_ratios=(1, 1.3))

    # Throughput: the back-to-back rows (pipelined streams) against the bare batch they map to.
    flow = [r for r in rows if not r["paced"]]
    if flow:
        x = [r["streams"] for r in flow]
        served = [r["served"]["fps"] for r in flow]
        bare = [r["bare"]["fps"] for r in flow]
        left.plot(x, bare, "s--", color="tab:orange", label="bare backend")
        left.plot(x, served, "o-", color="tab:blue", label="served (gRPC)")
        for r, xs, ys, yb in zip(flow, x, served, bare):
            left.annotate(f"{r['served_over_bare_fps']:.2f}x", (xs, ys), textcoords="offset points",
                          xytext=(0, -16), ha="center", color="tab:blue", fontsize=9)
            left.annotate(f"batch {r['bare_batch']}", (xs, yb), textcoords="offset points",
                          xytext=(0, 8), ha="center", color="tab:orange", fontsize=9)
        left.set_xscale("log", base=2)
        left.set_xticks(x, [str(v) for v in x])
        left.minorticks_off()
        left.set_xlim(min(x) / 1.5, max(x) * 1.5)
        top = max(served + bare)
        left.set_ylim(0, top * 1.2)
        left.set_xlabel(f"concurrent streams ({flow[0]['inflight']} frames in flight each)")
        left.set_ylabel("frames per second")
        left.set_title("Throughput: served vs bare backend")
        left.grid(alpha=0.3)
        left.legend(loc="lower right")

    # Latency: p50 and p99 per run, served next to bare.
    labels = [r["run"].replace(", ", "\n") + ("\n(paced)" if r["paced"] else "") for r in rows]
    series = [("served p50", "served", "p50_ms", "tab:blue", None),
              ("served p99", "served", "p99_ms", "tab:blue", "//"),
              ("bare p50", "bare", "p50_ms", "tab:orange", None),
              ("bare p99", "bare", "p99_ms", "tab:orange", "//")]
    width = 0.2
    for i, (label, side, key, color, hatch) in enumerate(series):
        xs = [j + (i - 1.5) * width for j in range(len(rows))]
        values = [r[side][key] for r in rows]
        bars = right.bar(xs, values, width, label=label, color=color,
                         alpha=0.55 if hatch else 0.9, hatch=hatch, edgecolor="white")
        right.bar_label(bars, fmt="%.0f", fontsize=7, padding=1)
    right.set_yscale("log")
    right.set_ylim(top=right.get_ylim()[1] * 2)  # room for the labels and the legend
    right.set_xticks(range(len(rows)), labels, fontsize=9)
    right.set_ylabel("latency, ms, log scale (bare: per call of its batch)")
    right.set_title("Latency percentiles per run")
    right.grid(axis="y", alpha=0.3)
    right.legend(fontsize=8, ncol=4, loc="upper left")

    s = bench.get("settings", {})
    fig.suptitle(f"pix2pix-serve, {s.get('size')}x{s.get('size')} frames, unet_256 ngf "
                 f"{s.get('ngf')}, {s.get('threads')} inference threads, max batch "
                 f"{s.get('max_batch')}")
    return _save(plt, fig, path)


def plot_engines(bench: dict, path: Path) -> bool:
    rows = bench.get("rows") or []
    if not rows:
        return False
    plt = _pyplot()
    batches = [str(b) for b in bench.get("settings", {}).get("batches", [])] or list(rows[0]["fps"])
    fig, ax = plt.subplots(figsize=(11, 1.5 + 0.3 * len(rows) * len(batches)))
    height = 0.8 / len(batches)
    colors = plt.get_cmap("viridis")([0.2 + 0.6 * i / max(1, len(batches) - 1)
                                      for i in range(len(batches))])
    for i, b in enumerate(batches):
        ys = [j + (i - (len(batches) - 1) / 2) * height for j in range(len(rows))]
        values = [r["fps"].get(b) or 0.0 for r in rows]
        bars = ax.barh(ys, values, height, label=f"batch {b}", color=colors[i])
        ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=2)
    base = next((r for r in rows if r["route"] == bench.get("baseline", "torch")), None)
    if base is not None:
        last = batches[-1]
        ax.axvline(base["fps"][last], color="grey", linestyle="--", linewidth=1,
                   label=f"PyTorch eager fp32, batch {last}")
    ax.set_yticks(range(len(rows)),
                  [f"{route_label(r)}  ({fmt(r['x_torch'], '.2f', 'x')})" for r in rows])
    ax.invert_yaxis()
    ax.set_xlabel("frames per second (label: speed-up against PyTorch eager fp32 at batch "
                  f"{batches[-1]})")
    s = bench.get("settings", {})
    ax.set_title(f"Inference routes, {s.get('netG')} ngf {s.get('ngf')} at "
                 f"{s.get('size')}x{s.get('size')}, {s.get('threads')} threads")
    ax.grid(axis="x", alpha=0.3)
    ax.set_xlim(0, ax.get_xlim()[1] * 1.08)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(plt, fig, path)


def render(results: dict, out_dir: Path) -> list[Path]:
    """Writes results.json, results.md and the plots into out_dir; the paths written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "results.json", out_dir / "results.md"]
    written[0].write_text(json.dumps(results, indent=2) + "\n")
    written[1].write_text(render_markdown(results))
    benches = results.get("benches", {})
    for name, plot in (("service", plot_service), ("engines", plot_engines)):
        if name in benches and plot(benches[name], out_dir / f"{name}.png"):
            written.append(out_dir / f"{name}.png")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small settings (a few minutes)")
    parser.add_argument("--only", nargs="+", choices=BENCHES, default=list(BENCHES),
                        help="run only these benches")
    parser.add_argument("--out", type=Path, default=BENCH / "results", help="output folder")
    parser.add_argument("--render", type=Path, metavar="RESULTS_JSON",
                        help="run nothing: redraw results.md and the plots from this file")
    parser.add_argument("--readme", type=Path, nargs="?", const=ROOT / "README.md",
                        metavar="README", help="rewrite the targets block of this README "
                        "(default README.md) from the results")
    args = parser.parse_args(argv)

    if args.render:
        results = json.loads(args.render.read_text())
    else:
        args.out.mkdir(parents=True, exist_ok=True)
        results = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                   "mode": "quick" if args.quick else "default", "machine": machine(),
                   "benches": {}}
        for name in args.only:
            extra = QUICK_ARGS[name] if args.quick else []
            results["benches"][name] = run_bench(name, extra, args.out)
    written = render(results, args.out)
    print("\n" + render_markdown(results))
    if args.readme:
        try:
            targets.rewrite_readme(args.readme, results)
        except targets.MarkersMissing as exc:
            print(f"run_all: {exc}", file=sys.stderr)
            return 1
        written.append(args.readme)
    print("\n".join(["Targets (issue 15), this run:", "", *targets.table(results), ""]))
    print("wrote " + ", ".join(str(p) for p in written))
    failed = [n for n, b in results["benches"].items() if b.get("returncode", 0) != 0]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
