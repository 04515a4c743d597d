"""The compute-size policy: at what size a frame is translated, the same in training and serving.

A pix2pix generator is fully convolutional: it runs at any height and width that are multiples
of 2**depth (its ``size_multiple``). So a frame is never squashed into the engine's square:

- ``engine`` (the default): keep the aspect ratio, scale so that the short side is the engine's
  crop size (what it was trained at), let the long side follow. 1280x720 on a 256 engine is
  computed at 455x256.
- ``native``: the frame's own size.
- an integer N: short side N.

The scaled frame is then padded (reflect) up to the multiple (455x256 -> 512x256), translated,
the padding is cropped off and the result is resized back to the size the caller wants. Limits
(the engine's largest size, the server's pixel limit) cap the compute size: a frame that would
exceed them is scaled down further, keeping its aspect ratio.

Pure numpy + OpenCV: the server, the client, training and benchmarks all import this.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from pix2pix_stream.media.errors import MediaError

ENGINE, NATIVE = "engine", "native"
DEFAULT_MAX_SIZE = (2176, 3840)  # (height, width): a 4K UHD frame padded to a multiple of 128


class GeometryError(MediaError, ValueError):
    """A scale policy that does not parse, or a frame that no allowed size can hold."""


def _cv2():
    import cv2  # lazily, as media.transforms: a client-only install may lack OpenCV

    return cv2


@dataclass(frozen=True)
class ScalePolicy:
    """``engine``, ``native`` or a short side in pixels (``short_side``)."""

    kind: str = ENGINE
    short_side: int = 0

    def __post_init__(self):
        if self.kind not in (ENGINE, NATIVE, "short"):
            raise GeometryError(f"unknown scale policy kind {self.kind!r}")
        if self.kind == "short" and self.short_side < 1:
            raise GeometryError(f"a short side must be >= 1 pixel, got {self.short_side}")

    @classmethod
    def parse(cls, text: "str | int | ScalePolicy | None") -> "ScalePolicy":
        """``"engine"``, ``"native"``, ``"N"`` or an int N; None or "" mean ``engine``."""
        if isinstance(text, ScalePolicy):
            return text
        if text is None or text == "":
            return cls(ENGINE)
        if isinstance(text, (int, np.integer)) and not isinstance(text, bool):
            return cls("short", int(text))
        word = str(text).strip().lower()
        if word in (ENGINE, NATIVE):
            return cls(word)
        if word.isdigit():
            return cls("short", int(word))
        raise GeometryError(f"scale must be 'engine', 'native' or a short side in pixels "
                            f"(e.g. 384), got {text!r}")

    def __str__(self) -> str:
        return str(self.short_side) if self.kind == "short" else self.kind


@dataclass(frozen=True)
class EngineGeometry:
    """The sizes an engine accepts. ``fixed`` (width, height) is set for engines exported before
    dynamic sizes (an engine.json without ``size_multiple``): those take only that size, and a
    frame is resized to it whatever the policy, as before."""

    size_multiple: int
    crop_size: int
    min_size: tuple[int, int]  # (height, width)
    max_size: tuple[int, int]  # (height, width)
    fixed: tuple[int, int] | None = None

    @classmethod
    def fixed_size(cls, width: int, height: int) -> "EngineGeometry":
        return cls(size_multiple=1, crop_size=min(width, height), min_size=(height, width),
                   max_size=(height, width), fixed=(width, height))

    def allows(self, height: int, width: int) -> bool:
        """Whether a [height, width] batch may be run."""
        if self.fixed is not None:
            return (width, height) == self.fixed
        m = self.size_multiple
        return (height % m == 0 and width % m == 0
                and self.min_size[0] <= height <= self.max_size[0]
                and self.min_size[1] <= width <= self.max_size[1])

    def describe(self) -> str:
        if self.fixed is not None:
            return f"{self.fixed[0]}x{self.fixed[1]} only"
        return (f"multiples of {self.size_multiple} from {self.min_size[1]}x{self.min_size[0]} "
                f"to {self.max_size[1]}x{self.max_size[0]}")


@dataclass(frozen=True)
class ComputePlan:
    """How one frame size is translated: scale to ``scaled``, pad to ``padded`` (both
    (width, height)), run, crop back to ``scaled``."""

    source: tuple[int, int]
    scaled: tuple[int, int]
    padded: tuple[int, int]

    @property
    def compute_key(self) -> tuple[int, int]:
        """(height, width) of the engine batch: what the batcher groups frames by."""
        return self.padded[1], self.padded[0]

    @property
    def is_identity(self) -> bool:
        """The frame goes to the engine as it is and comes back as it is."""
        return self.source == self.scaled == self.padded

    def prepare(self, frame: np.ndarray,
                transform: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
        """The engine's input: ``frame`` scaled, transformed (at the compute size, so edges keep
        the thickness the generator learned; before padding, so it sees only the picture), and
        reflect-padded."""
        return self.prepare_with_source(frame, transform)[1]

    def prepare_with_source(self, frame: np.ndarray,
                            transform: Callable[[np.ndarray], np.ndarray] | None = None
                            ) -> tuple[np.ndarray, np.ndarray]:
        """(the frame scaled to the compute size, before transform and padding; the engine's
        input as ``prepare`` makes it). The temporal filter measures motion on the first, at
        the size of the cropped output."""
        scaled = resize(frame, *self.scaled)
        pixels = scaled if transform is None else transform(scaled)
        return scaled, pad_reflect(pixels, *self.padded)

    def crop(self, output: np.ndarray) -> np.ndarray:
        """The engine's output without the padding, at the scaled size."""
        width, height = self.scaled
        return output[:height, :width]

    def finish(self, output: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
        """Cropped and resized to ``size`` (width, height; default the source's size)."""
        return resize(self.crop(output), *(size or self.source))


def _round_up(value: int, multiple: int) -> int:
    return max(multiple, -(-value // multiple) * multiple)


def scaled_size(width: int, height: int, short: float) -> tuple[int, int]:
    """(width, height) scaled, aspect ratio kept, so that the short side is ``short``."""
    factor = short / min(width, height)
    return max(1, round(width * factor)), max(1, round(height * factor))


# Every frame of a stream asks again with the same arguments (all frozen, hashable values), on
# the serving hot path: remember the recent answers.
@functools.lru_cache(maxsize=256)
def plan_compute(width: int, height: int, policy: ScalePolicy | str | int | None,
                 geometry: EngineGeometry, max_pixels: int | None = None) -> ComputePlan:
    """The compute plan of a ``width`` x ``height`` frame under ``policy`` on an engine with
    ``geometry``; ``max_pixels`` caps the padded compute size (the server's pixel limit)."""
    if width < 1 or height < 1:
        raise GeometryError(f"a frame of {width}x{height} has no pixels")
    if geometry.fixed is not None:
        return ComputePlan((width, height), geometry.fixed, geometry.fixed)
    policy = ScalePolicy.parse(policy)
    short = {ENGINE: geometry.crop_size, NATIVE: min(width, height)}.get(policy.kind,
                                                                        policy.short_side)
    plan = _plan(width, height, short, geometry)
    if _excess(plan.padded, geometry, max_pixels) <= 1.0:
        return plan
    # Too large for the limits: the largest short side that fits. Whether a short side fits
    # only changes once as it grows (the padded size grows with it), so bisect.
    low, high = 0, int(short)
    while low < high:
        mid = (low + high + 1) // 2
        if _excess(_plan(width, height, mid, geometry).padded, geometry, max_pixels) <= 1.0:
            low = mid
        else:
            high = mid - 1
    if low < 1:
        raise GeometryError(f"no size this engine allows ({geometry.describe()}) holds a "
                            f"{width}x{height} frame within {max_pixels} pixels")
    return _plan(width, height, low, geometry)


def _plan(width: int, height: int, short: float, geometry: EngineGeometry) -> ComputePlan:
    scaled = scaled_size(width, height, short)
    return ComputePlan((width, height), scaled, _padded(scaled, geometry))


def _padded(scaled: tuple[int, int], geometry: EngineGeometry) -> tuple[int, int]:
    m = geometry.size_multiple
    width = max(_round_up(scaled[0], m), _round_up(geometry.min_size[1], m))
    height = max(_round_up(scaled[1], m), _round_up(geometry.min_size[0], m))
    return width, height


def _excess(padded: tuple[int, int], geometry: EngineGeometry, max_pixels: int | None) -> float:
    """How many times too large the padded size is for the limits (<= 1: it fits)."""
    width, height = padded
    ratios = [width / geometry.max_size[1], height / geometry.max_size[0]]
    if max_pixels:
        ratios.append(math.sqrt(width * height / max_pixels))
    return max(ratios)


def resize(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resized to width x height (area filter to shrink, bilinear to enlarge); the very same
    array when it already has that size."""
    h, w = frame.shape[:2]
    if (w, h) == (width, height):
        return frame
    cv2 = _cv2()
    shrinking = width * height < w * h
    return cv2.resize(frame, (width, height),
                      interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def pad_reflect(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Padded on the right and bottom to width x height by mirroring the picture at its edge
    (without repeating the edge row): no hard border for the generator to draw."""
    h, w = frame.shape[:2]
    if (w, h) == (width, height):
        return frame
    if w > width or h > height:
        raise GeometryError(f"cannot pad a {w}x{h} frame to the smaller {width}x{height}")
    if w > 1 and h > 1:
        border = _cv2().BORDER_REFLECT_101
        return _cv2().copyMakeBorder(frame, 0, height - h, 0, width - w, border)
    # a one-pixel row or column has nothing to mirror: repeat it
    return np.pad(frame, ((0, height - h), (0, width - w), (0, 0)), mode="edge")


def resize_short_side(image: np.ndarray, short: int) -> np.ndarray:
    """``image`` scaled (keeping its aspect ratio) so that its short side is ``short``: how
    training brings non-square sources to its load size."""
    height, width = image.shape[:2]
    return resize(image, *scaled_size(width, height, short))
