"""Input transforms: what turns a camera frame into the generator's input.

An engine trained on, say, Canny edges of video frames stores ``{"name": "canny", "params":
{...}}`` in its checkpoint and engine.json; training makes its inputs with the same function the
server later applies to live frames, so the two can never drift apart. Pure numpy + OpenCV: the
server and training both import this, and it must not pull torch.

Every transform maps uint8 RGB ``[H, W, 3]`` to uint8 RGB ``[H, W, 3]`` (single-channel results
are replicated to three channels so that engines always see three-channel input).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from pix2pix_stream.media.errors import TransformError


def _cv2():
    import cv2  # imported lazily: a client-only install may lack OpenCV

    return cv2


def _gray3(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[:, :, None], 3, axis=2)


def _identity(frame: np.ndarray) -> np.ndarray:
    return frame


def _grayscale(frame: np.ndarray) -> np.ndarray:
    return _gray3(_cv2().cvtColor(frame, _cv2().COLOR_RGB2GRAY))


def _blur(frame: np.ndarray, ksize: int = 9, sigma: float = 0.0) -> np.ndarray:
    ksize = int(ksize) | 1  # Gaussian kernels must be odd
    return _cv2().GaussianBlur(frame, (ksize, ksize), float(sigma))


def _canny(frame: np.ndarray, low: int = 100, high: int = 200, invert: bool = True,
           blur: int = 3) -> np.ndarray:
    """Canny edges; by default black edges on white, as in pix2pix's edges2* datasets."""
    cv2 = _cv2()
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    if blur and int(blur) > 1:
        k = int(blur) | 1
        gray = cv2.GaussianBlur(gray, (k, k), 0)
    edges = cv2.Canny(gray, int(low), int(high))
    return _gray3(255 - edges if invert else edges)


_TRANSFORMS: dict[str, Callable[..., np.ndarray]] = {
    "none": _identity,
    "grayscale": _grayscale,
    "blur": _blur,
    "canny": _canny,
}


def available_transforms() -> list[str]:
    return sorted(_TRANSFORMS)


@dataclass(frozen=True)
class InputTransform:
    """A named transform with its parameters; serialisable as ``{"name": ..., "params": ...}``."""

    name: str = "none"
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.name not in _TRANSFORMS:
            raise TransformError(
                f"unknown input transform {self.name!r}; available: {', '.join(available_transforms())}")
        try:  # check the parameter names now, not on the first frame
            _TRANSFORMS[self.name](np.zeros((8, 8, 3), np.uint8), **self.params)
        except TypeError as exc:
            raise TransformError(f"bad parameters for input transform {self.name!r}: {exc}") from exc

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise TransformError(f"input transform expects uint8 [H, W, 3], got {frame.dtype} {frame.shape}")
        return _TRANSFORMS[self.name](frame, **self.params)

    @property
    def is_identity(self) -> bool:
        return self.name == "none"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "params": dict(self.params)}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "InputTransform":
        data = data or {}
        return cls(name=data.get("name", "none"), params=dict(data.get("params", {})))

    def __hash__(self):
        return hash((self.name, tuple(sorted(self.params.items()))))
