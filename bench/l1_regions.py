"""Where on the frame a run's held-out L1 comes from, against a baseline run: the mean L1 of
each region of a grid over a clip's frames, for two or more pix2pix-train runs (the first is the
baseline), and a picture of it.

    .venv/bin/python bench/l1_regions.py --runs runs/base_s0 runs/dinv_s0 runs/sinv65_s0

Why: a training term's L1 cost can be blur (every region a little worse) or one region painted
wrong (the rest as good or better). The two call for different fixes, and one number over the
frame cannot tell them apart; the table can. Frames are loaded and translated as pix2pix-eval
does (short side at --size, aspect kept, padded to the U-Net's multiple and cropped back),
Canny edges in, so the "all" row is pix2pix-eval's L1.

Writes --out/l1_regions.jpg: the clip's middle frame and each run's output over it, and below
each run the mean of (its error - the baseline's error) per pixel, red where it is worse.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from temporal import CANNY, CLIP, ROOT  # bench/temporal.py (this folder): the clip, its edges


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=Path, nargs="+", required=True,
                   help="pix2pix-train run folders (their latest.pt); the first is the baseline")
    p.add_argument("--clip", type=Path, default=CLIP)
    p.add_argument("--start", type=int, default=600, help="first frame (600: the bunny tail)")
    p.add_argument("--size", type=int, default=256, help="short side the frames are scored at")
    p.add_argument("--columns", type=int, default=5)
    p.add_argument("--rows", type=int, default=2)
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--out", type=Path, default=ROOT / "out" / "l1_regions")
    args = p.parse_args(argv)
    if len(args.runs) < 2:
        p.error("--runs needs a baseline and at least one run to compare with it")
    return args


def l1_map(outputs: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Mean over frames and channels of |output - frame|, on pix2pix's [-1, 1] scale: [H, W]."""
    error = np.zeros(frames.shape[1:3], np.float64)
    for out, frame in zip(outputs, frames):
        error += np.abs(out.astype(np.float32) - frame.astype(np.float32)).mean(axis=2)
    return (error / (len(frames) * 127.5)).astype(np.float32)


def region_sums(error: np.ndarray, columns: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """(sums, pixel counts), each [rows, columns], of ``error`` [H, W] over a grid of near-equal
    regions."""
    cells = [np.array_split(band, columns, axis=1) for band in np.array_split(error, rows, axis=0)]
    return (np.array([[float(c.sum()) for c in band] for band in cells]),
            np.array([[c.size for c in band] for band in cells]))


def region_names(columns: int, rows: int) -> list[str]:
    """Row-major names of the grid's regions: 'top, column 1 of 5', ... ."""
    heights = {1: ["all rows"], 2: ["top", "bottom"], 3: ["top", "middle", "bottom"]}
    names = heights.get(rows, [f"row {r + 1} of {rows}" for r in range(rows)])
    return [f"{name}, column {c + 1} of {columns}" for name in names for c in range(columns)]


def table(names: list[str], maps: list[np.ndarray], columns: int, rows: int) -> list[str]:
    """Markdown rows: L1 per region per run, each beside the baseline (the first map); then the
    whole frame, and the frame without the region where each run loses most to the baseline
    (the baseline over the same pixels in brackets)."""
    stats = [region_sums(m, columns, rows) for m in maps]
    counts = stats[0][1].ravel()
    base, *others = [s.ravel() for s, _ in stats]

    def line(label: str, first: str, pairs: list[tuple[float, float]]) -> str:
        return (f"| {label} | {first} | "
                + " | ".join(f"{v:.3f} ({v / b - 1:+.0%})" for v, b in pairs) + " |")

    lines = ["| region | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for i, region in enumerate(region_names(columns, rows)):
        b = base[i] / counts[i]
        lines.append(line(region, f"{b:.3f}", [(o[i] / counts[i], b) for o in others]))
    b = base.sum() / counts.sum()
    lines.append(line("all", f"{b:.3f}", [(o.sum() / counts.sum(), b) for o in others]))
    without = []
    for o in others:
        w = int(np.argmax((o - base) / counts))
        kept = counts.sum() - counts[w]
        without.append(((o.sum() - o[w]) / kept, (base.sum() - base[w]) / kept))
    lines.append(line("all but the region each run loses most in", "-", without))
    return lines


def picture(frame: np.ndarray, outputs: list[tuple[np.ndarray, str]], maps: list[np.ndarray],
            path: Path) -> None:
    """Frame and (output, run name) on top; under the baseline its mean error, under each other
    run its mean error minus the baseline's."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(outputs)
    fig, axes = plt.subplots(2, n + 1, figsize=(3.0 * (n + 1), 3.6), squeeze=False,
                             layout="constrained")
    for ax in axes.ravel():
        ax.axis("off")
    axes[0, 0].imshow(frame)
    axes[0, 0].set_title("frame", fontsize=9)
    for i, (out, name) in enumerate(outputs, start=1):
        axes[0, i].imshow(out)
        axes[0, i].set_title(name, fontsize=8)
    axes[1, 1].imshow(maps[0], cmap="magma", vmin=0.0, vmax=1.0)
    axes[1, 1].set_title("its error (mean)", fontsize=8)
    shown = None
    for i in range(2, n + 1):
        shown = axes[1, i].imshow(maps[i - 1] - maps[0], cmap="RdBu_r", vmin=-0.4, vmax=0.4)
        axes[1, i].set_title("error − baseline's (mean)", fontsize=8)
    if shown is not None:
        fig.colorbar(shown, ax=axes[1, -1], fraction=0.05)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.clip.is_file():
        print(f"bench/l1_regions.py: clip not found: {args.clip}", file=sys.stderr)
        return 2
    import torch

    from pix2pix_stream.media.transforms import InputTransform
    from pix2pix_stream.pix2pix.video_eval import (ClipSpec, checkpoint_translator, load_clip,
                                                   translate_clip)

    torch.set_num_threads(args.threads)
    frames = load_clip(ClipSpec(str(args.clip), start=args.start), args.size)
    names, maps, middles = [], [], []
    for run in args.runs:
        translate, _ = checkpoint_translator(str(run / "latest.pt"), "cpu")
        outputs = translate_clip(translate, frames, InputTransform.from_dict(CANNY))
        names.append(run.name)
        maps.append(l1_map(outputs, frames))
        middles.append((outputs[len(outputs) // 2], run.name))
    print(f"L1 per region, frames {args.start}-{args.start + len(frames) - 1} of {args.clip.name} "
          f"at {frames.shape[2]}x{frames.shape[1]}; in brackets: against {names[0]}")
    print("\n".join(table(names, maps, args.columns, args.rows)))
    path = args.out / "l1_regions.jpg"
    picture(frames[len(frames) // 2], middles, maps, path)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
