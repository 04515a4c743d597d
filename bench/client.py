"""Client-side throughput against a real in-process server, in one run.

    python bench/client.py                        # 120 frames of 320x240, tiny unet_128 engine
    python bench/client.py --frames 300 --size 640x480
    python bench/client.py --engines-dir engines/ --model facades

Baseline: one Translate call per frame (what a naive client does: request, wait, repeat).
Every other row streams: the pipelined sync stream (raw and JPEG transport), the asyncio
client, two concurrent streams, and whole video files decoded locally or on the server.
The default engine is an untrained unet_128 with ngf 8 so that the client and transport,
not inference, dominate; pass a real engine to see where a deployment stands.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
from pathlib import Path


from pix2pix_stream.client import AsyncTranslatorClient, TranslatorClient  # noqa: E402
from pix2pix_stream.media.synthetic import drawn_frame, make_clip  # noqa: E402


def tiny_engines(folder: Path) -> Path:
    from pix2pix_stream.engines.build.export import export_generator
    from pix2pix_stream.engines.build.synthetic import synthetic_generator

    export_generator(synthetic_generator("unet_128", ngf=8, seed=1), folder / "tiny",
                     name="tiny", input_size=128, description="bench engine")
    return folder


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run_benchmarks(client: TranslatorClient, address: str, model: str, frames: list,
                   clip: Path, out_dir: Path) -> list[tuple[str, int, float]]:
    n = len(frames)
    rows = []

    def add(name: str, count: int, fn) -> None:
        rows.append((name, count, timed(fn)))
        print(f"  {name}: done", file=sys.stderr)

    add("one call per frame (baseline)", n,
        lambda: [client.translate_image(f, model=model) for f in frames])
    add("stream, raw", n, lambda: list(client.translate_frames(frames, model=model)))
    add("stream, jpeg in + jpeg out", n, lambda: list(client.translate_frames(
        frames, model=model, input_encoding="jpeg", encoding="jpeg")))

    async def async_stream():
        async with AsyncTranslatorClient(address) as aclient:
            return [o async for o in aclient.translate_frames(frames, model=model)]

    add("asyncio stream, raw", n, lambda: asyncio.run(async_stream()))

    def two_streams():
        threads = [threading.Thread(target=lambda: list(client.translate_frames(
            frames, model=model))) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    add("2 concurrent streams, raw", 2 * n, two_streams)
    clip_frames = n
    add("video file, local decode", clip_frames, lambda: client.translate_video(
        clip, out_dir / "local.mp4", model=model))
    add("video file, --server-decode", clip_frames, lambda: client.translate_video(
        clip, out_dir / "server.mp4", model=model, server_decode=True))
    return rows


def print_table(rows: list[tuple[str, int, float]], title: str) -> None:
    base_fps = rows[0][1] / rows[0][2]
    print(f"\n{title}\n")
    print("| route | frames | seconds | fps | vs baseline |")
    print("|---|---:|---:|---:|---:|")
    for name, count, seconds in rows:
        fps = count / seconds
        print(f"| {name} | {count} | {seconds:.2f} | {fps:.1f} | {fps / base_fps:.2f}x |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=120, help="frames per route (default 120)")
    parser.add_argument("--size", default="320x240", help="frame size WxH (default 320x240)")
    parser.add_argument("--engines-dir", type=Path, help="serve these engines (default: a tiny one)")
    parser.add_argument("--model", default="tiny", help="engine name (default tiny)")
    parser.add_argument("--max-batch", type=int, default=8, help="server batch size (default 8)")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))

    from pix2pix_stream.server.app import start_server
    from pix2pix_stream.server.config import ServerConfig

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        engines_dir = args.engines_dir or tiny_engines(tmp / "engines")
        frames = [drawn_frame(i, width, height) for i in range(args.frames)]
        clip = make_clip(tmp / "clip.mp4", frames=args.frames, width=width, height=height,
                         fps=30)
        server = start_server(ServerConfig(engines_dir=engines_dir, address="127.0.0.1:0",
                                           max_batch=args.max_batch))
        address = f"127.0.0.1:{server.port}"
        try:
            with TranslatorClient(address) as client:
                client.translate_image(frames[0], model=args.model)  # warm up the session
                rows = run_benchmarks(client, address, args.model, frames, clip, tmp)
        finally:
            server.stop(0)
    print_table(rows, f"pix2pix-client throughput: {args.frames} frames of {width}x{height}, "
                      f"model {args.model}, server in-process on 127.0.0.1, max_batch "
                      f"{args.max_batch}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
