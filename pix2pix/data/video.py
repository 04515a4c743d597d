"""Decoding a video file into frames for training (the media layer's decoder)."""
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
    # PyAV and OpenCV only when a video is actually the training data
    from pix2pix_stream.media.errors import NoVideoStreamError, VideoDecodeError, VideoOpenError
    from pix2pix_stream.media.geometry import resize_short_side
    from pix2pix_stream.media.video_decode import VideoDecoder

    try:
        decoder = VideoDecoder(path)
    except NoVideoStreamError:
        raise VideoError(f"{path} has no video stream", path) from None
    except VideoOpenError as exc:
        raise VideoError(f"cannot open video {path}: {exc.reason}", path) from exc
    frames = []
    with decoder:
        try:
            for frame in decoder.frames():
                if frame.index % stride:
                    continue
                frames.append(resize_short_side(frame.rgb, size))
                if max_frames is not None and len(frames) >= max_frames:
                    break
        except VideoDecodeError as exc:
            raise VideoError(f"cannot decode video {path} at frame {exc.frames_decoded}: "
                             f"{exc.reason}", path) from exc
    if not frames:
        raise VideoError(f"video {path} has no frames", path)
    return np.stack(frames)
