"""Second half of scripts/train_bunny_engine.sh: scores the trained edges2bunny checkpoint on
the clip's held-out tail (its last 5 s: L1 / PSNR / SSIM against the true frames, flicker and
warping error beside the input's own floor, with and without the server's temporal filter),
re-exports the engine with its int8 graph calibrated on training frames, draws the card's
picture of consecutive held-out frames and writes the model card.

    .venv/bin/python scripts/finish_bunny_engine.py RUN_DIR ENGINE_DIR [BASELINE_RUN_DIR]

BASELINE_RUN_DIR: the same training without the stability terms (same seed, steps and
frames); its held-out scores go on the card beside this engine's.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from pix2pix_stream.engines.build.export import export_checkpoint
from pix2pix_stream.engines.runtime.metadata import read_metadata
from pix2pix_stream.engines.runtime.model_card import write_model_card
from pix2pix_stream.media.transforms import InputTransform
from pix2pix_stream.pix2pix.video_eval import ClipSpec, checkpoint_translator, load_clip

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CLIP = ROOT.parent / "shared" / "data" / "video" / "bigbuckbunny_30s_720p.webm"
TRAIN_FRAMES = 600   # the first 25 s at 24 fps; the last 120 frames are held out
SIZE = 256


def held_out_scores(checkpoint: Path, temporal: str = "off") -> dict:
    out = subprocess.run([str(BIN / "pix2pix-eval"), str(checkpoint), "--video", str(CLIP),
                          "--start-frame", str(TRAIN_FRAMES), "--temporal", temporal, "--json"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def calibration_frames(count: int = 32) -> list[np.ndarray]:
    """Training frames only (never held-out ones), evenly spread; export applies Canny."""
    frames = load_clip(ClipSpec(str(CLIP), frames=TRAIN_FRAMES), SIZE)
    return [frames[int(i)] for i in np.linspace(0, len(frames) - 1, count)]


def samples(checkpoint: Path, transform: InputTransform, out: Path, rows: int = 4) -> None:
    """Consecutive held-out frames: Canny edges (input) | output | the true frame."""
    translate, _ = checkpoint_translator(str(checkpoint), "cpu")
    frames = load_clip(ClipSpec(str(CLIP), start=TRAIN_FRAMES + 30, frames=rows), SIZE)
    edges = np.stack([transform(f) for f in frames])
    outputs = translate(edges)
    sheet = np.concatenate([np.concatenate([e, o, f], axis=1)
                            for e, o, f in zip(edges, outputs, frames)])
    cv2.imwrite(str(out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])


def score_table(rows: dict[str, dict]) -> str:
    lines = ["| held-out last 5 s (120 frames, 455x256) | flicker | warping error (input's own) "
             "| detail | L1 | PSNR dB | SSIM |", "|---|---|---|---|---|---|---|"]
    for name, s in rows.items():
        lines.append(f"| {name} | {s['flicker']:.3f} | {s['warp_error']:.4f} "
                     f"({s['warp_floor']:.4f}) | {s['detail']:.2f} | {s['l1']:.3f} | "
                     f"{s['psnr']:.2f} | {s['ssim']:.3f} |")
    return "\n".join(lines)


def card_notes(rows: dict[str, dict], command: str) -> str:
    return f"""
## Data

Big Buck Bunny (c) 2008 Blender Foundation, www.bigbuckbunny.org, CC-BY 3.0: the first 30 s
(`bigbuckbunny_30s_720p.webm` of ../shared/data, 720 frames at 24 fps, 1280x720). The first
600 frames (25 s) trained; the last 120 (5 s) are held out and never seen in training. The input
is the frames' Canny edges (OpenCV, thresholds 100/200), made by the same
`pix2pix_stream.media.transforms` function the server applies to live frames; the target is the
frame. Frames keep their aspect ratio: short side 256 (455x256), random 256x256 crops in
training; served at the default policy (short side 256, padded to 512x256, cropped back).

## Training

Realtime generator (unet_256, ngf 16, 3.4 M parameters), 70x70 PatchGAN with ndf 32 (half the
paper's width: the discriminator was 95 % of each step's CPU time at ndf 64), batch 4, 8 epochs
(4 + 4 decay, 1200 steps), with the stability terms of issue 12: transform consistency
(`--stability 100`) and temporal consistency along the target frames' flow
(`--temporal-weight 100`); the engine holds the moving average of the generator's weights
(`--ema 0.999`, the default). One CPU thread on a shared 2-core machine. Command:

    {command}

## Held-out scores

{score_table(rows)}

Flicker: how much the output changes per unit of change of the input (1 = as much); warping
error: mean |out[t] - out[t-1] moved along the input's flow| where that flow is reliable, beside
the input's own (Lai et al., ECCV 2018). docs/temporal.md explains both.

## Samples

Consecutive held-out frames: Canny edges (input) | this engine's output | the true frame.

![held-out samples](samples.jpg)

The output is blurry: a small generator trained for 1200 steps on one CPU thread; edges leave
colour open, so the colours are a guess learned from this film's first 25 s.
"""


def main() -> int:
    run, engine_dir = Path(sys.argv[1]), Path(sys.argv[2])
    baseline = Path(sys.argv[3]) if len(sys.argv) > 3 else None
    checkpoint = run / "latest.pt"
    meta = read_metadata(engine_dir)
    rows = {}
    if baseline is not None:
        rows["same training without the stability terms"] = held_out_scores(
            baseline / "latest.pt")
    rows["**this engine**"] = held_out_scores(checkpoint)
    rows["this engine + server filter `--temporal strong`"] = held_out_scores(checkpoint, "strong")
    training = {**meta.training, "held_out_eval": rows["**this engine**"],
                "held_out_eval_filter_strong":
                    rows["this engine + server filter `--temporal strong`"]}
    if baseline is not None:
        training["held_out_eval_without_stability_terms"] = \
            rows["same training without the stability terms"]
    export_checkpoint(checkpoint, engine_dir, name=engine_dir.name, training=training,
                      description="Canny edges -> Big Buck Bunny frame (pix2pix video engine, "
                                  "unet_256 ngf 16, stability terms)",
                      calibration=calibration_frames())
    meta = read_metadata(engine_dir)
    samples(checkpoint, meta.transform, engine_dir / "samples.jpg")
    write_model_card(engine_dir, meta, notes=card_notes(rows, meta.training.get(
        "command_line", "")))
    print(score_table(rows))
    print(json.dumps(meta.artifacts, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
