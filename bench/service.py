"""Service throughput and latency against the bare backend, in one run.

    python bench/service.py                  # unet_256 ngf 16 engine, 2 threads, frames of
                                             # 256x256, then 512x256 and 1280x768
    python bench/service.py --ngf 32 --frames 400 --soak-frames 10000
    python bench/service.py --json out/service.json   # also write the rows (bench/run_all.py)

pix2pix-serve runs as a subprocess with the engine and thread count of the bare ONNX Runtime
backend that runs in this process; grpc.aio streams of raw RGB frames drive the server from
here. Each comparison alternates short bare and served stretches (--rounds of them) so that a
busy neighbour on the machine slows both alike:

- "1 stream, 1 in flight" (request, wait, repeat) against bare batch 1 called the same way, one
  call at a time with a 1 ms pause: p50 latency, target at most +2 ms;
- "1 stream, 4 in flight" against bare batch 1 back to back, "4 streams" against bare batch 4,
  "16 streams" against bare batch 8 (= --max-batch): frames per second, target >= 0.9x for 4.
- every row also runs the same client against bench/echo_server.py (the same service, each
  frame sent straight back, no model) in the same rounds: the transport floor, which no server
  of this protocol goes below (its p50 for the latency target, its CPU per frame for the CPU
  target; bench/targets.py puts both beside the targets);
- soak: --soak-frames frames through 4 streams on a small engine (ngf 4); the server's resident
  memory after the first tenth and at the end (target: flat).
- --compare-requests: 4 streams with requests built as the client library builds them (in
  place, pix2pix_stream.client.frames.frame_request) against nested constructors, which copy
  each frame once per level, alternating; CPU per frame of server + client and fps of both.

Every comparison runs with 256x256 frames (the trained square); the frames of the other
--sizes (512x256: a 16:9 frame at the default engine scale; 1280x768: 720p at native scale)
repeat the "1 stream, 4 in flight" and "4 streams" rows. The server runs with --scale native,
so each frame is computed at its own size and the bare backend runs at that same size.

Engines are exported in a child process so that this one never imports torch. Client and server
share this machine's cores, so the service rows also pay for the client.
"""
from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from pathlib import Path

import grpc
import numpy as np

from pix2pix_stream.client.frames import frame_request
from pix2pix_stream.engines.runtime.registry import SPINNING_MODES
from pix2pix_stream.protos import translator_pb2 as pb
from pix2pix_stream.protos import translator_pb2_grpc as pb_grpc
from results_json import write_json  # bench/, this script's folder
from serve_process import EchoServer, Server, export_synthetic_engine  # bench/

PAUSE_S = 0.001  # between calls of the request/response comparison, bare and served alike


def percentiles(latencies_s: list[float]) -> tuple[float, float]:
    ms = np.asarray(latencies_s) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


class Tally:
    """Frames, seconds and per-call latencies summed over the stretches of one side."""

    def __init__(self):
        self.frames, self.seconds, self.latencies, self.overheads = 0, 0.0, [], []
        self.cpu_s = 0.0  # CPU time of every process involved (bare: this one; served: both)

    def add(self, frames: int, seconds: float, latencies: list[float], overheads=()) -> None:
        self.frames += frames
        self.seconds += seconds
        self.latencies += latencies
        self.overheads += overheads

    def row(self) -> dict:
        p50, p99 = percentiles(self.latencies)
        return {"fps": self.frames / self.seconds, "p50_ms": p50, "p99_ms": p99,
                "cpu_ms_per_frame": self.cpu_ms_per_frame()}

    def cpu_ms_per_frame(self) -> float:
        return self.cpu_s / self.frames * 1000

    def overhead_p50(self) -> float:
        return percentiles(self.overheads)[0] if self.overheads else float("nan")


def bare_stretch(backend, batch: int, frames: int, size: tuple[int, int], pause: float) -> tuple:
    width, height = size
    data = np.random.default_rng(0).integers(0, 256, (batch, height, width, 3), dtype=np.uint8)
    latencies = []
    start = time.perf_counter()
    for _ in range(max(1, frames // batch)):
        t = time.perf_counter()
        backend.infer(data)
        latencies.append(time.perf_counter() - t)
        if pause:
            time.sleep(pause)
    return max(1, frames // batch) * batch, time.perf_counter() - start, latencies


def nested_request(pixels: np.ndarray, i: int) -> pb.TranslateRequest:
    """The request as nested constructors build it: each level copies the frame."""
    h, w = pixels.shape[:2]
    image = pb.Image(raw=pb.RawImage(width=w, height=h, format=pb.RGB24, data=pixels.tobytes()))
    return pb.TranslateRequest(frame=pb.Frame(sequence=i, image=image))


async def served_stretch(stub, model: str, streams: int, frames: int, inflight: int,
                         size: tuple[int, int], pause: float = 0.0, on_reply=None,
                         build=frame_request) -> tuple:
    """``frames`` frames of ``size`` (width, height) over ``streams`` concurrent lossless
    streams; ``build(pixels, i)`` makes each request (default: as the client library does)."""
    width, height = size
    pixels = np.random.default_rng(1).integers(0, 256, (height, width, 3), dtype=np.uint8)
    per_stream = max(1, frames // streams)
    latencies: list[float] = []
    overheads: list[float] = []  # latency minus the server's own inference time for the frame

    async def one_stream() -> None:
        call = stub.Translate()
        await call.write(pb.TranslateRequest(config=pb.StreamConfig(model=model)))
        room = asyncio.Semaphore(inflight)
        sent: dict[int, float] = {}

        async def write() -> None:
            for i in range(per_stream):
                await room.acquire()
                if pause:
                    await asyncio.sleep(pause)
                sent[i] = time.perf_counter()
                await call.write(build(pixels, i))
            await call.done_writing()

        async def read() -> None:
            for _ in range(per_stream):
                reply = await call.read()
                if reply.WhichOneof("result") != "image":
                    raise RuntimeError(f"frame {reply.sequence}: {reply.error.message}")
                latencies.append(time.perf_counter() - sent.pop(reply.sequence))
                overheads.append(latencies[-1] - reply.inference_ms / 1000)
                room.release()
                if on_reply is not None:
                    on_reply(len(latencies))

        await asyncio.gather(write(), read())

    start = time.perf_counter()
    await asyncio.gather(*(one_stream() for _ in range(streams)))
    return per_stream * streams, time.perf_counter() - start, latencies, overheads


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def channel_to(server: "Server") -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(f"127.0.0.1:{server.port}", options=[
        ("grpc.max_receive_message_length", 64 << 20),
        ("grpc.max_send_message_length", 64 << 20)])


async def timed_stretch(tally: Tally, server: "Server", stub, *stretch_args) -> None:
    """One served stretch into ``tally``, with the CPU time of this process and ``server``."""
    before = own_cpu_s() + server.cpu_s()
    tally.add(*await served_stretch(stub, *stretch_args))
    tally.cpu_s += own_cpu_s() + server.cpu_s() - before


async def compare(server: "Server", echo: "EchoServer", backend, args) -> list[dict]:
    """One dict per comparison: its shape (streams, in flight, bare batch, paced), "served",
    "bare" and "echo" (fps, p50_ms, p99_ms, cpu_ms_per_frame; served also not_infer_p50_ms) and
    the verdict ratio: served/bare fps, or served minus bare p50 latency for the paced row. The
    echo server runs the same client code against a server that returns each frame untouched:
    its p50 is the floor of served minus bare latency (the bare backend has no transport), its
    CPU per frame the floor of served minus bare CPU."""
    square = (args.size, args.size)
    runs = [  # streams, in flight, bare batch, pause, frame size
        (1, 1, 1, PAUSE_S, square), (1, args.inflight, 1, 0.0, square),
        (4, args.inflight, 4, 0.0, square), (16, args.inflight, args.max_batch, 0.0, square)]
    for size in args.sizes[1:]:
        runs += [(1, args.inflight, 1, 0.0, size), (4, args.inflight, 4, 0.0, size)]
    async with channel_to(server) as channel, channel_to(echo) as echo_channel:
        stub, echo_stub = pb_grpc.TranslatorStub(channel), pb_grpc.TranslatorStub(echo_channel)
        rows = []
        for streams, inflight, batch, pause, size in runs:
            print(f"{streams} stream(s), {inflight} in flight vs bare batch {batch}, "
                  f"{size[0]}x{size[1]} ...", file=sys.stderr)
            bare, served, echoed = Tally(), Tally(), Tally()
            await served_stretch(stub, "bench", 2, 8, args.inflight, size)  # warm up this size
            await served_stretch(echo_stub, "echo", 2, 8, args.inflight, size)
            bare_stretch(backend, batch, 4 * batch, size, pause)  # warm this batch size
            # frames per stretch in proportion to the cost of a frame: comparable run times
            scale = size[0] * size[1] / (args.size * args.size)
            stretch = max(2 * streams * inflight, round(args.frames / args.rounds / scale))
            for _ in range(args.rounds):
                before = own_cpu_s()
                bare.add(*bare_stretch(backend, batch, stretch, size, pause))
                bare.cpu_s += own_cpu_s() - before
                await timed_stretch(served, server, stub, "bench", streams, stretch, inflight,
                                    size, pause)
                await timed_stretch(echoed, echo, echo_stub, "echo", streams, stretch, inflight,
                                    size, pause)
            bare_name = f"batch {batch}" + (", paced" if pause else "")
            name = f"{streams} stream{'s' if streams > 1 else ''}, {inflight} in flight"
            if size != square:
                name += f", {size[0]}x{size[1]}"
            row = {"run": name, "size": f"{size[0]}x{size[1]}", "streams": streams, "inflight": inflight, "bare_batch": batch,
                   "paced": bool(pause), "bare_name": bare_name, "bare": bare.row(),
                   "served": {**served.row(), "not_infer_p50_ms": served.overhead_p50()},
                   "echo": echoed.row()}
            row["served_over_bare_fps"] = row["served"]["fps"] / row["bare"]["fps"]
            row["p50_delta_ms"] = row["served"]["p50_ms"] - row["bare"]["p50_ms"]
            rows.append(row)
    return rows


async def compare_requests(server: "Server", args) -> dict:
    """4 streams, alternating stretches of in-place and nested request building, each first
    in every other round, after a warm-up stretch (A/A runs without them put 3-9% more client
    CPU on the side that ran first)."""
    tallies = {"in place (client library)": Tally(), "nested constructors": Tally()}
    builders = dict(zip(tallies, (frame_request, nested_request)))
    client_cpu_s = dict.fromkeys(tallies, 0.0)  # this process alone: the client's share
    stretch = max(2 * 4 * args.inflight, args.frames // args.rounds)
    async with channel_to(server) as channel:
        stub = pb_grpc.TranslatorStub(channel)
        square = (args.size, args.size)
        await served_stretch(stub, "bench", 4, stretch, args.inflight, square)  # warm up
        for round_ in range(args.rounds):
            order = list(tallies) if round_ % 2 == 0 else list(tallies)[::-1]  # no slot bias
            for name in order:
                tally = tallies[name]
                before, client_before = own_cpu_s() + server.cpu_s(), own_cpu_s()
                tally.add(*await served_stretch(stub, "bench", 4, stretch, args.inflight,
                                                square, build=builders[name]))
                tally.cpu_s += own_cpu_s() + server.cpu_s() - before
                client_cpu_s[name] += own_cpu_s() - client_before
    rows = {name: {**tally.row(), "client_cpu_ms_per_frame": client_cpu_s[name] / tally.frames * 1000}
            for name, tally in tallies.items()}
    fast, slow = rows.values()
    return {"rows": rows, "fps_ratio": fast["fps"] / slow["fps"],
            "cpu_saved_ms_per_frame": slow["cpu_ms_per_frame"] - fast["cpu_ms_per_frame"],
            "client_cpu_ratio": fast["client_cpu_ms_per_frame"] / slow["client_cpu_ms_per_frame"]}


def soak(engines: Path, args) -> tuple[float, float, float]:
    """(RSS after the first tenth, RSS at the end, seconds) over args.soak_frames frames."""
    server = Server(engines, args)
    marks: dict[str, float] = {}
    tenth = args.soak_frames // 10

    def on_reply(count: int) -> None:
        if count == tenth:
            marks["early"] = server.rss_mb()

    async def run() -> float:
        async with channel_to(server) as channel:
            _, seconds, _, _ = await served_stretch(pb_grpc.TranslatorStub(channel), "soak", 4,
                                                 args.soak_frames, args.inflight,
                                                 (args.size, args.size),
                                                 on_reply=on_reply)
            return seconds

    try:
        seconds = asyncio.run(run())
        return marks.get("early", float("nan")), server.rss_mb(), seconds
    finally:
        server.stop()


def print_table(rows: list[dict], args) -> None:
    print(f"\n{args.size}x{args.size} raw RGB frames, unet_256 ngf {args.ngf}, {args.threads} "
          f"inference threads, max batch {args.max_batch}, max delay {args.max_delay_ms} ms, "
          f"{args.rounds} alternating stretches per row, ONNX Runtime spinning {args.spinning}\n")
    print(f"| {'service run':<34} | {'fps':>6} | {'p50 ms':>6} | {'p99 ms':>7} "
          f"| {'not infer':>9} | {'cpu/frame':>9} | {'bare backend':<15} | {'fps':>6} "
          f"| {'p50 ms':>6} | {'p99 ms':>6} | {'cpu/frame':>9} | {'served/bare':>13} |")
    print(f"|{'-' * 36}|{'-' * 8}|{'-' * 8}|{'-' * 9}|{'-' * 11}|{'-' * 11}|{'-' * 17}|"
          f"{'-' * 8}|{'-' * 8}|{'-' * 8}|{'-' * 11}|{'-' * 15}|")
    for r in rows:
        s, b = r["served"], r["bare"]
        verdict = (f"p50 {r['p50_delta_ms']:+.2f} ms" if r["paced"]
                   else f"{r['served_over_bare_fps']:.2f}x fps")
        print(f"| {r['run']:<34} | {s['fps']:6.1f} | {s['p50_ms']:6.2f} | {s['p99_ms']:7.2f} "
              f"| {s['not_infer_p50_ms']:9.2f} | {s['cpu_ms_per_frame']:9.2f} "
              f"| {r['bare_name']:<15} | {b['fps']:6.1f} | {b['p50_ms']:6.2f} | {b['p99_ms']:6.2f} "
              f"| {b['cpu_ms_per_frame']:9.2f} | {verdict:>13} |")
    print_floor(rows)
    print("\nnot infer: p50 of each frame's latency minus its batch's inference time as the "
          "server measured it (transport, queues, hops, client).\ncpu/frame: CPU ms per frame of "
          "every process involved (served: server + client; bare: the backend alone).\nBoth "
          "hold on a busy machine, where wall-clock ratios mostly measure who got the cores.")


def print_floor(rows: list[dict]) -> None:
    """The echo server's rows beside what the service adds over the bare backend."""
    print("\ntransport floor: the same client against bench/echo_server.py (each frame sent "
          "straight back, no model), alternated with the rows above\n")
    print(f"| {'service run':<34} | {'echo fps':>8} | {'echo p50 ms':>11} | {'echo cpu/frame':>14} "
          f"| {'served - bare cpu/frame':>23} | {'served - bare p50':>17} |")
    print(f"|{'-' * 36}|{'-' * 10}|{'-' * 13}|{'-' * 16}|{'-' * 25}|{'-' * 19}|")
    for r in rows:
        e = r["echo"]
        extra_cpu = r["served"]["cpu_ms_per_frame"] - r["bare"]["cpu_ms_per_frame"]
        extra_p50 = f"{r['p50_delta_ms']:+.2f} ms" if r["paced"] else ""
        print(f"| {r['run']:<34} | {e['fps']:8.1f} | {e['p50_ms']:11.2f} "
              f"| {e['cpu_ms_per_frame']:14.2f} | {extra_cpu:23.2f} | {extra_p50:>17} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="engine (trained) size and the "
                        "square frames of the main comparisons")
    parser.add_argument("--sizes", nargs="+", default=["256x256", "512x256", "1280x768"],
                        metavar="WxH", help="frame sizes; after the first (the square) each "
                        "repeats two comparisons")
    parser.add_argument("--ngf", type=int, default=16, help="generator width of the main engine")
    parser.add_argument("--threads", type=int, default=2, help="inference threads, bare and served")
    parser.add_argument("--frames", type=int, default=400, help="frames per side of each row")
    parser.add_argument("--rounds", type=int, default=8, help="alternating stretches per row")
    parser.add_argument("--spinning", default="always", choices=SPINNING_MODES,
                        help="ONNX Runtime's thread spinning, bare and served "
                             "(pix2pix-serve --onnxruntime-spinning)")
    parser.add_argument("--max-batch", type=int, default=8)
    parser.add_argument("--max-delay-ms", type=float, default=5.0)
    parser.add_argument("--inflight", type=int, default=4, help="frames in flight per stream")
    parser.add_argument("--soak-frames", type=int, default=10_000, help="0 skips the soak")
    parser.add_argument("--compare-requests", action="store_true",
                        help="also compare in-place and nested request building (4 streams)")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON to PATH")
    args = parser.parse_args(argv)
    args.sizes = [tuple(int(v) for v in text.lower().split("x")) for text in args.sizes]

    from pix2pix_stream.engines.runtime.registry import load_backend

    with tempfile.TemporaryDirectory() as tmp:
        print("exporting engines ...", file=sys.stderr)
        engines = Path(tmp) / "engines"
        engine = export_synthetic_engine(engines, "bench", net="unet_256", ngf=args.ngf,
                                         size=args.size, description="bench engine")
        soak_engines = Path(tmp) / "soak"
        if args.soak_frames:
            export_synthetic_engine(soak_engines, "soak", net="unet_256", ngf=4, size=args.size,
                                    description="bench engine")
        server, echo = Server(engines, args), EchoServer()
        try:
            with load_backend(engine, "onnxruntime", max_batch=8, threads=args.threads,
                              spinning=args.spinning) as bare:
                rows = asyncio.run(compare(server, echo, bare, args))
            requests = asyncio.run(compare_requests(server, args)) if args.compare_requests else None
        finally:
            server.stop()
            echo.stop()
        print("soak ...", file=sys.stderr)
        soaked = soak(soak_engines, args) if args.soak_frames else None

    print_table(rows, args)
    if requests:
        print("\nrequest building, 4 streams, alternating stretches (CPU: server + client):")
        for name, row in requests["rows"].items():
            print(f"  {name:<27} {row['fps']:6.1f} fps  {row['cpu_ms_per_frame']:6.2f} CPU ms/frame"
                  f" (client {row['client_cpu_ms_per_frame']:.2f})")
        print(f"  in place: {requests['cpu_saved_ms_per_frame']:+.2f} CPU ms/frame saved, client "
              f"CPU {requests['client_cpu_ratio']:.2f}x, fps {requests['fps_ratio']:.2f}x")
    soak_row = None
    if soaked:
        early, end, seconds = soaked
        soak_row = {"frames": args.soak_frames, "streams": 4, "ngf": 4, "seconds": seconds,
                    "fps": args.soak_frames / seconds, "rss_early_mb": early,
                    "rss_early_after_frames": args.soak_frames // 10, "rss_end_mb": end,
                    "rss_growth_mb": end - early}
        print(f"\nsoak: {args.soak_frames} frames, 4 streams, ngf 4 engine, {seconds:.1f} s "
              f"({soak_row['fps']:.0f} fps): server RSS {early:.1f} MB after "
              f"{args.soak_frames // 10} frames, {end:.1f} MB at the end ({end - early:+.1f} MB)")
    if args.json:
        settings = {**vars(args), "sizes": [f"{w}x{h}" for w, h in args.sizes]}
        write_json(args.json, "service", settings, rows, baseline="bare onnxruntime backend",
                   soak=soak_row, requests=requests)
    return 0


if __name__ == "__main__":
    sys.exit(main())
