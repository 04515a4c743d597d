"""The performance targets of issue 15 with this run's numbers next to them.

bench/run_all.py prints this table last, puts it at the top of results.md, and with --readme
rewrites the block of README.md between the two markers below from it (make bench does).
Each "now" is computed from the results of the same run only; a target whose baseline no bench
here measures says so instead of borrowing an old number. Beside the service targets stands
their transport floor, measured in the same run: what the same client and frames cost against a
server that sends each frame straight back (bench/echo_server.py), so a target below it cannot
be met by any server code over this transport on this machine.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

BEGIN = "<!-- bench:targets begin (bench/run_all.py --readme writes this block; edits are lost) -->"
END = "<!-- bench:targets end -->"


class MarkersMissing(ValueError):
    """The README has no block to rewrite."""


@dataclass(frozen=True)
class Target:
    what: str
    target: str
    measure: Callable[[dict], tuple[str, bool | None]]  # results -> (now, met; None = unknown)
    floor: Callable[[dict], str] | None = None   # results -> the same measure's transport floor


def _bench(results: dict, name: str) -> dict | None:
    """The bench's payload when it ran and succeeded, else None."""
    bench = results.get("benches", {}).get(name)
    if not bench or bench.get("returncode", 0) != 0 or not bench.get("rows"):
        return None
    return bench


def _square_rows(bench: dict) -> list[dict]:
    """The service rows at 256x256 raw frames, the issue's unit (rows of other compute sizes
    follow them; rows without a size come from runs before sizes were recorded)."""
    return [r for r in bench["rows"] if r.get("size", "256x256") == "256x256"]


def _missing(results: dict, name: str) -> tuple[str, None]:
    bench = results.get("benches", {}).get(name)
    if bench is None:
        return f"not run (bench/{name}.py was left out)", None
    return f"bench/{name}.py failed (exit status {bench.get('returncode')})", None


def service_cpu_outside_inference(results: dict) -> tuple[str, bool | None]:
    """CPU ms per frame of server + client minus the bare backend's, median over the
    back-to-back rows (1, 4 and 16 streams)."""
    bench = _bench(results, "service")
    if bench is None:
        return _missing(results, "service")
    extra = [r["served"]["cpu_ms_per_frame"] - r["bare"]["cpu_ms_per_frame"]
             for r in _square_rows(bench) if not r["paced"]]
    value = statistics.median(extra)
    return f"{value:.2f} ms/frame", value <= 1.5


def _echo_rows(results: dict) -> list[dict] | None:
    """The square rows when every one of them has its echo (bench/echo_server.py) numbers."""
    bench = _bench(results, "service")
    rows = _square_rows(bench) if bench else []
    return rows if rows and all("echo" in r for r in rows) else None


def echo_cpu_per_frame(results: dict) -> str:
    """The echo server's CPU ms per frame (its own + the client's), median over the same rows
    as the service's: no server of this protocol spends less on these frames."""
    rows = _echo_rows(results)
    if rows is None:
        return "not measured"
    value = statistics.median(r["echo"]["cpu_ms_per_frame"] for r in rows if not r["paced"])
    return f"{value:.2f} ms/frame"


def echo_p50(results: dict) -> str:
    """The echo server's p50 in the paced row: the bare backend has no transport, so served
    minus bare p50 cannot go below it."""
    rows = _echo_rows(results)
    if rows is None:
        return "not measured"
    (row,) = [r for r in rows if r["paced"]]
    return f"+{row['echo']['p50_ms']:.2f} ms"


def four_streams_over_bare(results: dict) -> tuple[str, bool | None]:
    bench = _bench(results, "service")
    if bench is None:
        return _missing(results, "service")
    (row,) = [r for r in _square_rows(bench) if r["streams"] == 4 and not r["paced"]]
    ratio = row["served_over_bare_fps"]
    return f"{ratio:.2f}×", ratio >= 0.90


def one_stream_p50_over_bare(results: dict) -> tuple[str, bool | None]:
    bench = _bench(results, "service")
    if bench is None:
        return _missing(results, "service")
    (row,) = [r for r in _square_rows(bench) if r["paced"]]
    delta = row["p50_delta_ms"]
    return f"{delta:+.2f} ms", delta <= 1.0


def training_step(results: dict) -> tuple[str, bool | None]:
    bench = _bench(results, "train")
    if bench is None:
        return _missing(results, "train")
    (row,) = [r for r in bench["rows"] if "[default]" in r["variant"]]
    drifts = [d for d in (row.get("g_l1_drift"), row.get("d_drift")) if d is not None]
    drift = max(drifts) if drifts else None
    drift_text = f"{drift:.2%}" if drift is not None else "unknown"
    met = row["vs_baseline"] >= 2.0 and drift is not None and drift <= 0.01
    return f"{row['vs_baseline']:.2f}× (loss drift {drift_text})", met


def video_file(results: dict) -> tuple[str, bool | None]:
    bench = _bench(results, "video_file")
    if bench is None:
        return _missing(results, "video_file")
    ratios = {("--server-decode" if "server-decode" in r["path"] else "default"): r["vs_baseline"]
              for r in bench["rows"]}
    text = ", ".join(f"{name} {ratio:.2f}×" for name, ratio in ratios.items())
    return text, all(ratio >= 5.0 for ratio in ratios.values())


TARGETS = (
    Target("service CPU outside inference, raw 256² frames (server + client, bench/service.py "
           "cpu/frame minus bare, median of the 1/4/16-stream rows)", "≤ 1.5 ms/frame",
           service_cpu_outside_inference, echo_cpu_per_frame),
    Target("4 streams served / bare batch 4", "≥ 0.90×", four_streams_over_bare),
    Target("1 stream p50 over bare batch 1", "≤ +1.0 ms", one_stream_p50_over_bare, echo_p50),
    Target("training step vs the official fp32 step (bench/train.py)",
           "≥ 2.0× at loss drift ≤ 1%", training_step),
    Target("720p file, pix2pix-client video default path and --server-decode vs ffmpeg → "
           "official test.py → ffmpeg (re-enacted, bench/video_file.py)", "≥ 5× on both paths",
           video_file),
)


FLOOR_HEADING = "transport floor (this run: bench/echo_server.py, no model)"


def table(results: dict) -> list[str]:
    """The Markdown table: what | now (this run) | target | transport floor."""
    lines = [f"| what | now (this run) | target | {FLOOR_HEADING} |", "|---|---|---|---|"]
    for t in TARGETS:
        now, met = t.measure(results)
        verdict = {True: " (met)", False: " (missed)", None: ""}[met]
        floor = t.floor(results) if t.floor else "–"
        lines.append(f"| {t.what} | {now}{verdict} | {t.target} | {floor} |")
    return lines


BUSY_CORES = 0.25   # other work above this many cores on average: the run was not alone


def other_work_text(bench: dict) -> str:
    """', other work 0.03 cores, steal 0.00' when the run measured it, else ''."""
    others = bench.get("other_work")
    if not others:
        return ""
    return (f", other work {others['other_cores']:.2f} cores, hypervisor steal "
            f"{others['steal_cores']:.2f} cores")


def provenance(results: dict) -> str:
    """Where the numbers come from, and whether the benches had the machine to themselves:
    measured as the CPU that went elsewhere during each bench (other processes, and steal to
    other guests) where the run recorded it, else judged from the 1-minute load average, which
    the benches' own threads also raise."""
    m = results.get("machine", {})
    benches = results.get("benches", {})
    loads = [f"{name} {b['load_average']['before']:.1f}→{b['load_average']['after']:.1f}"
             for name, b in benches.items() if b.get("load_average")]
    commit = m.get("git_commit") or "?"
    text = (f"`bench/run_all.py` ({results.get('mode')} settings) on {results.get('date')}: "
            f"{m.get('cpu_model')}, {m.get('cores')} cores, commit {commit}"
            f"{' with local changes' if m.get('git_dirty') else ''}; 1-minute load average "
            f"before→after each bench: {', '.join(loads) or 'not recorded'}.")
    measured = {name: b["other_work"] for name, b in benches.items() if b.get("other_work")}
    if measured:
        shares = ", ".join(f"{name} {o['other_cores'] + o['steal_cores']:.2f}"
                           for name, o in measured.items())
        text += f" Cores taken by other work and hypervisor steal during each bench: {shares}."
        busy = [name for name, o in measured.items()
                if o["other_cores"] + o["steal_cores"] > BUSY_CORES]
        if busy:
            text += (f" **Other work shared the cores during {', '.join(busy)}**: wall-clock "
                     "ratios there partly measure who got the cores; re-run on a quiet machine "
                     "before trusting a verdict.")
        return text
    peak = max((max(b["load_average"].values()) for b in benches.values()
                if b.get("load_average")), default=0.0)
    if m.get("cores") and peak > m["cores"]:
        text += (f" **The load exceeded the {m['cores']} cores**: other work shared them, so "
                 "wall-clock ratios here mostly measure who got the cores; re-run on a quiet "
                 "machine before trusting a verdict.")
    return text


def readme_block(results: dict) -> str:
    return "\n".join([BEGIN, provenance(results), "", *table(results), END])


def rewrite_readme(path: Path, results: dict) -> None:
    """Replaces the marked block of the README at ``path`` with this run's table."""
    text = Path(path).read_text()
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise MarkersMissing(f"{path} has no block between {BEGIN!r} and {END!r}")
    Path(path).write_text(text[:start] + readme_block(results) + text[end + len(END):])
