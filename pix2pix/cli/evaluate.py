"""pix2pix-eval: L1 / PSNR / SSIM of a checkpoint on a folder of pairs, plus a contact sheet; with
--video, the temporal stability of a checkpoint or an engine on a clip."""
from __future__ import annotations

import argparse
import json
import sys

from pix2pix_stream.pix2pix.cli.common import EXIT_OK, run_main

DESCRIPTION = """\
Score a pix2pix-stream checkpoint on paired data: the same kinds of --data as pix2pix-train
(aligned A|B folder, folder with A/ and B/, or a video with the checkpoint's input transform).
Images are resized to the checkpoint's image size, without jitter. Prints the mean L1 (in the
generator's [-1, 1] range, as the G_L1 training loss), PSNR (dB, peak 1) and SSIM (Gaussian
window 11, sigma 1.5, as Wang et al. 2004), and writes a contact sheet: one row per sample,
input | output | target.

With --video CLIP the model (a checkpoint or an engine directory) translates the clip frame by
frame and pix2pix-eval prints its temporal stability: flicker (mean |out[t] - out[t-1]| over
mean |in[t] - in[t-1]|; 1 = the output changes as much as the input) and warping error (mean
|out[t] - warp(out[t-1])| along the clip's own optical flow, over pixels where the flow passes
a forward-backward check), beside the clip's own warping error, the floor (Lai et al. 2018).
When the clip's frames are the targets (a model trained on video, or --targets) it also prints
L1 / PSNR / SSIM over the frames.
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pix2pix-eval", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="example: pix2pix-eval runs/facades/best.pt --data "
                                       "../shared/data/facades/train --sheet facades.png")
    p.add_argument("checkpoint", help="a checkpoint written by pix2pix-train (.pt); with --video "
                                      "also an engine directory")
    p.add_argument("--data", default=None, help="pairs to score on (or use --video)")
    p.add_argument("--data-mode", default="auto", choices=["auto", "aligned", "pairs", "video"])
    p.add_argument("--direction", default=None, choices=["AtoB", "BtoA"],
                   help="default: the checkpoint's")
    p.add_argument("--sheet", default="contact_sheet.png",
                   help="contact-sheet PNG path, '' for none (default: %(default)s)")
    p.add_argument("--sheet-rows", type=int, default=8, help="samples on the sheet (default: 8)")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.add_argument("--no-progress", action="store_true")
    from pix2pix_stream.pix2pix.cli.video_eval import add_video_arguments
    add_video_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_main(lambda: _run(args), "pix2pix-eval")


def _run(args) -> int:
    from pix2pix_stream.pix2pix.evaluate import EvalConfig, evaluate_checkpoint

    if args.video:
        from pix2pix_stream.pix2pix.cli.video_eval import run_video
        return run_video(args)
    if not args.data:
        from pix2pix_stream.pix2pix.errors import ConfigError
        raise ConfigError("give --data (pairs) or --video (a clip) to score on")
    result = evaluate_checkpoint(EvalConfig(
        checkpoint=args.checkpoint, data=args.data, mode=args.data_mode, direction=args.direction,
        sheet=args.sheet or None, sheet_rows=args.sheet_rows, batch_size=args.batch_size,
        device=args.device, progress=not args.no_progress))
    if args.json:
        print(json.dumps({**result.metrics, "count": result.count,
                          "sheet": str(result.sheet) if result.sheet else None}))
    else:
        print(f"{result.count} pairs: L1 {result.metrics['l1']:.4f}  PSNR {result.metrics['psnr']:.2f} dB"
              f"  SSIM {result.metrics['ssim']:.4f}")
        if result.sheet:
            print(f"contact sheet: {result.sheet}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
