"""Service throughput and latency against the bare backend, in one run.

    python bench/service.py                  # 256x256 frames, unet_256 ngf 16 engine, 2 threads
    python bench/service.py --ngf 32 --frames 400 --soak-frames 10000

Baselines are the bare ONNX Runtime backend in this process (batch 1, 4 and 8). The service rows
run pix2pix-serve as a subprocess with the same engine and thread count, and drive it with
grpc.aio streams of raw RGB 256x256 frames from this process:

- "1 stream, 1 in flight": request, wait, repeat; its p50 is compared with bare batch-1 latency
  (target: at most +2 ms).
- "N streams": each stream keeps --inflight frames in flight; throughput is compared with the
  bare backend at the batch size those streams produce (4 streams -> batch 4, target >= 0.9x;
  16 streams -> batch 8 = --max-batch).
- soak: --soak-frames frames through 4 streams on a small engine (ngf 4); the server's resident
  memory after the first tenth and at the end (target: flat).

Client and server share this machine's cores, so the service rows pay for the client too.
"""
from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402

from protos import translator_pb2 as pb  # noqa: E402
from protos import translator_pb2_grpc as pb_grpc  # noqa: E402


def export_engine(folder: Path, name: str, ngf: int, size: int) -> Path:
    from engines.export import export_generator
    from engines.synthetic import synthetic_generator

    return export_generator(synthetic_generator("unet_256", ngf=ngf, seed=1), folder / name,
                            name=name, input_size=size, description="bench engine")


def percentiles(latencies_s: list[float]) -> tuple[float, float]:
    ms = np.asarray(latencies_s) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def bare_rows(engine_dir: Path, size: int, threads: int, frames: int) -> dict[int, tuple]:
    """{batch: (fps, p50 ms, p99 ms)} for the backend alone."""
    from engines.registry import load_backend

    rng = np.random.default_rng(0)
    rows = {}
    with load_backend(engine_dir, "onnxruntime", max_batch=8, threads=threads) as backend:
        for batch in (1, 4, 8):
            data = rng.integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
            warm_until = time.perf_counter() + 0.5  # thread pools spun up, caches warm
            while time.perf_counter() < warm_until:
                backend.infer(data)
            calls = max(5, frames // batch)
            latencies = []
            start = time.perf_counter()
            for _ in range(calls):
                t = time.perf_counter()
                backend.infer(data)
                latencies.append(time.perf_counter() - t)
            elapsed = time.perf_counter() - start
            rows[batch] = (calls * batch / elapsed, *percentiles(latencies))
    return rows


class Server:
    """pix2pix-serve in a subprocess, so that its CPU and memory are its own."""

    def __init__(self, engines: Path, threads: int, max_batch: int, max_delay_ms: float,
                 inflight: int):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "--engines", str(engines), "--port", "0",
             "--host", "127.0.0.1", "--backend", "onnxruntime", "--inference-threads",
             str(threads), "--max-batch", str(max_batch), "--max-delay-ms", str(max_delay_ms),
             "--inflight", str(inflight), "--log-level", "WARNING"],
            cwd=ROOT, stderr=subprocess.PIPE, text=True)
        for line in self.process.stderr:
            match = re.search(r"listening on port (\d+)", line)
            if match:
                self.port = int(match.group(1))
                return
        raise RuntimeError(f"pix2pix-serve exited with {self.process.wait()}")

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


async def run_streams(port: int, model: str, streams: int, frames_per_stream: int,
                      inflight: int, size: int, on_progress=None) -> tuple[float, list[float]]:
    """(frames per second, per-frame latencies) for ``streams`` concurrent lossless streams."""
    pixels = np.random.default_rng(1).integers(0, 256, (size, size, 3), dtype=np.uint8).tobytes()
    image = pb.Image(raw=pb.RawImage(width=size, height=size, format=pb.RGB24, data=pixels))
    latencies: list[float] = []
    done = [0]

    async def one_stream(stub) -> None:
        call = stub.Translate()
        await call.write(pb.TranslateRequest(config=pb.StreamConfig(model=model)))
        room = asyncio.Semaphore(inflight)
        sent: dict[int, float] = {}

        async def write() -> None:
            for i in range(frames_per_stream):
                await room.acquire()
                sent[i] = time.perf_counter()
                await call.write(pb.TranslateRequest(frame=pb.Frame(sequence=i, image=image)))
            await call.done_writing()

        async def read() -> None:
            for _ in range(frames_per_stream):
                reply = await call.read()
                if reply.WhichOneof("result") != "image":
                    raise RuntimeError(f"frame {reply.sequence}: {reply.error.message}")
                latencies.append(time.perf_counter() - sent.pop(reply.sequence))
                room.release()
                done[0] += 1
                if on_progress is not None:
                    on_progress(done[0])

        await asyncio.gather(write(), read())

    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=[
            ("grpc.max_receive_message_length", 64 << 20),
            ("grpc.max_send_message_length", 64 << 20)]) as channel:
        stub = pb_grpc.TranslatorStub(channel)
        await asyncio.gather(*(one_stream(stub) for _ in range(min(streams, 2))))  # warm up
        latencies.clear()
        done[0] = 0
        start = time.perf_counter()
        await asyncio.gather(*(one_stream(stub) for _ in range(streams)))
        elapsed = time.perf_counter() - start
    return streams * frames_per_stream / elapsed, latencies


def soak(engines: Path, args) -> tuple[float, float, float]:
    """(RSS after the first tenth, RSS at the end, seconds) over args.soak_frames frames."""
    server = Server(engines, args.threads, args.max_batch, args.max_delay_ms, args.inflight)
    marks: dict[str, float] = {}
    tenth = args.soak_frames // 10

    def progress(count: int) -> None:
        if count == tenth:
            marks["early"] = server.rss_mb()

    try:
        start = time.perf_counter()
        asyncio.run(run_streams(server.port, "soak", 4, args.soak_frames // 4, args.inflight,
                                args.size, progress))
        seconds = time.perf_counter() - start
        return marks.get("early", float("nan")), server.rss_mb(), seconds
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="frame and engine size")
    parser.add_argument("--ngf", type=int, default=16, help="generator width of the main engine")
    parser.add_argument("--threads", type=int, default=2, help="inference threads, bare and served")
    parser.add_argument("--frames", type=int, default=240, help="frames per measurement")
    parser.add_argument("--max-batch", type=int, default=8)
    parser.add_argument("--max-delay-ms", type=float, default=5.0)
    parser.add_argument("--inflight", type=int, default=4, help="frames in flight per stream")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved repeats; medians shown")
    parser.add_argument("--soak-frames", type=int, default=10_000, help="0 skips the soak")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        engines = Path(tmp) / "engines"
        main_engine = export_engine(engines, "bench", args.ngf, args.size)
        soak_engines = Path(tmp) / "soak"
        export_engine(soak_engines, "soak", 4, args.size)

        runs = [(1, 1, 1), (1, args.inflight, 1), (4, args.inflight, 4),
                (16, args.inflight, args.max_batch)]
        bare_rounds, service_rounds = [], []
        server = Server(engines, args.threads, args.max_batch, args.max_delay_ms, args.inflight)
        try:
            # Rounds interleave bare and service runs so that a noisy neighbour hits both alike;
            # the table shows each row's median over the rounds.
            for round_index in range(args.rounds):
                print(f"round {round_index + 1}/{args.rounds}: bare backend ...", file=sys.stderr)
                bare_rounds.append(bare_rows(main_engine, args.size, args.threads, args.frames))
                rows = []
                for streams, inflight, batch in runs:
                    print(f"  service: {streams} stream(s), {inflight} in flight ...",
                          file=sys.stderr)
                    per_stream = max(inflight * 4, args.frames // streams)
                    fps, latencies = asyncio.run(run_streams(server.port, "bench", streams,
                                                             per_stream, inflight, args.size))
                    rows.append((fps, *percentiles(latencies)))
                service_rounds.append(rows)
        finally:
            server.stop()
        bare = {batch: tuple(np.median([r[batch] for r in bare_rounds], axis=0))
                for batch in bare_rounds[0]}
        rows = [(*run, *np.median([r[i] for r in service_rounds], axis=0))
                for i, run in enumerate(runs)]
        soaked = soak(soak_engines, args) if args.soak_frames else None

    print(f"\n{args.size}x{args.size} raw RGB frames, unet_256 ngf {args.ngf}, "
          f"{args.threads} inference threads, max batch {args.max_batch}, "
          f"max delay {args.max_delay_ms} ms; medians of {args.rounds} interleaved rounds\n")
    print(f"| {'run':<34} | {'fps':>7} | {'p50 ms':>7} | {'p99 ms':>7} | {'vs bare':>22} |")
    print(f"|{'-' * 36}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 24}|")
    for batch, (fps, p50, p99) in bare.items():
        print(f"| {'bare backend, batch ' + str(batch):<34} | {fps:7.1f} | {p50:7.2f} | {p99:7.2f} "
              f"| {'baseline':>22} |")
    for streams, inflight, batch, fps, p50, p99 in rows:
        name = f"service, {streams} stream{'s' if streams > 1 else ''}, {inflight} in flight"
        if inflight == 1:
            versus = f"p50 {p50 - bare[1][1]:+.2f} ms vs batch 1"
        else:
            versus = f"{fps / bare[batch][0]:.2f}x fps of batch {batch}"
        print(f"| {name:<34} | {fps:7.1f} | {p50:7.2f} | {p99:7.2f} | {versus:>22} |")
    if soaked:
        early, end, seconds = soaked
        print(f"\nsoak: {args.soak_frames} frames, 4 streams, ngf 4 engine, {seconds:.1f} s "
              f"({args.soak_frames / seconds:.0f} fps): server RSS {early:.1f} MB after "
              f"{args.soak_frames // 10} frames, {end:.1f} MB at the end ({end - early:+.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
