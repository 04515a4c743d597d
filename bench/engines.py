"""Frames per second of every inference route for one generator, in one run.

    python bench/engines.py                      # unet_256 / ngf 64, batches 1 4 8, at the
                                                 # compute sizes 256x256 512x256
    python bench/engines.py --sizes 1280x768 --batches 1 4   # 720p (batch 8: > 24 GiB)
    python bench/engines.py --sizes 256x256      # the trained square only
    python bench/engines.py --preset realtime --batches 1  # unet_256 / ngf 16
    python bench/engines.py --routes onnxruntime torch-bf16 --threads 2
    python bench/engines.py --json out/engines.json   # also write the rows (bench/run_all.py)
    python bench/engines.py --routes tensorrt onnxruntime --batches 1 8   # GPU host (docs/gpu.md)

Baseline: PyTorch eager fp32, measured in the same run; every row also shows its ratio against
ONNX Runtime fp32 and its PSNR against the ONNX Runtime fp32 frames (the quality bar is 40 dB).
Weights are random (fan-in scaled, random BatchNorm statistics), which costs the same as trained.
The int8 graph is the one export makes (engines.int8: static QDQ, synthetic calibration);
onnxruntime-int8 runs it in ONNX Runtime, openvino-int8 in OpenVINO. tensorrt builds a plan for
this GPU first (fp16, batch profile 1..largest batch; minutes on first use) and runs it.
Routes whose package is missing are reported as such, not silently dropped.
Every route runs at each of ``--sizes`` (width x height; the engine is exported with dynamic
height and width): 256x256 is the trained square, 512x256 a 16:9 frame at the default ``engine``
scale (455x256 padded), 1280x768 a 720p frame at ``native`` scale (1280x720 padded). Each row
is one route at one size; its ratios compare routes at that size.
In the JSON rows a null PSNR means identical frames (printed as inf).
"""
from __future__ import annotations

import argparse
import gc
import tempfile
import time
from pathlib import Path

import numpy as np


from pix2pix_stream.pix2pix.presets import GENERATOR_PRESETS, generator_preset  # noqa: E402
from pix2pix_stream.engines.runtime.quality import probe_frames, psnr  # noqa: E402
from results_json import write_json  # noqa: E402  (bench/, this script's folder)

ROUTES = ("torch", "onnxruntime", "onnxruntime-int8", "openvino-fp32", "openvino",
          "torch-bf16-autocast", "torch-bf16", "torch-bf16-compile", "openvino-int8", "tensorrt")
BASELINE, REFERENCE = "torch", "onnxruntime"
NO_NATIVE_BF16 = ("this CPU has no native bf16 (AVX512-BF16/AMX): emulated bf16 is many times "
                  "slower than fp32 and no default uses it here; --emulated-bf16 times it anyway")


def emulated_bf16_routes(routes: list[str], fast_bf16: bool, emulated_bf16: bool) -> dict:
    """Route -> why it is left out: the torch bf16 routes on a CPU that only emulates bf16
    (unless asked for). At the default sizes one such route took over half an hour of a
    2-core AVX2 machine and most of its memory before its first timed call."""
    if fast_bf16 or emulated_bf16:
        return {}
    return {route: NO_NATIVE_BF16 for route in routes if route.startswith("torch-bf16")}


def load_route(route: str, engine_dir: Path, max_batch: int, threads: int):
    from pix2pix_stream.engines.runtime.registry import load_backend

    if route == "onnxruntime-int8":
        from pix2pix_stream.engines.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend
        from pix2pix_stream.engines.runtime.metadata import read_metadata

        from pix2pix_stream.engines.runtime.metadata import INT8_ONNX

        return OnnxRuntimeBackend(engine_dir, read_metadata(engine_dir), max_batch=max_batch,
                                  threads=threads, device="cpu", onnx_file=INT8_ONNX,
                                  precision="int8")
    if route == "torch-bf16-autocast":
        return load_backend(engine_dir, "torch-bf16", max_batch=max_batch, threads=threads,
                            autocast=True)
    if route == "tensorrt":
        return load_tensorrt(engine_dir, max_batch)
    if route == "torch-bf16-compile":
        import torch

        backend = load_backend(engine_dir, "torch-bf16", max_batch=max_batch, threads=threads)
        backend._model = torch.compile(backend._model)  # bench-only experiment
        return backend
    return load_backend(engine_dir, route, max_batch=max_batch, threads=threads)


def load_tensorrt(engine_dir: Path, max_batch: int):
    """Builds the plan for this GPU, then loads it; no GPU or no TensorRT: unavailable."""
    from pix2pix_stream.engines.runtime.errors import BackendUnavailableError
    from pix2pix_stream.engines.runtime.registry import load_backend
    from pix2pix_stream.engines.runtime.tensorrt_build import build_plan
    from pix2pix_stream.engines.runtime.tensorrt_profile import BatchProfile

    if (engine_dir, max_batch) not in _PLANS_BUILT:   # once per run, not once per size
        try:
            build_plan(engine_dir, profile=BatchProfile(1, min(8, max_batch), max_batch))
        except RuntimeError as exc:  # hardware.cuda_device: no driver or no device
            raise BackendUnavailableError(str(exc)) from exc
        _PLANS_BUILT.add((engine_dir, max_batch))
    return load_backend(engine_dir, "tensorrt", max_batch=max_batch)


_PLANS_BUILT: set = set()


def time_routes(backends: dict, frames: np.ndarray, batch: int, rounds: int) -> dict[str, float]:
    """Seconds per frame per route: the best of ``rounds`` calls, with the routes interleaved
    round-robin so that load from other processes hits every route alike (ratios stay fair on
    a shared machine). One untimed warm-up call per route first."""
    chunk = np.ascontiguousarray(frames[:batch])
    for backend in backends.values():
        backend.infer(chunk)
    best = dict.fromkeys(backends, float("inf"))
    for _ in range(rounds):
        for route, backend in backends.items():
            start = time.perf_counter()
            backend.infer(chunk)
            best[route] = min(best[route], time.perf_counter() - start)
    return {route: seconds / batch for route, seconds in best.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="paper", choices=sorted(GENERATOR_PRESETS),
                        help="generator of engines.presets (default: paper, unet_256 ngf 64)")
    parser.add_argument("--netG", default=None, choices=("unet_256", "unet_128"),
                        help="override the preset's depth")
    parser.add_argument("--ngf", type=int, default=None, help="override the preset's width")
    parser.add_argument("--size", type=int, default=256, help="the engine's trained square size")
    parser.add_argument("--sizes", nargs="+", default=["256x256", "512x256"],
                        metavar="WxH", help="compute sizes to time every route at (1280x768 "
                        "with the default routes and batch 8 needs over 24 GiB)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--routes", nargs="+", default=list(ROUTES), choices=ROUTES)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5,
                        help="timed calls per route and batch; the best one counts")
    parser.add_argument("--emulated-bf16", action="store_true",
                        help="time the torch bf16 routes even where the CPU only emulates bf16 "
                             "(very slow at the default sizes)")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON to PATH")
    args = parser.parse_args(argv)
    preset = generator_preset(args.preset)
    args.netG, args.ngf = args.netG or preset["netG"], args.ngf or preset["ngf"]

    import torch

    from pix2pix_stream.engines.runtime.errors import EngineError
    from pix2pix_stream.engines.build.export import export_generator
    from pix2pix_stream.engines.build.synthetic import synthetic_generator
    from pix2pix_stream.pix2pix.performance import cpu_has_fast_bf16

    torch.set_num_threads(args.threads)
    sizes = [tuple(int(v) for v in text.lower().split("x")) for text in args.sizes]
    frames = {size: probe_frames(max(args.batches), size[1], size[0]) for size in sizes}
    routes = [BASELINE, REFERENCE] + [r for r in args.routes if r not in (BASELINE, REFERENCE)]
    with tempfile.TemporaryDirectory() as tmp:
        engine_dir = export_generator(synthetic_generator(args.netG, args.ngf, seed=0),
                                      Path(tmp) / "bench", name="bench", input_size=args.size,
                                      int8=True)
        print(f"{args.netG} ngf {args.ngf} trained at {args.size}x{args.size}, run at "
              f"{', '.join(args.sizes)}, {args.threads} threads, torch {torch.__version__}")
        unavailable = emulated_bf16_routes(routes, cpu_has_fast_bf16(), args.emulated_bf16)
        for route in unavailable:
            print(f"  {route}: left out ({unavailable[route]})")
        rows = []
        for size in sizes:
            rows += time_size(routes, engine_dir, frames[size], size, args, unavailable,
                              (EngineError, ImportError))
    print_table(rows, args.batches)
    if args.json:
        write_json(args.json, "engines", {**vars(args), "torch": torch.__version__}, rows,
                   baseline=BASELINE, reference=REFERENCE, ratio_batch=args.batches[-1],
                   unavailable=unavailable)
    return 0


def time_size(routes: list[str], engine_dir: Path, frames: np.ndarray, size: tuple[int, int],
              args, unavailable: dict, load_errors: tuple) -> list[dict]:
    """The rows of one compute size. Its routes are loaded, timed round-robin and closed
    before the next size: each runtime keeps memory sized for the largest call it has run, and
    with every route holding that for every size at once the default run (six routes up to
    1280x768 at batch 8) outgrew a 24 GiB machine and was killed."""
    backends, outputs = {}, {}
    try:
        for route in routes:
            if route in unavailable:
                continue
            try:
                backends[route] = load_route(route, engine_dir, max(args.batches), args.threads)
            except load_errors as exc:
                print(f"  {route}: unavailable ({exc})")
                unavailable[route] = str(exc)
                continue
            outputs[route] = backends[route].infer(frames)
            print(f"  {route}: loaded at {size[0]}x{size[1]}", flush=True)
        per_batch = {b: time_routes(backends, frames, b, args.rounds) for b in args.batches}
    finally:
        for backend in backends.values():
            backend.close()
        backends.clear()
        gc.collect()
    results = {r: {b: per_batch[b][r] for b in args.batches} for r in outputs}
    return table_rows(results, outputs, args.batches, f"{size[0]}x{size[1]}")


def table_rows(results: dict, outputs: dict, batches: list[int], size: str) -> list[dict]:
    """One dict per route at ``size``: ms per frame and fps per batch, the speed-ups at the
    last batch against PyTorch eager fp32 and ONNX Runtime fp32 (at the same size), PSNR
    against ONNX Runtime fp32."""
    base, ref = results.get(BASELINE), results.get(REFERENCE)
    last = batches[-1]
    rows = []
    for route, per_batch in results.items():
        rows.append({
            "route": route,
            "size": size,
            "ms_per_frame": {b: 1e3 * per_batch[b] for b in batches},
            "fps": {b: 1 / per_batch[b] for b in batches},
            "x_torch": base[last] / per_batch[last] if base else float("nan"),
            "x_ort": ref[last] / per_batch[last] if ref else float("nan"),
            "psnr_db": (psnr(outputs[route], outputs[REFERENCE]) if REFERENCE in outputs
                        else float("nan")),
        })
    return rows


def print_table(rows: list[dict], batches: list[int]) -> None:
    header = f"{'route':<20}{'size':>10}" + "".join(f"{f'b{b} ms/f':>10}{'fps':>7}" for b in batches)
    header += f"{'x torch':>9}{'x ORT':>7}{'PSNR dB':>9}"
    print(header)
    print("-" * len(header))
    last = batches[-1]
    for r in rows:
        row = f"{r['route']:<20}{r['size']:>10}" + "".join(f"{r['ms_per_frame'][b]:>10.1f}{r['fps'][b]:>7.1f}"
                                            for b in batches)
        row += f"{r['x_torch']:>9.2f}{r['x_ort']:>7.2f}{r['psnr_db']:>9.1f}"
        print(row)
    print(f"(ratios at batch {last}: how many times faster than PyTorch eager fp32 / ONNX Runtime "
          "fp32; PSNR against ONNX Runtime fp32 frames, inf = identical)")


if __name__ == "__main__":
    raise SystemExit(main())
