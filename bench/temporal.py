"""Temporal stability in one run: what the stability loss terms and the server's temporal filter
do to flicker and warping error (pix2pix_stream.media.temporal) on a real clip's held-out tail.

    .venv/bin/python bench/temporal.py                          # the issue's settings
    .venv/bin/python bench/temporal.py --steps 150 --crop-size 128   # a short run on a busy CPU
    .venv/bin/python bench/temporal.py --skip-train             # the filter rows only
    .venv/bin/python bench/temporal.py --engine engines/edges2bunny \
        --runs runs/edges2bunny-nostab runs/edges2bunny   # score runs made by pix2pix-train

1. Filter: the engine (--engine, Canny edges in) translates the held-out tail (the clip's last
   --tail-seconds, short side at the engine's size, aspect kept, padded as the server pads)
   frame by frame; scored without the filter and with it at light and strong, run over the
   outputs exactly as the server runs it per stream.
2. Filter cost: CPU time of the filter's steps per frame (estimate, warp, mix), at the clip's
   compute size and on its 256x256 centre (one OpenCV thread; the least of --repeats passes per
   frame, so a busy neighbour inflates it less), and the p50
   latency it adds to a LIVE stream (request, wait, repeat) on a real pix2pix-serve subprocess,
   filter off and strong alternated in rounds over one server.
3. Training: two runs from the same seed, steps and frames (the clip's first --train-seconds,
   Canny edges -> frame, the realtime generator): without and with the stability terms
   (--stability, --temporal-weight); each scored on the held-out tail (flicker, warping error,
   L1 / PSNR / SSIM against the true frames, detail), each also with the strong filter.

Writes --out/temporal.json and --out/temporal.png (flicker per frame of the held-out tail).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as pix2pix-train; see pix2pix/__init__.py

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT.parent / "shared" / "data" / "video" / "bigbuckbunny_30s_720p.webm"
CANNY = {"name": "canny", "params": {"low": 100, "high": 200}}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clip", type=Path, default=CLIP)
    p.add_argument("--fps", type=float, default=24.0, help="the clip's frame rate")
    p.add_argument("--train-seconds", type=float, default=25.0)
    p.add_argument("--tail-seconds", type=float, default=5.0)
    p.add_argument("--engine", type=Path, default=ROOT / "engines" / "edges2bunny",
                   help="the engine of the filter rows (default: the shipped edges2bunny)")
    p.add_argument("--steps", type=int, default=2000, help="training steps per run")
    p.add_argument("--crop-size", type=int, default=256, help="256: realtime preset; 128: unet_128")
    p.add_argument("--ngf", type=int, default=16)
    p.add_argument("--stability", type=float, default=100.0)
    p.add_argument("--temporal-weight", type=float, default=100.0)
    p.add_argument("--scale-invariant", action="store_true",
                   help="the terms relative to the output's contrast (--stability-scale-invariant)")
    p.add_argument("--detail-invariant", action=argparse.BooleanOptionalAction, default=None,
                   help="the terms relative to the output's detail (--stability-detail-invariant; "
                        "as pix2pix-train, on unless --scale-invariant)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads for training")
    p.add_argument("--repeats", type=int, default=3, help="filter-cost passes over the tail")
    p.add_argument("--latency-frames", type=int, default=60, help="per level per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--inference-threads", type=int, default=2,
                   help="the LIVE server's ONNX Runtime threads; fewer than the CPUs leaves a "
                        "core, and the server then runs the filter's estimate on a worker beside "
                        "the model instead of before it")
    p.add_argument("--skip-train", action="store_true")
    p.add_argument("--runs", type=Path, nargs=2, metavar=("WITHOUT", "WITH"),
                   help="score these two pix2pix-train run folders (without and with the "
                        "stability terms, same seed, steps and frames) instead of training; "
                        "each row is named from its checkpoint's own stability settings")
    p.add_argument("--skip-latency", action="store_true")
    p.add_argument("--out", type=Path, default=ROOT / "out" / "temporal")
    return p.parse_args(argv)


# -- 1. the filter on the shipped engine ----------------------------------------------------------

def filter_rows(args, frames) -> tuple[list[dict], dict, np.ndarray]:
    """(rows, per-frame flicker series, the engine's unfiltered outputs)."""
    from pix2pix_stream.engines.runtime.registry import load_backend
    from pix2pix_stream.media.temporal import input_flows
    from pix2pix_stream.pix2pix.video_eval import (filtered, fitted, score_outputs,
                                                   translate_clip)

    engine = load_backend(args.engine, "onnxruntime", max_batch=8)
    outputs = translate_clip(fitted(engine.infer, engine.metadata.geometry), frames,
                             engine.metadata.transform)
    pairs = input_flows(list(frames))
    rows, series = [], {}
    for level in ("off", "light", "strong"):
        scores = score_outputs(frames, filtered(frames, outputs, level), targets=False,
                               pairs=pairs)
        rows.append(row(f"{engine.metadata.name} engine, filter {level}", scores))
        series[f"{engine.metadata.name}, filter {level}"] = scores.temporal.per_frame_flicker
    return rows, series, outputs


def row(name: str, scores) -> dict:
    t = scores.temporal
    data = {"what": name, "flicker": t.flicker, "warp_error": t.warp_error,
            "warp_floor": t.warp_floor, "detail": t.detail}
    for key in ("l1", "psnr", "ssim"):
        if key in scores.per_frame:
            data[key] = float(np.mean(scores.per_frame[key]))
    return data


# -- 2. what the filter costs ---------------------------------------------------------------------

def filter_cpu_ms(frames, outputs, repeats: int) -> dict:
    """CPU ms per frame of the strong filter's three steps (estimate, warp of the previous
    output, mix) and of all of them: the median over frames of the least time over ``repeats``
    passes, one OpenCV thread. A server runs the first two on a worker while the frame is in
    the model; a live frame waits for the mix after its output."""
    import cv2
    from pix2pix_stream.media.temporal_filter import TemporalFilter, temporal_settings
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        passes = []
        for _ in range(repeats):
            smoother, times = TemporalFilter(temporal_settings("strong")), []
            for src, out in zip(frames, outputs):
                t0 = time.thread_time()
                motion = smoother.estimate(src)
                t1 = time.thread_time()
                warped = smoother.warp_previous(motion)
                t2 = time.thread_time()
                smoother.mix(motion, warped, out)
                times.append((t1 - t0, t2 - t1, time.thread_time() - t2))
            passes.append(times[1:])   # the first frame only stores itself
        steps = np.min(np.array(passes), axis=0) * 1000   # [frames, 3]
        h, w = frames[0].shape[:2]
        return {"frame_size": f"{w}x{h}", "filter_cpu_ms_per_frame": float(np.median(steps.sum(1))),
                "estimate_ms": float(np.median(steps[:, 0])),
                "warp_ms": float(np.median(steps[:, 1])), "mix_ms": float(np.median(steps[:, 2]))}
    finally:
        cv2.setNumThreads(threads)


def filter_costs(frames, outputs, repeats: int) -> dict:
    """The cost at the clip's compute size and on its 256x256 centre (the issue's unit)."""
    costs = {"compute_size": filter_cpu_ms(frames, outputs, repeats)}
    if has_centre_square(frames):
        costs["256x256"] = filter_cpu_ms(centre_square(frames), centre_square(outputs), repeats)
    return costs


def has_centre_square(frames) -> bool:
    h, w = frames[0].shape[:2]
    return (h, w) != (256, 256) and min(h, w) >= 256


def centre_square(images) -> list[np.ndarray]:
    """The 256x256 centre of each image: the issue's unit of "per frame"."""
    h, w = images[0].shape[:2]
    top, left = (h - 256) // 2, (w - 256) // 2
    return [np.ascontiguousarray(i[top:top + 256, left:left + 256]) for i in images]


def live_latencies(args, frames) -> dict:
    """LIVE latency with and without the filter at the clip's compute size and, where the clip
    is not square, on its 256x256 centre (one server: the sizes take turns in each round)."""
    sizes = {"compute_size": frames}
    if has_centre_square(frames):
        sizes["256x256"] = centre_square(frames)
    return live_latency(args, sizes)


def live_latency(args, sizes: dict) -> dict:
    """p50 request-to-reply latency of a LIVE stream, filter off vs strong, in rounds, for each
    named list of frames in ``sizes``: {name: {"frame_size", "p50_off_ms", ...}}."""
    import asyncio

    import grpc

    from pix2pix_stream.protos import translator_pb2 as pb
    from pix2pix_stream.protos import translator_pb2_grpc as pb_grpc
    from serve_process import Server  # bench/ (this script's folder): pix2pix-serve subprocess

    name = json.loads((args.engine / "engine.json").read_text())["name"]

    def raw_images(frames) -> list:
        return [pb.Image(raw=pb.RawImage(width=f.shape[1], height=f.shape[0], format=pb.RGB24,
                                         data=f.tobytes())) for f in frames]

    async def stretch(stub, level, images) -> list[tuple[float, float]]:
        """(latency, latency minus the server's inference time) per frame."""
        queue: asyncio.Queue = asyncio.Queue()
        latencies = []

        async def requests():
            yield pb.TranslateRequest(config=pb.StreamConfig(model=name, mode=pb.LIVE,
                                                             temporal=level))
            for i in range(args.latency_frames):
                start = time.perf_counter()
                yield pb.TranslateRequest(frame=pb.Frame(sequence=i, image=images[i % len(images)]))
                reply = await queue.get()
                latency = time.perf_counter() - start
                latencies.append((latency, latency - reply.inference_ms / 1000))
                await asyncio.sleep(0.001)

        async for reply in stub.Translate(requests()):
            queue.put_nowait(reply)
        return latencies[2:]  # the first frames warm the stream up

    async def run(port) -> dict:
        images = {size: raw_images(frames) for size, frames in sizes.items()}
        results = {(size, level): [] for size in sizes
                   for level in (pb.TEMPORAL_OFF, pb.TEMPORAL_STRONG)}
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.TranslatorStub(channel)
            for _ in range(args.rounds):
                for size, level in results:
                    results[(size, level)] += await stretch(stub, level, images[size])
        return {key: np.percentile(np.array(v), 50, axis=0) * 1000 for key, v in results.items()}

    server_args = argparse.Namespace(threads=args.inference_threads, max_batch=8,
                                     max_delay_ms=5.0, inflight=4)
    server = Server(args.engine, server_args)
    try:
        p50 = asyncio.run(run(server.port))
    finally:
        server.stop()
    from pix2pix_stream.server.config import ServerConfig
    config = ServerConfig(args.engine, inference_threads=args.inference_threads)
    spare = config.cpu_model_leaves_a_core
    path = "on a worker beside the model" if spare else "inline before the model"
    latency = {}
    for size, frames in sizes.items():
        off, strong = p50[(size, pb.TEMPORAL_OFF)], p50[(size, pb.TEMPORAL_STRONG)]
        # Outside the model: what the filter adds (estimate and warp before the model, the mix
        # after it, and their hops); the inference time itself varies by +-2 ms between
        # stretches on 2 shared cores, more than the filter's own share of it.
        latency[size] = {"frame_size": f"{frames[0].shape[1]}x{frames[0].shape[0]}",
                         "p50_off_ms": float(off[0]), "p50_strong_ms": float(strong[0]),
                         "added_p50_ms": float(strong[0] - off[0]),
                         "added_not_infer_p50_ms": float(strong[1] - off[1]),
                         "inference_threads": args.inference_threads, "estimate_runs": path}
    return latency


# -- 3. training without and with the stability terms --------------------------------------------

def train_run(args, out: Path, stability) -> Path:
    from pix2pix_stream.media.transforms import InputTransform
    from pix2pix_stream.networks.models import GeneratorConfig
    from pix2pix_stream.pix2pix.config import TrainConfig
    from pix2pix_stream.pix2pix.data import DataConfig
    from pix2pix_stream.pix2pix.performance import Performance
    from pix2pix_stream.pix2pix.train import train

    net = "unet_256" if args.crop_size >= 256 else "unet_128"
    config = TrainConfig(
        data=DataConfig(str(args.clip), mode="video", input_transform=InputTransform.from_dict(CANNY),
                        crop_size=args.crop_size, val_fraction=0.0,
                        max_frames=round(args.train_seconds * args.fps)),
        out=str(out), generator=GeneratorConfig(netG=net, ngf=args.ngf), stability=stability,
        epochs=1000, epochs_decay=0, seed=args.seed, performance=Performance(fused_adam=True),
        max_steps=args.steps, progress=False, keep_every=0, log_every=25)
    start = time.perf_counter()
    result = train(config)
    print(f"  trained {result.steps} steps in {time.perf_counter() - start:.0f} s -> {out}",
          flush=True)
    return result.checkpoint


def stability_label(stability: dict) -> str:
    """A trained run's row name from its stability settings, as a checkpoint stores them (a
    setting missing from an older checkpoint had its default then: off)."""
    if not (stability.get("weight") or stability.get("temporal_weight")):
        return "trained, no stability terms"
    measured = (" --stability-scale-invariant" if stability.get("scale_invariant") else
                " --stability-detail-invariant" if stability.get("detail_invariant") else
                " --no-stability-detail-invariant")
    return (f"trained, --stability {stability['weight']:g} --temporal-weight "
            f"{stability.get('temporal_weight', 0.0):g}{measured}")


def training_rows(args, work: Path) -> tuple[list[dict], dict, dict]:
    import torch

    from pix2pix_stream.media.transforms import InputTransform
    from pix2pix_stream.pix2pix.stability import StabilityConfig, default_detail_invariant
    from pix2pix_stream.pix2pix.video_eval import (ClipSpec, checkpoint_translator, filtered,
                                                   load_clip, score_outputs, translate_clip)
    from pix2pix_stream.media.temporal import input_flows

    torch.set_num_threads(args.threads)
    detail = args.detail_invariant
    if detail is None:   # as pix2pix-train
        detail = default_detail_invariant(args.stability, args.temporal_weight,
                                          args.scale_invariant)
    configs = [StabilityConfig(),
               StabilityConfig(weight=args.stability, temporal_weight=args.temporal_weight,
                               scale_invariant=args.scale_invariant, detail_invariant=detail)]
    frames = load_clip(ClipSpec(str(args.clip), start=round(args.train_seconds * args.fps)),
                       args.crop_size)
    pairs = input_flows(list(frames))
    rows, series, costs = [], {}, {}
    for i, stability in enumerate(configs):
        start = time.perf_counter()
        if args.runs:   # trained beforehand (pix2pix-train), e.g. the shipped engine's run
            checkpoint = args.runs[i] / "latest.pt"
        else:
            checkpoint = train_run(args, work / f"run{i}", stability)
        seconds = time.perf_counter() - start
        translate, info = checkpoint_translator(str(checkpoint), "cpu")
        name = stability_label((info.get("train_config") or {}).get("stability") or {})
        if not args.runs:
            costs[name] = seconds / args.steps
        outputs = translate_clip(translate, frames, InputTransform.from_dict(CANNY))
        # Both with the strong filter too: on the bunny clip the filter over the run without
        # terms is the better trade (docs/temporal.md, "What detail showed").
        for level in ("off", "strong"):
            scores = score_outputs(frames, filtered(frames, outputs, level), targets=True,
                                   pairs=pairs)
            label = name + (", filter strong" if level != "off" else "")
            rows.append(row(label, scores))
            series[label] = scores.temporal.per_frame_flicker
    return rows, series, costs


# -- report ---------------------------------------------------------------------------------------

def print_table(rows: list[dict]) -> None:
    base = {}
    print(f"| {'what':<62} | flicker | warping error (input floor) | detail | L1 | PSNR | SSIM |")
    print(f"|{'-' * 64}|---------|-----------------------------|--------|----|------|------|")
    for r in rows:
        group = "engine" if "engine" in r["what"] else "trained"
        first = base.setdefault(group, r)
        change = lambda key: (f" ({r[key] / first[key] - 1:+.0%})" if r is not first else "")
        quality = " | ".join(f"{r[k]:.4f}" if k != "psnr" else f"{r[k]:.2f}"
                             for k in ("l1", "psnr", "ssim")) if "l1" in r else "- | - | -"
        print(f"| {r['what']:<62} | {r['flicker']:.3f}{change('flicker')} | "
              f"{r['warp_error']:.4f}{change('warp_error')} ({r['warp_floor']:.4f}) | "
              f"{r['detail']:.2f} | {quality} |")


def plot(series: dict, path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len({k.split(",")[0] for k in series}), 1, figsize=(9, 6),
                             squeeze=False)
    groups = {}
    for label, values in series.items():
        groups.setdefault(label.split(",")[0], []).append((label, values))
    for ax, (group, lines) in zip(axes[:, 0], groups.items()):
        for label, values in lines:
            ax.plot(values, label=label, linewidth=1)
        ax.set_ylabel("flicker (out / in change)")
        ax.set_yscale("log")
        ax.legend(fontsize=8)
    axes[-1, 0].set_xlabel("frame of the held-out tail")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not args.clip.is_file():
        print(f"bench/temporal.py: clip not found: {args.clip}", file=sys.stderr)
        return 2
    from pix2pix_stream.pix2pix.video_eval import ClipSpec, load_clip

    args.out.mkdir(parents=True, exist_ok=True)
    size = json.loads((args.engine / "engine.json").read_text())["input_width"]
    tail = load_clip(ClipSpec(str(args.clip), start=round(args.train_seconds * args.fps)), size)
    print(f"held-out tail: {len(tail)} frames from {args.train_seconds:g} s, at "
          f"{tail.shape[2]}x{tail.shape[1]}",
          flush=True)
    rows, series, outputs = filter_rows(args, tail)
    cost = {"filter": filter_costs(tail, outputs, args.repeats)}
    if not args.skip_latency:
        cost["live"] = live_latencies(args, tail)
    costs = {}
    if not args.skip_train:
        with tempfile.TemporaryDirectory() as work:
            trained, more, costs = training_rows(args, Path(work))
        rows += trained
        series.update(more)
    print()
    print_table(rows)
    print()
    for c in cost["filter"].values():
        print(f"strong filter, {c['frame_size']}: {c['filter_cpu_ms_per_frame']:.2f} ms CPU per "
              f"frame (estimate {c['estimate_ms']:.2f}, warp {c['warp_ms']:.2f}, mix "
              f"{c['mix_ms']:.2f}; a LIVE frame on a CPU backend whose threads fill the cores "
              "waits for all three, run inline; elsewhere only the mix waits for the model)")
    for c in cost.get("live", {}).values():
        print(f"LIVE p50, {c['frame_size']}: {c['p50_off_ms']:.2f} ms off, "
              f"{c['p50_strong_ms']:.2f} ms strong ({c['added_p50_ms']:+.2f} ms; outside the "
              f"model's inference time {c['added_not_infer_p50_ms']:+.2f} ms; "
              f"{c['inference_threads']} model threads, the estimate {c['estimate_runs']})")
    for name, seconds in costs.items():
        print(f"training step, {name}: {seconds:.2f} s (wall, incl. data)")
    trained = (f"; runs {args.runs[0]} and {args.runs[1]}" if args.runs else
               f"; trained {args.steps} steps at {args.crop_size} px" if costs else "")
    title = f"{args.clip.name}, held-out last {args.tail_seconds:g} s{trained}"
    plot(series, args.out / "temporal.png", title)
    (args.out / "temporal.json").write_text(json.dumps(
        {"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows, "cost": cost,
         "train_step_s": costs, "per_frame_flicker": series}, indent=1))
    print(f"wrote {args.out / 'temporal.json'} and {args.out / 'temporal.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
