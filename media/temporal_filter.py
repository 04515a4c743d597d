"""A per-stream temporal filter for translated video: each new output is blended with the previous
(filtered) output, warped along the INPUT's motion, where that motion explains the input.

Why the input's flow: the generator's output flickers, so flow measured on it is unreliable;
the input frame is what really moved. Where the previous input, warped by the flow, matches the
new input, the scene there only moved (or stood still), so the output there should only move
too: the warped previous output is a good estimate and blending with it removes the crawl. Where
it does not match (occlusions, new objects, lighting changes, flow errors), the weight falls to 0
and the new output passes unchanged, so motion stays sharp. A frame where little of the input is
explained (a scene cut) resets the filter.

Cost: DIS at its fastest preset on a gray copy shrunk to ``flow_size`` on the longer side, one
warp of that copy, one full-size warp of the previous output and a blend: about 2 ms of one
CPU core for a 256x256 frame on the loaded machine here (bench/temporal.py measures it).

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


class TemporalFilter:
    """``filter(source, output)`` -> the output to show; ``source`` is the frame the generator's
    input was made from (before the input transform), at the output's size."""

    def __init__(self, settings: FilterSettings):
        self.settings = settings
        self._flow = FlowEstimator("ultrafast")
        self._prev_small: np.ndarray | None = None
        self._prev_out: np.ndarray | None = None
        self._coords: dict[tuple[int, int], np.ndarray] = {}   # pixel grids by frame size
        self.resets = 0     # scene cuts seen (and size changes)

    def reset(self) -> None:
        self._prev_small = self._prev_out = None

    def __call__(self, source: np.ndarray, output: np.ndarray) -> np.ndarray:
        if source.shape[:2] != output.shape[:2]:
            raise TransformError(f"temporal filter: source {source.shape[:2]} and output "
                                 f"{output.shape[:2]} differ in size")
        small = self._shrink(gray(source))
        prev_small, prev_out = self._prev_small, self._prev_out
        self._prev_small = small
        if prev_small is None or prev_small.shape != small.shape or prev_out.shape != output.shape:
            self._prev_out = output
            return output
        weight, flow = self._weight_and_flow(small, prev_small)
        if weight is None:
            self.resets += 1
            self._prev_out = output
            return output
        result = self._blend(output, prev_out, flow, weight, small.shape)
        self._prev_out = result
        return result

    def _blend(self, output: np.ndarray, prev_out: np.ndarray, flow: np.ndarray,
               weight: np.ndarray, small_shape: tuple[int, int]) -> np.ndarray:
        """output + weight * (warp(prev_out) - output), flow and weight scaled up to the output.
        The warp uses OpenCV's fixed-point maps: about half the time of float maps, and the
        sub-pixel precision (1/32 px) is far below what the blend can show."""
        cv2 = _cv2()
        h, w = output.shape[:2]
        # Scaled while small: a per-channel multiply of the full-size field costs more than
        # the rest of the blend together.
        flow = cv2.multiply(flow, (w / small_shape[1], h / small_shape[0], 0.0, 0.0))
        flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
        coords, fractions = cv2.convertMaps(cv2.add(self._grid(h, w), flow), None, cv2.CV_16SC2)
        warped = cv2.remap(prev_out, coords, fractions, cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
        weight = cv2.resize(weight, (w, h), interpolation=cv2.INTER_LINEAR)
        return cv2.blendLinear(output, warped, 1.0 - weight, weight)

    def _grid(self, h: int, w: int) -> np.ndarray:
        """float32 [h, w, 2] pixel coordinates (x, y), kept for the stream's frame size."""
        if (h, w) not in self._coords:
            xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
            self._coords[(h, w)] = np.dstack([xs, ys])
        return self._coords[(h, w)]

    def _shrink(self, frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        scale = self.settings.flow_size / max(h, w)
        if scale >= 1.0:
            return frame
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        return _cv2().resize(frame, size, interpolation=_cv2().INTER_AREA)

    def _weight_and_flow(self, small: np.ndarray, prev_small: np.ndarray):
        """(blend weight per small pixel, flow t -> t-1) or (None, None) at a scene cut."""
        s = self.settings
        cv2 = _cv2()
        flow = self._flow(small, prev_small)
        h, w = small.shape[:2]
        warped = cv2.remap(prev_small, cv2.add(self._grid(h, w), flow), None, cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)   # media.temporal.warp, grid kept
        mismatch = cv2.absdiff(small, warped)
        # The blur keeps one lucky pixel inside a changed region from pulling in the past.
        mismatch = cv2.blur(mismatch, (3, 3)).astype(np.float32)
        match = np.clip(1.0 - mismatch / s.tolerance, 0.0, 1.0)
        if float((match > 0).mean()) < s.cut_fraction:
            return None, None
        return (s.strength * match).astype(np.float32), flow
