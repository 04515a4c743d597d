"""Resizing frames: the one rule every part uses (engine inputs, replies, encoded video,
training frames), so that a frame is scaled the same way wherever it goes."""
from __future__ import annotations

import numpy as np


def resize(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resized to width x height: area averaging when shrinking (no aliasing), bilinear when
    enlarging. The very same array when it already has that size, so a frame at the engine's
    size reaches the engine untouched."""
    h, w = frame.shape[:2]
    if (w, h) == (width, height):
        return frame
    import cv2  # imported on first use: importing the client need not load OpenCV

    shrinking = width * height < w * h
    return cv2.resize(frame, (width, height),
                      interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def side_by_side(original: np.ndarray | None, output: np.ndarray,
                 panel: tuple[int, int]) -> np.ndarray:
    """input | output, each resized to ``panel`` (width, height); black where the input is
    missing (a live stream's dropped frame)."""
    right = resize(output, *panel)
    left = np.zeros_like(right) if original is None else resize(original, *panel)
    return np.concatenate([left, right], axis=1)
