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
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import targets  # bench/, this script's folder (and the three below)
from machine_info import machine, machine_cpu_s, other_work, own_cpu_s
from report_markdown import render_markdown
from report_plots import plot_engines, plot_service

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

# ---------------------------------------------------------------------------------------------
# Running the benches (one subprocess each) and writing what they found


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
