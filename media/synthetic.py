"""Synthetic media: PyAV-encoded clips and drawn frames, for tests, benchmarks and the demo."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def drawn_frame(i: int, width: int = 64, height: int = 48) -> np.ndarray:
    """A uint8 RGB frame with a moving square on a gradient, distinct for every i."""
    y, x = np.mgrid[0:height, 0:width]
    frame = np.stack([(x * 255 // max(width - 1, 1)), (y * 255 // max(height - 1, 1)),
                      np.full_like(x, (i * 37) % 256)], axis=2).astype(np.uint8)
    s = max(4, min(width, height) // 4)
    ox, oy = (i * 5) % max(width - s, 1), (i * 3) % max(height - s, 1)
    frame[oy:oy + s, ox:ox + s] = 255 - frame[oy:oy + s, ox:ox + s]
    return frame


def make_clip(path: str | Path, frames: int = 12, width: int = 64, height: int = 48,
              fps: int = 10, audio: bool = True, codec: str = "libx264", rotate: int = 0) -> Path:
    """Encodes ``frames`` drawn frames (and, with ``audio``, a matching stretch of a 440 Hz AAC
    tone) into ``path``; the container follows the suffix (.mp4, .mkv, .webm, .avi). ``rotate``
    tags the stream as phones do (the old "rotate" tag: degrees clockwise to show it upright),
    written as the display matrix MP4, MOV and Matroska carry."""
    path = Path(path)
    with av.open(str(path), "w") as container:
        video = container.add_stream(codec, rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        if rotate:
            video.set_display_rotation(-rotate)  # PyAV counts counter-clockwise
        astream = None
        if audio:
            astream = container.add_stream("aac", rate=44100)
            astream.layout = "mono"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(drawn_frame(i, width, height), format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            container.mux(video.encode(frame))
        container.mux(video.encode())
        if astream is not None:
            _write_tone(container, astream, seconds=frames / fps)
    return path


def _write_tone(container, stream, seconds: float, rate: int = 44100, chunk: int = 1024) -> None:
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    for start in range(0, len(samples), chunk):
        part = samples[start:start + chunk][None, :]
        frame = av.AudioFrame.from_ndarray(part, format="flt", layout="mono")
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        container.mux(stream.encode(frame))
    container.mux(stream.encode())


def probe(path: str | Path) -> dict:
    """Frame count (decoded), frame rate, duration, size and whether audio is present."""
    with av.open(str(path)) as container:
        v = container.streams.video[0]
        n = sum(1 for _ in container.decode(v))
        duration = float(container.duration / av.time_base) if container.duration else 0.0
        return {"frames": n, "fps": float(v.average_rate or v.guessed_rate or 0),
                "duration": duration, "width": v.codec_context.width,
                "height": v.codec_context.height, "has_audio": bool(container.streams.audio)}


def textured_frame(i: int, width: int = 1280, height: int = 720) -> np.ndarray:
    """A uint8 RGB frame of textured discs moving over a textured background, distinct for
    every i: fine detail (stripes a few pixels wide, speckle, small checks) that squashing a
    frame into a small square and back destroys, and that a translation at the frame's own
    size keeps."""
    rng = np.random.default_rng(1234)  # the same textures in every frame; only positions move
    y, x = np.ogrid[0:height, 0:width]
    stripes = (60 * np.sin(2 * np.pi * (x + 0.5 * y) / 5.0)).astype(np.int16)
    frame = np.array([90, 120, 150], np.int16) + stripes[:, :, None] + \
        rng.integers(0, 16, (height, width, 1), dtype=np.int16)
    short = min(width, height)
    for k, colour in enumerate(rng.integers(40, 200, (6, 3), dtype=np.int16)):
        radius = int(short * (0.08 + 0.02 * k))
        cx = int((0.15 + 0.14 * k) * width + 9 * i * (1 if k % 2 else -1)) % width
        cy = int((0.3 + 0.08 * k) * height + 5 * i) % height
        y0, y1, x0, x1 = max(0, cy - radius), min(height, cy + radius), max(0, cx - radius), \
            min(width, cx + radius)
        yy, xx = y[y0:y1] - cy, x[:, x0:x1] - cx
        inside = yy ** 2 + xx ** 2 < radius ** 2
        checks = 50 * ((yy // 3 + xx // 3) % 2)
        patch = frame[y0:y1, x0:x1]
        patch[inside] = (colour + checks[..., None])[inside]
    return np.clip(frame, 0, 255).astype(np.uint8)
