"""The main job, end to end: serve the shipped engine on CPU and translate a sample video.

Starts `pix2pix-serve` on a free port with the engines in engines/, waits until its health check
says SERVING, and translates a clip with `pix2pix-client video`, twice: as the engine makes it
and with the server's temporal filter (`--temporal strong`). The clip is the held-out tail of
../shared/data/video/bigbuckbunny_30s_720p.webm (its last 5 s, which the shipped edges2bunny
engine never saw in training), scaled to 640x360; where that is absent, a clip it draws.
Writes out/demo.mp4 (input | edges, what the engine sees | output), out/demo_strong.mp4 (the
same with the filter) and out/demo.png, a contact sheet of consecutive frames: input | edges |
output | output with the filter. Stops the server.
"""
from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
BUNNY = ROOT.parent / "shared" / "data" / "video" / "bigbuckbunny_30s_720p.webm"
TAIL_FROM_S = 25.0          # the engine trained on the first 25 s
DEMO_SIZE = (640, 360)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def drawn_clip(path: Path, frames: int = 48, size: tuple[int, int] = (320, 240), fps: int = 24) -> Path:
    """A clip of moving shapes, for machines without the shared sample video."""
    import av
    import cv2
    import numpy as np

    w, h = size
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(frames):
            img = np.full((h, w, 3), 235, np.uint8)
            cv2.rectangle(img, (20 + 3 * i, 40), (120 + 3 * i, 200), (180, 90, 60), -1)
            for k in range(4):
                cv2.rectangle(img, (150 + 40 * k, 60 + i % 10), (180 + 40 * k, 100 + i % 10), (60, 60, 160), -1)
            cv2.circle(img, (w - 60, 60 + 2 * i), 25, (40, 160, 40), -1)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(stream.encode())
    return path


def wait_until_serving(target: str, proc: subprocess.Popen, timeout_s: float = 120.0) -> None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    deadline = time.monotonic() + timeout_s
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"demo: the server exited with code {proc.returncode}")
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.3)
    raise SystemExit(f"demo: the server at {target} did not become healthy in {timeout_s:.0f} s")


def held_out_tail(path: Path, out: Path) -> Path:
    """The clip's frames from TAIL_FROM_S on, scaled to DEMO_SIZE, as an H.264 file."""
    from pix2pix_stream.media.geometry import resize
    from pix2pix_stream.media.video_decode import VideoDecoder
    from pix2pix_stream.media.video_encode import VideoEncoder

    with VideoDecoder(path) as decoder:
        info = decoder.info
        rate = Fraction(info.rate)
        first = round(TAIL_FROM_S * rate)
        with VideoEncoder(out, size=DEMO_SIZE, rate=rate, time_base=1 / rate) as encoder:
            for frame in decoder.frames():
                if frame.index >= first:
                    encoder.write(resize(frame.rgb, *DEMO_SIZE), frame.index - first)
    return out


def decoded(path: Path) -> tuple[list, Fraction]:
    """(the video's frames, its frame rate)."""
    from pix2pix_stream.media.video_decode import VideoDecoder

    with VideoDecoder(path) as decoder:
        return [frame.rgb for frame in decoder.frames()], Fraction(decoder.info.rate)


def engine_view(frame, meta):
    """What the engine is fed: the frame planned as the server plans it at its default policy
    (media.geometry), transformed, without the padding, scaled back to the frame's size."""
    import cv2

    from pix2pix_stream.media.geometry import plan_compute

    height, width = frame.shape[:2]
    plan = plan_compute(width, height, "engine", meta.geometry)
    edges = plan.crop(plan.prepare(frame, meta.transform))
    return cv2.resize(edges, (width, height), interpolation=cv2.INTER_NEAREST)


def compose(video: Path, outputs: dict[str, Path], engine_dir: Path, out: Path,
            sheet_rows: int = 5) -> None:
    """out/demo*.mp4: input | edges | output per run, and out/demo.png: ``sheet_rows``
    consecutive frames from the middle, input | edges | each run's output."""
    import cv2
    import numpy as np

    from pix2pix_stream.engines.runtime.metadata import read_metadata
    from pix2pix_stream.media.video_encode import VideoEncoder

    meta = read_metadata(engine_dir)
    inputs, rate = decoded(video)
    edges = [engine_view(f, meta) for f in inputs]
    runs = {name: decoded(path)[0] for name, path in outputs.items()}
    h, w = inputs[0].shape[:2]
    for name, frames in runs.items():
        with VideoEncoder(out / f"{name}.mp4", size=(3 * w, h), rate=rate,
                          time_base=1 / rate) as encoder:
            for i, (src, edge, result) in enumerate(zip(inputs, edges, frames)):
                encoder.write(np.concatenate([src, edge, result], axis=1), i)
    middle = max(0, len(inputs) // 2 - sheet_rows // 2)
    rows = [np.concatenate([inputs[i], edges[i], *(r[i] for r in runs.values())], axis=1)
            for i in range(middle, min(len(inputs), middle + sheet_rows))]
    sheet = np.concatenate(rows)
    sheet = cv2.resize(sheet, (sheet.shape[1] // 2, sheet.shape[0] // 2), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(out / "demo.png"), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


def default_model(engines: Path) -> str:
    return "edges2bunny" if (engines / "edges2bunny" / "engine.json").is_file() else "edges2facades"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", type=Path, default=ROOT / "engines")
    parser.add_argument("--model", default=None,
                        help="engine name in --engines (default: edges2bunny, else edges2facades)")
    parser.add_argument("--video", type=Path, default=None,
                        help="input video (default: the bunny clip's held-out tail)")
    parser.add_argument("--out", type=Path, default=ROOT / "out")
    args = parser.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    model = args.model or default_model(args.engines)
    if args.video is not None:
        video = args.video
    elif BUNNY.is_file():
        video = held_out_tail(BUNNY, args.out / "bunny_tail.mp4")
    else:
        video = drawn_clip(args.out / "sample.mp4")
    port = free_port()
    target = f"127.0.0.1:{port}"
    server = subprocess.Popen([str(BIN / "pix2pix-serve"), "--engines", str(args.engines),
                               "--host", "127.0.0.1", "--port", str(port), "--backend", "auto"])
    outputs, timings = {"demo": args.out / "translated.mp4",
                        "demo_strong": args.out / "translated_strong.mp4"}, {}
    try:
        wait_until_serving(target, server)
        for name, path in outputs.items():
            started = time.monotonic()
            subprocess.run([str(BIN / "pix2pix-client"), "video", str(video), str(path),
                            "--server", target, "--model", model,
                            "--temporal", "strong" if name.endswith("strong") else "off"],
                           check=True)
            timings[name] = time.monotonic() - started
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    compose(video, outputs, args.engines / model, args.out)
    print(f"\ninput:          {video} (engine {model})")
    print(f"translated in:  {timings['demo']:.1f} s; with the temporal filter "
          f"{timings['demo_strong']:.1f} s")
    print(f"videos:         {args.out / 'demo.mp4'}, {args.out / 'demo_strong.mp4'} "
          "(input | edges | output)")
    print(f"contact sheet:  {args.out / 'demo.png'} (consecutive frames: input | edges | "
          "output | output with the filter)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
