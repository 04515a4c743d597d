"""Decoding a video file into frames for training (PyAV)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pix2pix_stream.pix2pix.errors import VideoError

VIDEO_SUFFIXES = {".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".mpg", ".mpeg", ".ts"}


def decode_frames(path: Path, size: int, *, stride: int = 1, max_frames: int | None = None
                  ) -> np.ndarray:
    """Every ``stride``-th frame with its short side resized to ``size`` (the load size the
    training pipeline resizes to anyway; the aspect ratio is kept), as uint8 RGB [N, H, W, 3].
    Frames are kept small so that a long clip fits in memory; ``max_frames`` caps how many are
    kept."""
    from pix2pix_stream.media.geometry import resize_short_side

    import av  # PyAV only when a video is actually the training data

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise VideoError(f"cannot open video {path}: {exc}", path) from exc
    frames = []
    with container:
        if not container.streams.video:
            raise VideoError(f"{path} has no video stream", path)
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for i, frame in enumerate(container.decode(stream)):
                if i % stride:
                    continue
                rgb = frame.to_ndarray(format="rgb24")
                frames.append(resize_short_side(rgb, size))
                if max_frames is not None and len(frames) >= max_frames:
                    break
        except av.error.FFmpegError as exc:
            raise VideoError(f"cannot decode video {path} at frame {len(frames) * stride}: {exc}",
                             path) from exc
    if not frames:
        raise VideoError(f"video {path} has no frames", path)
    return np.stack(frames)
