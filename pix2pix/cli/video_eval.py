"""pix2pix-eval --video: temporal stability (and, with targets, L1/PSNR/SSIM) of a checkpoint or
an engine on a clip. The scoring is pix2pix_stream.pix2pix.video_eval's; this module only turns
the command line into a ``translate`` function and prints."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from pix2pix_stream.pix2pix.cli.common import EXIT_OK


def add_video_arguments(p: argparse.ArgumentParser) -> None:
    v = p.add_argument_group("video stability (--video)")
    v.add_argument("--video", default=None, metavar="CLIP",
                   help="score temporal stability on this clip instead of pairs")
    v.add_argument("--start-frame", type=int, default=0, help="first frame scored (default: 0)")
    v.add_argument("--frames", type=int, default=None, help="frames scored (default: to the end)")
    v.add_argument("--stride", type=int, default=1, help="score every Nth frame (default: 1)")
    v.add_argument("--temporal", default="off", choices=["off", "light", "strong"],
                   help="run the server's temporal filter over the outputs (default: off)")
    v.add_argument("--targets", action=argparse.BooleanOptionalAction, default=None,
                   help="the clip's frames are the targets: also L1/PSNR/SSIM (default: when the "
                        "model was trained on a video)")
    v.add_argument("--backend", default="auto", help="engine backend (default: auto)")
    v.add_argument("--per-frame", default=None, metavar="JSON",
                   help="write per-frame scores to this JSON file")


def model_translator(model: str, *, backend: str, device: str, batch_size: int):
    """(translate, input size, input transform, trained on video?) for a checkpoint or an
    engine directory."""
    from pix2pix_stream.media.transforms import InputTransform
    from pix2pix_stream.pix2pix.video_eval import checkpoint_translator, fitted

    if Path(model).is_dir():
        from pix2pix_stream.engines.runtime.registry import load_backend

        engine = load_backend(model, backend, max_batch=batch_size)
        meta = engine.metadata
        trained_on_video = meta.training.get("data_mode") == "video"
        return (fitted(engine.infer, meta.geometry), meta.geometry.crop_size, meta.transform,
                trained_on_video)

    translate, info = checkpoint_translator(model, device)
    trained_on_video = info.get("train_config", {}).get("data", {}).get("mode") == "video"
    return (translate, int(info.get("image_size", 256)),
            InputTransform.from_dict(info.get("input_transform")), trained_on_video)


def run_video(args) -> int:
    from pix2pix_stream.pix2pix.video_eval import ClipSpec, score_clip

    translate, size, transform, on_video = model_translator(
        args.checkpoint, backend=args.backend, device=args.device, batch_size=args.batch_size)
    spec = ClipSpec(args.video, args.start_frame, args.frames, args.stride)
    targets = on_video if args.targets is None else args.targets
    scores = score_clip(translate, spec, size=size, transform=transform, targets=targets,
                        batch_size=args.batch_size, temporal=args.temporal)
    summary = scores.summary()
    if args.per_frame:
        Path(args.per_frame).write_text(json.dumps(
            {**scores.temporal.as_dict(per_frame=True), **scores.per_frame}, indent=1))
    if args.json:
        print(json.dumps({**summary, "temporal_filter": args.temporal}))
        return EXIT_OK
    t = scores.temporal
    print(f"{scores.frames} frames at {size}x{size}, temporal filter {args.temporal}")
    print(f"flicker {t.flicker:.3f} (output change / input change; 1 = as much as the input)")
    print(f"warping error {t.warp_error:.4f} (input's own: {t.warp_floor:.4f}, "
          f"{t.warp_error / max(t.warp_floor, 1e-12):.2f}x; {t.reliable_fraction:.0%} of pixels "
          "with reliable flow)")
    print(f"detail {t.detail:.3f} (output's mean gradient / the input's: blur and washed-out "
          "colours lower flicker and warping error too, and show here)")
    if scores.per_frame:
        print(f"L1 {summary['l1']:.4f}  PSNR {summary['psnr']:.2f} dB  SSIM {summary['ssim']:.4f}")
    return EXIT_OK
