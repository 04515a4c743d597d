"""The main job, end to end: serve the shipped engine on CPU and translate a sample video.

Starts `pix2pix-serve` on a free port with the engines in engines/, waits until its health check
says SERVING, translates ../shared/data/video/realshort_240p.mp4 (or, where that is absent, a
clip it draws) with `pix2pix-client video --side-by-side`, writes out/demo.mp4 (input | output)
and out/demo.png (a contact sheet: input | what the engine sees | output), and stops the server.
"""
from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SAMPLE = ROOT.parent / "shared" / "data" / "video" / "realshort_240p.mp4"


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


def contact_sheet(side_by_side: Path, engine_dir: Path, out_png: Path, rows: int = 4) -> None:
    """Picks `rows` evenly spaced frames of the side-by-side video and lays them out as
    input | engine input (after the engine's input transform) | output."""
    import av
    import numpy as np
    from PIL import Image

    from pix2pix_stream.engines.runtime.metadata import read_metadata

    meta = read_metadata(engine_dir)
    transform, engine_size = meta.transform, (meta.input_width, meta.input_height)
    with av.open(str(side_by_side)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    picks = [frames[int(i)] for i in np.linspace(0, len(frames) - 1, rows)]
    lines = []
    for frame in picks:
        half = frame.shape[1] // 2
        src, result = frame[:, :half], frame[:, half:2 * half]
        lines.append(np.concatenate([src, engine_view(src, transform, engine_size), result], axis=1))
    Image.fromarray(np.concatenate(lines, axis=0)).save(out_png)


def engine_view(frame, transform, engine_size):
    """What the engine is fed: the frame resized to its input size and transformed, as the
    server does it, then scaled back to the frame's size for the sheet."""
    import cv2

    height, width = frame.shape[:2]
    small = cv2.resize(frame, engine_size, interpolation=cv2.INTER_AREA)
    return cv2.resize(transform(small), (width, height), interpolation=cv2.INTER_NEAREST)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", type=Path, default=ROOT / "engines")
    parser.add_argument("--model", default="edges2facades", help="engine name in --engines")
    parser.add_argument("--video", type=Path, default=SAMPLE, help="input video (default: the shared sample)")
    parser.add_argument("--out", type=Path, default=ROOT / "out")
    args = parser.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    video = args.video if args.video.is_file() else drawn_clip(args.out / "sample.mp4")
    port = free_port()
    target = f"127.0.0.1:{port}"
    server = subprocess.Popen([str(BIN / "pix2pix-serve"), "--engines", str(args.engines),
                               "--host", "127.0.0.1", "--port", str(port), "--backend", "auto"])
    try:
        wait_until_serving(target, server)
        demo_mp4 = args.out / "demo.mp4"
        started = time.monotonic()
        subprocess.run([str(BIN / "pix2pix-client"), "video", str(video), str(demo_mp4),
                        "--server", target, "--model", args.model, "--side-by-side"], check=True)
        elapsed = time.monotonic() - started
        contact_sheet(demo_mp4, args.engines / args.model, args.out / "demo.png")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    print(f"\ninput:          {video}")
    print(f"translated in:  {elapsed:.1f} s")
    print(f"side by side:   {demo_mp4}")
    print(f"contact sheet:  {args.out / 'demo.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
