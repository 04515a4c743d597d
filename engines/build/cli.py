"""pix2pix-export: turn a checkpoint into an engine directory, import official checkpoints,
build TensorRT plans, list engines. Library code raises pix2pix_stream.engines.runtime.errors; only this module exits."""
from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

from pix2pix_stream.engines.runtime.errors import EngineError

EPILOG = textwrap.dedent("""\
    examples:
      pix2pix-export runs/facades/last.pt --out engines/facades
      pix2pix-export latest_net_G.pth --from-official --netG unet_256 --ngf 64 --norm batch \\
          --out engines/facades-official        (reads train_opt.txt beside the file if present)
      pix2pix-export runs/facades/last.pt --out engines/facades --tensorrt   (GPU host)
      pix2pix-export --build-tensorrt engines/facades --max-batch 16 --max-size 1088x1920  (GPU host)
      pix2pix-export --list engines

    An engine directory holds model.onnx (uint8 NHWC RGB [N,H,W,3] in and out, dynamic N),
    engine.json (metadata) and README.md (model card); --fp16 adds model.fp16.onnx, --tensorrt a
    TensorRT plan named after the GPU's compute capability and the TensorRT version.
    """)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pix2pix-export",
        description="Export a pix2pix generator checkpoint (ours or the official code's) to an engine "
                    "directory that pix2pix-serve loads; build TensorRT plans; list engines.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", nargs="?", type=Path,
                   help="a pix2pix-stream checkpoint (.pt), or with --from-official an official "
                        "pytorch-CycleGAN-and-pix2pix *_net_G.pth")
    for add_options in (_other_modes, _engine, _extra_graphs, _official, _tensorrt):
        add_options(p)
    return p


def _other_modes(p: argparse.ArgumentParser) -> None:
    mode = p.add_argument_group("other modes (instead of exporting a checkpoint)")
    mode.add_argument("--list", metavar="ENGINES_DIR", type=Path,
                      help="print the engines found in ENGINES_DIR with their metadata and exit")
    mode.add_argument("--build-tensorrt", metavar="ENGINE_DIR", type=Path,
                      help="build a TensorRT plan for an existing engine directory (GPU host)")


def _engine(p: argparse.ArgumentParser) -> None:
    out = p.add_argument_group("engine")
    out.add_argument("--out", type=Path, help="engine directory to write (created or replaced)")
    out.add_argument("--name", help="engine name clients ask for (default: the --out folder's name)")
    out.add_argument("--description", default="", help="one line for the model card and ListModels")
    out.add_argument("--input-size", type=int, metavar="PX",
                     help="square input size (default: the checkpoint's image size, or crop_size "
                          "for official checkpoints, else 256)")


def _extra_graphs(p: argparse.ArgumentParser) -> None:
    graphs = p.add_argument_group("graphs beside model.onnx (fp32)")
    graphs.add_argument("--no-int8", action="store_true",
                        help="skip model.int8.onnx, the int8 graph that `auto` runs fastest on "
                             "CPUs (its PSNR against fp32 is printed; below 40 dB auto does not "
                             "use it)")
    graphs.add_argument("--calibration", type=Path, metavar="DIR",
                        help="folder of images (.jpg/.png) like the frames the engine will see, "
                             "to calibrate the int8 graph (default: synthetic frames); from 8 "
                             "images on, every 4th one measures the graph's PSNR instead. Below "
                             "40 dB, up to 3 more convolutions are kept float")
    graphs.add_argument("--fp16", action="store_true",
                        help="also write model.fp16.onnx (checked with ONNX Runtime: PSNR vs fp32 "
                             "is printed and recorded); --tensorrt implies it unless --fp32")


def _official(p: argparse.ArgumentParser) -> None:
    official = p.add_argument_group("official pytorch-CycleGAN-and-pix2pix checkpoints")
    official.add_argument("--from-official", action="store_true",
                          help="CHECKPOINT is an official *_net_G.pth state dict")
    official.add_argument("--opt-file", type=Path,
                          help="the run's train_opt.txt (default: train_opt.txt beside CHECKPOINT "
                               "or one folder up, if present); flags below override it")
    official.add_argument("--netG", choices=("unet_256", "unet_128"),
                          help="generator architecture (official default for pix2pix: unet_256)")
    official.add_argument("--ngf", type=int, help="filters in the outermost layer (official default 64)")
    official.add_argument("--norm", choices=("batch", "instance"),
                          help="official default for pix2pix runs: batch")
    official.add_argument("--input-nc", type=int, help="input channels (default 3)")
    official.add_argument("--output-nc", type=int, help="output channels (default 3)")
    official.add_argument("--direction", choices=("AtoB", "BtoA"),
                          help="recorded in engine.json (default AtoB, or the opt file's)")


def _tensorrt(p: argparse.ArgumentParser) -> None:
    trt = p.add_argument_group("TensorRT (GPU hosts; pip install 'pix2pix-stream[tensorrt]')")
    trt.add_argument("--tensorrt", action="store_true", help="also build a TensorRT plan")
    trt.add_argument("--fp32", action="store_true", help="build an fp32 plan instead of fp16")
    trt.add_argument("--min-batch", type=int, default=1, help="profile minimum batch (default 1)")
    trt.add_argument("--opt-batch", type=int, default=8, help="batch TensorRT tunes for (default 8)")
    trt.add_argument("--max-batch", type=int, default=32, help="profile maximum batch (default 32)")
    trt.add_argument("--max-size", type=_height_width, default=(1088, 1920), metavar="HxW",
                     help="largest frame (height x width) the plan takes, for engines that take "
                          "any size; rounded up to the engine's multiple (default 1088x1920)")
    trt.add_argument("--workspace-gib", type=float, help="builder workspace limit in GiB")
    trt.add_argument("--verbose", action="store_true", help="TensorRT builder log at verbose level")


def _height_width(text: str) -> tuple[int, int]:
    """"1088x1920" -> (1088, 1920)."""
    try:
        height, width = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH such as 1088x1920, got {text!r}")
    if height < 1 or width < 1:
        raise argparse.ArgumentTypeError(f"sizes are positive, got {text!r}")
    return height, width


def _find_opt_file(checkpoint: Path, given: Path | None) -> Path | None:
    if given is not None:
        return given
    for candidate in (checkpoint.parent / "train_opt.txt", checkpoint.parent.parent / "train_opt.txt"):
        if candidate.is_file():
            return candidate
    return None


def _read_images(folder: Path, limit: int = 16) -> list:
    import cv2

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not files:
        raise ValueError(f"no .jpg/.png images in {folder}")
    frames = []
    for path in files[:limit]:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"cannot read image {path}")
        frames.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    return frames


def _export(args) -> Path:
    int8 = not args.no_int8
    calibration = _read_images(args.calibration) if args.calibration else None
    if args.from_official:
        from pix2pix_stream.engines.build.official import export_official, options_from

        opt_file = _find_opt_file(args.checkpoint, args.opt_file)
        if opt_file is not None:
            print(f"options from {opt_file}")
        options = options_from(opt_file, netG=args.netG, ngf=args.ngf, norm=args.norm,
                               input_nc=args.input_nc, output_nc=args.output_nc,
                               direction=args.direction, crop_size=args.input_size)
        return export_official(args.checkpoint, args.out, options, name=args.name,
                               description=args.description, int8=int8, calibration=calibration)
    from pix2pix_stream.engines.build.export import export_checkpoint

    return export_checkpoint(args.checkpoint, args.out, name=args.name,
                             description=args.description, input_size=args.input_size,
                             int8=int8, calibration=calibration)


def _add_fp16(engine_dir: Path) -> None:
    from pix2pix_stream.engines.runtime.fp16 import add_fp16_artifact

    entry = add_fp16_artifact(engine_dir)
    print(f"wrote {entry['file']}: {entry['psnr_vs_fp32_db']:.1f} dB PSNR against fp32 "
          "(ONNX Runtime, CPU)")


def _report_int8(engine_dir: Path) -> None:
    from pix2pix_stream.engines.runtime.metadata import read_metadata

    entry = read_metadata(engine_dir).artifacts.get("onnx_int8")
    if entry:
        verdict = "auto uses it on CPUs" if entry["holds_quality_bar"] else \
            "below the 40 dB bar: auto will not use it"
        print(f"wrote {entry['file']}: {entry['psnr_vs_fp32_db']:.1f} dB PSNR against fp32 ({verdict}); "
              f"{len(entry.get('float_layers', []))} convolutions kept float")


def _build_tensorrt(engine_dir: Path, args) -> None:
    from pix2pix_stream.engines.runtime.tensorrt_build import build_plan
    from pix2pix_stream.engines.runtime.tensorrt_profile import BatchProfile

    profile = BatchProfile(args.min_batch, args.opt_batch, args.max_batch)
    print(f"building TensorRT plan for {engine_dir} (batch {profile.min}/{profile.opt}/"
          f"{profile.max}; engines of any size: frames up to {args.max_size[0]}x"
          f"{args.max_size[1]}); this takes minutes the first time on a GPU")
    plan = build_plan(engine_dir, profile=profile, max_size=args.max_size,
                      precision="fp32" if args.fp32 else "fp16",
                      workspace_gib=args.workspace_gib, verbose=args.verbose)
    print(f"wrote {plan}")


def _list(engines_dir: Path) -> None:
    from pix2pix_stream.engines.runtime.registry import discover_engines

    found = discover_engines(engines_dir)
    if not found:
        print(f"no engines in {engines_dir}")
        return
    rows = [("NAME", "SIZE", "TRANSFORM", "DIR", "GENERATOR", "ARTIFACTS", "PATH")]
    for path, meta in found:
        g = meta.generator
        rows.append((meta.name, f"{meta.input_width}x{meta.input_height}", meta.transform.name,
                     meta.direction, f"{g.get('netG', '?')}/ngf{g.get('ngf', '?')}/{g.get('norm', '?')}",
                     ",".join(["onnx"] + sorted(meta.artifacts)), str(path)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.list is not None:
            _list(args.list)
            return 0
        if args.build_tensorrt is not None:
            _build_tensorrt(args.build_tensorrt, args)
            return 0
        if args.checkpoint is None or args.out is None:
            parser.error("give CHECKPOINT and --out (or --list / --build-tensorrt)")
        engine_dir = _export(args)
        print(f"wrote {engine_dir} (model.onnx, engine.json, README.md)")
        _report_int8(engine_dir)
        if args.fp16 or (args.tensorrt and not args.fp32):
            _add_fp16(engine_dir)
        if args.tensorrt:
            _build_tensorrt(engine_dir, args)
    except (EngineError, ValueError) as exc:
        print(f"pix2pix-export: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # checkpoint errors from pix2pix (CheckpointError) and the like
        if type(exc).__name__.endswith("Error") and type(exc).__module__.startswith("pix2pix"):
            print(f"pix2pix-export: error: {exc}", file=sys.stderr)
            return 2
        raise
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
