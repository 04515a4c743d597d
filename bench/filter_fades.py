"""The server's temporal filter through fades and dissolves, which do not reset it (scene cuts
do): flicker and warping error with the filter off and strong, and how far the filtered output's
brightness trails the unfiltered one, on real frames.

    .venv/bin/python bench/filter_fades.py                   # the shipped edges2bunny engine
    .venv/bin/python bench/filter_fades.py --engine engines/edges2facades

The engine (ONNX Runtime, its own input transform) translates each made-up clip: --frames frames
of the clip from --start (the bunny's held-out tail) as they are, faded to black, faded in from
5 %, and dissolved into the frames from --other-start over 12 and 24 frames (after 12 frames
of the first scene). The filter then runs over the outputs exactly as a server runs it on a
stream. "brightness gap" is the mean over frames of |mean(output strong) - mean(output off)|
in grey levels: how far the filtered output's brightness trails the engine's own (which need
not follow the input's: darker frames have fewer edges); "moved" is the mean |strong - off|
per pixel.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from temporal import CLIP, ROOT  # bench/temporal.py (this folder): the bunny clip


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--engine", type=Path, default=ROOT / "engines" / "edges2bunny")
    p.add_argument("--clip", type=Path, default=CLIP)
    p.add_argument("--start", type=int, default=600, help="first frame (600: the bunny tail)")
    p.add_argument("--other-start", type=int, default=150,
                   help="first frame of the scene the dissolves go to")
    p.add_argument("--frames", type=int, default=48)
    return p.parse_args(argv)


def made_up_clips(frames: np.ndarray, other: np.ndarray) -> dict[str, np.ndarray]:
    """uint8 clips of len(frames) frames: as is, faded out, faded in, and dissolved into
    ``other`` over 12 and 24 frames starting at frame 12."""
    n = len(frames)
    scene, other = frames.astype(np.float32), other[:n].astype(np.float32)

    def weighted(ramp: np.ndarray, a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
        ramp = ramp[:, None, None, None].astype(np.float32)
        mixed = a * ramp if b is None else a * (1 - ramp) + b * ramp
        return np.clip(np.round(mixed), 0, 255).astype(np.uint8)

    clips = {"as it is": frames,
             f"fade to black over {n} frames": weighted(1 - np.arange(n) / n, scene),
             f"fade in from 5 % over {n} frames": weighted(0.05 + 0.95 * np.arange(n) / n, scene)}
    for length in (12, 24):
        ramp = np.clip((np.arange(n) - 12) / length, 0.0, 1.0)
        clips[f"dissolve into another scene over {length} frames"] = weighted(ramp, scene, other)
    return clips


def compare(frames: np.ndarray, outputs: np.ndarray) -> dict[str, float]:
    """The filter off and strong over one clip's outputs."""
    from pix2pix_stream.media.temporal import input_flows, temporal_scores
    from pix2pix_stream.media.temporal_filter import TemporalFilter, temporal_settings
    from pix2pix_stream.pix2pix.video_eval import run_filter

    smoother = TemporalFilter(temporal_settings("strong"))   # kept: its scene-cut count
    strong = run_filter(smoother, frames, outputs)
    pairs = input_flows(list(frames))
    off = temporal_scores(list(frames), list(outputs), pairs=pairs)
    on = temporal_scores(list(frames), list(strong), pairs=pairs)
    gap = np.abs(strong.mean(axis=(1, 2, 3)) - outputs.mean(axis=(1, 2, 3)))
    return {"flicker_off": off.flicker, "flicker_strong": on.flicker,
            "warp_off": off.warp_error, "warp_strong": on.warp_error,
            "brightness_gap": float(gap.mean()),
            "moved": float(np.abs(strong.astype(np.float32) - outputs).mean()),
            "resets": smoother.resets}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.clip.is_file():
        print(f"bench/filter_fades.py: clip not found: {args.clip}", file=sys.stderr)
        return 2
    from pix2pix_stream.engines.runtime.registry import load_backend
    from pix2pix_stream.pix2pix.video_eval import ClipSpec, fitted, load_clip, translate_clip

    engine = load_backend(args.engine, "onnxruntime", max_batch=8)
    translate = fitted(engine.infer, engine.metadata.geometry)
    size = engine.metadata.geometry.crop_size
    frames = load_clip(ClipSpec(str(args.clip), args.start, args.frames), size)
    other = load_clip(ClipSpec(str(args.clip), args.other_start, args.frames), size)
    print(f"{engine.metadata.name} on {args.clip.name}, frames from {args.start} at "
          f"{frames.shape[2]}x{frames.shape[1]}, filter off -> strong\n")
    print("| input | flicker | warping error | brightness gap (grey levels) | moved | resets |")
    print("|---|---|---|---|---|---|")
    for name, clip in made_up_clips(frames, other).items():
        r = compare(clip, translate_clip(translate, clip, engine.metadata.transform))
        print(f"| {name} | {r['flicker_off']:.2f} → {r['flicker_strong']:.2f} | "
              f"{r['warp_off']:.4f} → {r['warp_strong']:.4f} | {r['brightness_gap']:.1f} | "
              f"{r['moved']:.1f} | {r['resets']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
