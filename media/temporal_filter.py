"""A per-stream temporal filter for translated video: each new output is blended with the previous
(filtered) output, warped along the INPUT's motion, where that motion explains the input.

Why the input's flow: the generator's output flickers, so flow measured on it is unreliable;
the input frame is what really moved. Where the previous input, warped by the flow, matches the
new input, the scene there only moved (or stood still), so the output there should only move
too: the warped previous output is a good estimate and blending with it removes the crawl. Where
it does not match (occlusions, new objects, lighting changes, flow errors), the weight falls to 0
and the new output passes unchanged, so motion stays sharp. A frame where little of the input is
explained (a scene cut) resets the filter.

Cost (bench/temporal.py measures it): DIS at its fastest preset on a gray copy shrunk to
``flow_size`` on the longer side, one warp of that copy and the maps and weight scaled up to the
frame (the estimate, from the inputs alone), then one full-size warp of the previous output and
a weighted sum (the blend). A server runs the estimate while the frame is in the model, so only
the blend waits for the output (except a LIVE stream on a CPU backend: see
pix2pix_stream.server.translate).

One filter per stream: it holds the previous frame, and OpenCV's DIS object holds scratch
buffers; frames must come in display order. Same frames in, same bytes out.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pix2pix_stream.media.errors import TransformError
from pix2pix_stream.media.temporal import FlowEstimator, _cv2, gray


@dataclass(frozen=True)
class FilterSettings:
    strength: float              # weight of the warped previous output where the input matches
    tolerance: float = 16.0      # gray-level difference (0..255) at which the weight reaches 0
    cut_fraction: float = 0.3    # fewer matching pixels than this: a scene cut, start afresh
    flow_size: int = 96          # flow on a copy whose longer side is this many pixels


TEMPORAL_LEVELS: dict[str, FilterSettings | None] = {
    "off": None,
    "light": FilterSettings(strength=0.5),
    "strong": FilterSettings(strength=0.8),
}


def temporal_settings(level: str) -> FilterSettings | None:
    if level not in TEMPORAL_LEVELS:
        raise TransformError(f"unknown temporal filter {level!r}; expected one of "
                             f"{', '.join(TEMPORAL_LEVELS)}")
    return TEMPORAL_LEVELS[level]


@dataclass(frozen=True)
class Motion:
    """What the input did between two frames, at the output's size: everything the blend needs,
    so that the blend itself is one warp and one weighted sum. ``index`` is the frame this was
    measured for and ``against`` the earlier frame it was measured against; ``size`` (height,
    width) is the source's, which the output must have; ``coords`` is None when the blend must
    start afresh (first frame, a size change or a scene cut)."""
    index: int
    size: tuple[int, int]
    against: int | None
    coords: np.ndarray | None = None      # fixed-point warp maps (cv2.convertMaps CV_16SC2)
    fractions: np.ndarray | None = None
    weight: np.ndarray | None = None      # float32, the source's shape: weight of the warped past


class MotionEstimator:
    """The input side of the filter: ``estimate(source)`` -> Motion against the previous source.
    It needs only the inputs, so a server runs it while the frame is being translated; calls
    must come in display order (it keeps the previous frame and OpenCV's DIS scratch buffers)."""

    def __init__(self, settings: FilterSettings):
        self.settings = settings
        self._flow = FlowEstimator("ultrafast")
        self._prev_small: np.ndarray | None = None
        self._count = 0
        self._grids = _Grids()
        self.resets = 0     # scene cuts seen
        # Blend weight per gray-level mismatch (0..255): strength where the input matches,
        # falling linearly to 0 at ``tolerance``. A table: one lookup per pixel.
        match = np.clip(1.0 - np.arange(256, dtype=np.float32) / settings.tolerance, 0.0, 1.0)
        self._weight_of_mismatch = (settings.strength * match).astype(np.float32)

    def reset(self) -> None:
        self._prev_small = None

    def estimate(self, source: np.ndarray) -> Motion:
        index, self._count = self._count, self._count + 1
        size = source.shape[:2]
        small = self._shrink(gray(source))
        prev_small, self._prev_small = self._prev_small, small
        if prev_small is None or prev_small.shape != small.shape:
            return Motion(index, size, None)
        weight, flow = self._weight_and_flow(small, prev_small)
        if weight is None:
            self.resets += 1
            return Motion(index, size, None)
        channels = source.shape[2] if source.ndim == 3 else 1
        return self._full_size(index, flow, weight, size, small.shape, channels)

    def _full_size(self, index: int, flow: np.ndarray, weight: np.ndarray,
                   size: tuple[int, int], small_shape: tuple[int, int], channels: int) -> Motion:
        """Flow and weight scaled up to the frame. Fixed-point maps: the warp runs in about half
        the time of float maps, and their 1/32 px precision is far below what the blend shows.
        The weight gets one plane per channel of the frame (copied while small), so that the
        mix is per-element arithmetic with no broadcast."""
        cv2 = _cv2()
        h, w = size
        # Scaled while small: a per-channel multiply of the full-size field costs more than
        # the rest of the blend together.
        flow = cv2.multiply(flow, (w / small_shape[1], h / small_shape[0], 0.0, 0.0))
        flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
        cv2.add(flow, self._grids(h, w), dst=flow)   # in place: flow -> where each pixel was
        coords, fractions = cv2.convertMaps(flow, None, cv2.CV_16SC2)
        if channels > 1:
            weight = cv2.merge([weight] * channels)
        weight = cv2.resize(weight, (w, h), interpolation=cv2.INTER_LINEAR)
        return Motion(index, size, index - 1, coords, fractions, weight)

    def _shrink(self, frame: np.ndarray) -> np.ndarray:
        cv2 = _cv2()
        h, w = frame.shape[:2]
        scale = self.settings.flow_size / max(h, w)
        if scale >= 1.0:
            return frame
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        # Halve with a Gaussian pyramid while the frame is over twice the flow size, then area
        # resampling for the rest: INTER_AREA at a fractional scale costs 3x more on its own
        # (0.33 against 0.11 ms for 455x256 -> 96x54).
        while min(frame.shape[0], frame.shape[1]) >= 2 and max(frame.shape[:2]) >= 2 * max(size):
            frame = cv2.pyrDown(frame)
        return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)

    def _weight_and_flow(self, small: np.ndarray, prev_small: np.ndarray):
        """(blend weight per small pixel, flow t -> t-1) or (None, None) at a scene cut."""
        s = self.settings
        cv2 = _cv2()
        flow = self._flow(small, prev_small)
        h, w = small.shape[:2]
        warped = cv2.remap(prev_small, cv2.add(self._grids(h, w), flow), None, cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)   # media.temporal.warp, grid kept
        mismatch = cv2.absdiff(small, warped)
        # The blur keeps one lucky pixel inside a changed region from pulling in the past.
        mismatch = cv2.blur(mismatch, (3, 3))
        if np.count_nonzero(mismatch < s.tolerance) < s.cut_fraction * mismatch.size:
            return None, None
        return cv2.LUT(mismatch, self._weight_of_mismatch), flow


class _Grids:
    """float32 [h, w, 2] pixel coordinates (x, y) per frame size, made once per stream."""

    def __init__(self):
        self._by_size: dict[tuple[int, int], np.ndarray] = {}

    def __call__(self, h: int, w: int) -> np.ndarray:
        if (h, w) not in self._by_size:
            xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
            self._by_size[(h, w)] = np.dstack([xs, ys])
        return self._by_size[(h, w)]


class TemporalFilter:
    """``filter(source, output)`` -> the output to show; ``source`` is the frame the generator's
    input was made from (before the input transform), at the output's size.

    Three steps, which a server runs apart: ``estimate(source)`` (the input's motion, most of
    the CPU cost, needs no output), ``warp_previous(motion)`` (needs the previous output only)
    and ``mix(motion, warped, output)`` (a weighted sum: all that is left on a live frame's
    critical path once its output is there); ``blend`` = the last two. Each step must see the
    frames in display order."""

    def __init__(self, settings: FilterSettings):
        self.settings = settings
        self._motion = MotionEstimator(settings)
        self._prev_out: np.ndarray | None = None
        self._prev_index: int | None = None

    @property
    def resets(self) -> int:
        return self._motion.resets

    def reset(self) -> None:
        self._motion.reset()
        self._prev_out = self._prev_index = None

    def __call__(self, source: np.ndarray, output: np.ndarray) -> np.ndarray:
        return self.blend(self.estimate(source), output)

    def estimate(self, source: np.ndarray) -> Motion:
        return self._motion.estimate(source)

    def blend(self, motion: Motion, output: np.ndarray) -> np.ndarray:
        """output + weight * (warp(previous output) - output)."""
        return self.mix(motion, self.warp_previous(motion), output)

    def warp_previous(self, motion: Motion) -> np.ndarray | None:
        """The previous output moved along ``motion``; None when the blend starts afresh
        (``motion`` was not measured against the frame blended last: it failed or was never
        blended). Needs only the previous output, so a server runs it before this frame's
        output is there; nothing may be blended between this call and ``mix``."""
        prev = self._prev_out
        if (motion.coords is None or motion.against != self._prev_index or prev is None
                or prev.shape[:2] != motion.size):
            return None
        cv2 = _cv2()
        return cv2.remap(prev, motion.coords, motion.fractions, cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)

    def mix(self, motion: Motion, warped: np.ndarray | None, output: np.ndarray) -> np.ndarray:
        """The output to show: ``output`` blended with ``warped`` (from ``warp_previous``), or
        ``output`` itself when there is nothing to blend with. ``output`` must have the size
        of the source the motion was measured on."""
        if output.shape[:2] != motion.size:
            raise TransformError(f"temporal filter: source {motion.size} and output "
                                 f"{output.shape[:2]} differ in size")
        if motion.weight is not None and motion.weight.shape != output.shape:
            raise TransformError(f"temporal filter: source {motion.weight.shape} and output "
                                 f"{output.shape} differ in channels")
        self._prev_index = motion.index
        if warped is None or warped.shape != output.shape:
            self._prev_out = output
        else:
            self._prev_out = _towards(output, warped, motion.weight)
        return self._prev_out


def _towards(output: np.ndarray, warped: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """uint8 output + weight * (warped - output), rounded: three vectorised OpenCV passes, half
    the time of cv2.blendLinear (0.13 against 0.26 ms per 256x256 RGB frame), which divides by
    the sum of its two weights at every pixel although here it is always 1."""
    cv2 = _cv2()
    change = cv2.subtract(warped, output, dtype=cv2.CV_32F)
    cv2.multiply(change, weight, dst=change)
    return cv2.add(output, change, dtype=cv2.CV_8U)

