"""pix2pix-train: train a pix2pix generator and turn it into a servable engine."""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from pix2pix_stream.pix2pix.presets import GENERATOR_PRESETS, generator_preset
from pix2pix_stream.pix2pix.cli.common import EXIT_OK, EXIT_USAGE, parse_params, run_main

# (--stability, --temporal-weight) when not given; bench/temporal.py measures what they do.
STABILITY_DEFAULTS = {"video": (100.0, 100.0), "images": (0.0, 0.0)}

DESCRIPTION = """\
Train pix2pix (Isola et al. 2017) on paired images or on a video, then export the final
generator as a servable engine directory (model.onnx + engine.json) for pix2pix-serve.

Data (--data), detected automatically unless --data-mode says otherwise:
  * a folder of aligned images, A on the left half and B on the right (pix2pix's public
    datasets, e.g. facades/train); --direction picks which half is the input;
  * a folder with subfolders A/ and B/ holding pairs with matching file names;
  * a video file: its frames are the targets and --input-transform makes the inputs from them
    (e.g. --input-transform canny: "edges -> frame"). The transform is stored in the checkpoint
    and the engine, so the server applies the same one to live frames.

Defaults are the paper's: U-Net 256 (ngf 64, batch norm, dropout), 70x70 PatchGAN, vanilla GAN
loss + 100 * L1, Adam 2e-4 (0.5, 0.999), batch 1, 100 epochs + 100 decay epochs, jitter
(resize 286, random crop 256, random flip).

Run folder (--out): latest.pt (full state, written atomically; --resume continues from it
exactly), best.pt (lowest validation L1), epoch_NNN.pt every --keep-every epochs,
tensorboard/ (losses, learning rate, validation L1/PSNR/SSIM and an input|output|target grid:
tensorboard --logdir OUT/tensorboard), engine/ (the exported engine).

Several processes (DDP): torchrun --nproc-per-node 2 -m pix2pix_stream.pix2pix.cli.train --data ...
"""

EXAMPLES = """\
examples:
  pix2pix-train --data ../shared/data/facades/train --direction BtoA --out runs/facades
  pix2pix-train --data clip.mp4 --input-transform canny --transform-param low=100 \\
      --transform-param high=200 --out runs/edges2clip --epochs 20 --epochs-decay 20
  pix2pix-train --data pairs/ --netG unet_128 --crop-size 128 --out runs/small --resume
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pix2pix-train", description=DESCRIPTION, epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    d = p.add_argument_group("data")
    d.add_argument("--data", required=True, help="aligned-image folder, folder with A/ and B/, or video")
    d.add_argument("--data-mode", default="auto", choices=["auto", "aligned", "pairs", "video"])
    d.add_argument("--direction", default="AtoB", choices=["AtoB", "BtoA"],
                   help="AtoB: A (left half / A folder) is the input (default: %(default)s)")
    d.add_argument("--input-transform", default=None,
                   help="how inputs are made from the source image: none, grayscale, blur, canny "
                        "(default: canny for a video, none otherwise)")
    d.add_argument("--transform-param", action="append", metavar="KEY=VALUE",
                   help="input-transform parameter, repeatable (canny: low, high, invert, blur)")
    d.add_argument("--crop-size", type=int, default=256, help="training image size (default: 256)")
    d.add_argument("--load-size", type=int, default=None,
                   help="resize before the random crop (default: crop * 286/256, i.e. 286)")
    d.add_argument("--no-flip", action="store_true", help="no random horizontal flips")
    d.add_argument("--val-fraction", type=float, default=0.1,
                   help="part held out for validation, chosen by --seed; a video holds out its "
                        "last frames (default: %(default)s)")
    d.add_argument("--video-stride", type=int, default=1, help="use every Nth video frame")
    d.add_argument("--max-frames", type=int, default=None, help="use at most N video frames")
    m = p.add_argument_group("model and loss")
    m.add_argument("--preset", choices=sorted(GENERATOR_PRESETS), default="paper",
                   help="generator configuration: paper = unet_256 ngf 64; balanced = ngf 32; "
                        "realtime = ngf 16, >= 30 fps at 256x256 on a 2-core CPU "
                        "(default: paper); --netG, --ngf, --norm override its parts")
    m.add_argument("--netG", default=None, choices=["unet_256", "unet_128"],
                   help="U-Net depth (default: the preset's, unet_256)")
    m.add_argument("--ngf", type=int, default=None, help="generator width (default: the preset's, 64)")
    m.add_argument("--ndf", type=int, default=64, help="discriminator width (default: 64)")
    m.add_argument("--n-layers-D", type=int, default=3,
                   help="PatchGAN depth: 3 = 70x70 patches, 0 = 1x1 PixelGAN (default: 3)")
    m.add_argument("--norm", default=None, choices=["batch", "instance"],
                   help="normalisation in G and D (default: the preset's, batch)")
    m.add_argument("--no-dropout", action="store_true", help="no dropout in the generator")
    m.add_argument("--gan-mode", default="vanilla", choices=["vanilla", "lsgan"])
    m.add_argument("--lambda-l1", type=float, default=100.0, help="weight of L1 (default: 100)")
    m.add_argument("--stability", type=float, default=None, metavar="WEIGHT",
                   help="transform-consistency term (Eilertsen et al. 2019): the output of a "
                        "slightly moved, zoomed and noised input must be the moved output; 0 = off "
                        f"(default: {STABILITY_DEFAULTS['video'][0]:g} for a video, "
                        f"{STABILITY_DEFAULTS['images'][0]:g} for images)")
    m.add_argument("--temporal-weight", type=float, default=None, metavar="WEIGHT",
                   help="video only: the output for frame t must match the output for t-1 warped "
                        "by the flow between the target frames, where reliable; 0 = off "
                        f"(default: {STABILITY_DEFAULTS['video'][1]:g})")
    m.add_argument("--stability-scale-invariant", action="store_true",
                   help="measure both stability terms relative to the output's contrast, so "
                        "that washing colours out does not lower them (at 100 / 100 the output "
                        "still went flat: watch video/detail; docs/temporal.md)")
    m.add_argument("--stability-detail-invariant", action=argparse.BooleanOptionalAction,
                   default=None,
                   help="measure both stability terms relative to the output's detail (mean "
                        "gradient), so that blurring does not lower them (default: on where a "
                        "term is on, unless --stability-scale-invariant; over three seeds on "
                        "the bunny clip it kept more detail at lower L1 for the same "
                        "stability: docs/temporal.md)")
    o = p.add_argument_group("optimisation")
    o.add_argument("--epochs", type=int, default=100, help="epochs at the initial rate (default: 100)")
    o.add_argument("--epochs-decay", type=int, default=100,
                   help="epochs of linear decay to zero after that (default: 100)")
    o.add_argument("--batch-size", type=int, default=1, help="per process (default: 1)")
    o.add_argument("--lr", type=float, default=2e-4)
    o.add_argument("--beta1", type=float, default=0.5)
    o.add_argument("--beta2", type=float, default=0.999)
    o.add_argument("--seed", type=int, default=0, help="seeds weights, split, order, jitter, dropout")
    o.add_argument("--ema", type=float, default=0.999, metavar="DECAY",
                   help="validate, checkpoint and export an exponential moving average of the "
                        "generator's weights (decay warmed up as min(DECAY, (1+n)/(10+n)) at step "
                        "n): steadier outputs and scores than the last step's weights; 0 = off, "
                        "the official code's behaviour (default: 0.999)")
    r = p.add_argument_group("run")
    r.add_argument("--out", default=None, help="run folder (default: runs/<data name>)")
    r.add_argument("--resume", action="store_true",
                   help="continue from OUT/latest.pt (pass the same arguments as the first run)")
    r.add_argument("--save-every", type=int, default=0,
                   help="also write latest.pt every N steps (default: at each epoch end)")
    r.add_argument("--keep-every", type=int, default=10,
                   help="keep a generator-only epoch_NNN.pt every N epochs, 0 = never (default: 10)")
    r.add_argument("--log-every", type=int, default=10, help="TensorBoard loss scalars every N steps")
    r.add_argument("--max-steps", type=int, default=None, help="stop after N steps in total")
    r.add_argument("--workers", type=int, default=0, help="data-loader worker processes")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    h = p.add_argument_group("hardware")
    h.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    h.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    h.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                   help="autocast dtype; auto = bf16 on CUDA and on CPUs with native bf16, "
                        "else fp32 (see bench/train.py)")
    h.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="NHWC memory format (default: on for CUDA, off for CPU)")
    h.add_argument("--fused-adam", action=argparse.BooleanOptionalAction, default=None,
                   help="fused Adam kernel (default: on)")
    h.add_argument("--plain", action="store_true",
                   help="the official code's fp32 NCHW eager step, no speed settings")
    e = p.add_argument_group("engine export")
    e.add_argument("--engine-dir", default=None, help="where to write the engine (default: OUT/engine)")
    e.add_argument("--engine-name", default=None, help="engine name (default: the run folder's name)")
    e.add_argument("--no-engine", action="store_true", help="do not export an engine at the end")
    return p


def performance_from_args(args, device_type: str):
    from pix2pix_stream.pix2pix.performance import Performance, default_performance
    import torch

    if args.plain:
        return Performance()
    base = default_performance(torch.device(device_type))
    return Performance(
        precision=base.precision if args.precision == "auto" else args.precision,
        channels_last=base.channels_last if args.channels_last is None else args.channels_last,
        fused_adam=base.fused_adam if args.fused_adam is None else args.fused_adam)


def generator_from_args(args):
    """The preset's generator, with the parts given explicitly on the command line replaced."""
    from pix2pix_stream.networks.models import GeneratorConfig

    preset = generator_preset(args.preset)
    chosen = {key: getattr(args, key) for key in ("netG", "ngf", "norm")
              if getattr(args, key) is not None}
    settings = {**preset, **chosen}
    return GeneratorConfig(3, 3, settings["netG"], settings["ngf"], settings["norm"],
                           settings["dropout"] and not args.no_dropout)


def stability_from_args(args, mode: str):
    from pix2pix_stream.pix2pix.stability import StabilityConfig, default_detail_invariant

    from pix2pix_stream.pix2pix.errors import ConfigError

    if args.temporal_weight and mode != "video":
        raise ConfigError("--temporal-weight needs video data (consecutive frames); for images "
                          "use --stability")
    weight, temporal = STABILITY_DEFAULTS["video" if mode == "video" else "images"]
    weight = weight if args.stability is None else args.stability
    temporal = (temporal if args.temporal_weight is None else args.temporal_weight) \
        if mode == "video" else 0.0
    detail_invariant = args.stability_detail_invariant
    if detail_invariant is None:
        detail_invariant = default_detail_invariant(weight, temporal,
                                                    args.stability_scale_invariant)
    return StabilityConfig(weight=weight, temporal_weight=temporal,
                           scale_invariant=args.stability_scale_invariant,
                           detail_invariant=detail_invariant)


def config_from_args(args, argv: list[str]):
    from pix2pix_stream.media.transforms import InputTransform
    from pix2pix_stream.pix2pix.config import TrainConfig
    from pix2pix_stream.pix2pix.data import DataConfig, resolve_data
    from pix2pix_stream.pix2pix.distributed import pick_device
    from pix2pix_stream.pix2pix.gan import OptimConfig
    from pix2pix_stream.networks.models import DiscriminatorConfig

    mode = resolve_data(args.data, args.data_mode).mode
    transform_name = args.input_transform or ("canny" if mode == "video" else "none")
    data = DataConfig(
        path=str(args.data), mode=mode, direction=args.direction,
        input_transform=InputTransform(transform_name, parse_params(args.transform_param)),
        crop_size=args.crop_size, load_size=args.load_size, flip=not args.no_flip,
        val_fraction=args.val_fraction, video_stride=args.video_stride, max_frames=args.max_frames)
    out = args.out or str(Path("runs") / Path(args.data).stem)
    device = pick_device(args.device)
    generator = generator_from_args(args)
    return TrainConfig(
        data=data, out=out, generator=generator,
        discriminator=DiscriminatorConfig(6, args.ndf, args.n_layers_D, generator.norm),
        optim=OptimConfig(args.lr, args.beta1, args.beta2, args.gan_mode, args.lambda_l1),
        stability=stability_from_args(args, mode),
        epochs=args.epochs, epochs_decay=args.epochs_decay, batch_size=args.batch_size,
        ema=args.ema, seed=args.seed, device=args.device, performance=performance_from_args(args, device.type),
        workers=args.workers, resume=args.resume, save_every=args.save_every,
        keep_every=args.keep_every, log_every=args.log_every, max_steps=args.max_steps,
        progress=not args.no_progress,
        command_line=shlex.join(["pix2pix-train", *argv]))


def main(argv: list[str] | None = None) -> int:
    import logging

    logging.basicConfig(format="pix2pix-train: %(levelname)s: %(message)s", level=logging.WARNING)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    return run_main(lambda: _run(args, argv), "pix2pix-train")


def _run(args, argv: list[str]) -> int:
    import torch

    from pix2pix_stream.engines.build.from_training import export_engine, training_summary
    from pix2pix_stream.pix2pix.train import train

    if args.threads:
        torch.set_num_threads(args.threads)
    config = config_from_args(args, argv)
    if not config.resume and (config.out_dir / "latest.pt").exists():
        print(f"pix2pix-train: error: {config.out_dir} already holds a run; pass --resume to "
              "continue it or choose another --out", file=sys.stderr)
        return EXIT_USAGE
    if config.resume and not (config.out_dir / "latest.pt").exists():
        print(f"pix2pix-train: note: --resume, but {config.out_dir} holds no latest.pt yet; "
              "starting a new run there", file=sys.stderr)
    result = train(config)
    if result.rank != 0:
        return EXIT_OK
    print(f"trained {result.steps} steps ({result.epochs_done} epochs) in {result.wall_s:.0f} s; "
          f"checkpoint {result.checkpoint}")
    if result.val_metrics:
        print("validation: " + ", ".join(f"{k} {v:.4f}" for k, v in result.val_metrics.items()))
    if result.finished and not args.no_engine:
        engine_dir = Path(args.engine_dir) if args.engine_dir else config.out_dir / "engine"
        name = args.engine_name or config.out_dir.name
        export_engine(result.checkpoint, engine_dir, name, training_summary(config, result))
        print(f"engine written to {engine_dir}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
