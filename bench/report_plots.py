"""The plots of a bench/run_all.py results dict: service.png (served against bare throughput per
number of streams, p50/p99 latency per run) and engines.png (frames per second per inference
route and batch size). matplotlib is imported only when a plot is drawn."""
from __future__ import annotations

from pathlib import Path

from report_markdown import fmt, route_label  # bench/, this script's folder


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
