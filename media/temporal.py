"""Temporal stability of a translated clip: optical flow, backward warping, the reliable-flow mask
and the two scores of Lai et al., "Learning Blind Video Temporal Consistency" (ECCV 2018).

Conventions (numpy + OpenCV only, so the server, training and evaluation share them):

* frames are uint8 RGB ``[H, W, 3]`` (or float images of the same shape);
* ``flow(a, b)`` is DIS optical flow from ``a`` to ``b``: pixel ``x`` of ``a`` sits at
  ``x + flow[x]`` in ``b``;
* ``warp(image, flow_t_to_prev)`` pulls a frame of time t-1 into the geometry of time t: it
  samples ``image`` at ``x + flow[x]``, where ``flow`` is the flow from frame t to frame t-1
  (backward warping, so every output pixel is defined);
* ``reliable(forward, backward)`` is the forward-backward check of Sundaram et al. (ECCV 2010),
  as Ruder et al. and Lai et al. use it: where going t -> t-1 -> t does not come back to the
  start, the pixel is occluded or the flow is wrong, and it is left out of the warping error.

Scores, measured on frames in [0, 1] (uint8 / 255):

* flicker = mean |out[t] - out[t-1]| / mean |in[t] - in[t-1]| over the clip: how much the output
  changes per unit of change of the input (1 = as much as the input; a still scene gives 0/0);
* warping error = mean over t of the mean |out[t] - warp(out[t-1])| over reliable pixels, with
  the flow of the INPUT clip; the same measure on the input itself is the floor (what real motion,
  lighting and flow errors leave), so ``warp_error / warp_floor`` near 1 is as stable as the input;
* detail = mean |gray-level gradient| of the output / the same of the input: how much fine
  structure (edges, texture) the output keeps (1 = as much as the input). Read the two scores
  above beside it: a blurred or washed-out output changes less between frames, so it scores as
  more stable without being so, and a flat one scores 0; detail shows that happening.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from pix2pix_stream.media.errors import TransformError

# OpenCV's DIS presets (cv2.DISOPTICAL_FLOW_PRESET_*), by name.
DIS_PRESETS = {"ultrafast": 0, "fast": 1, "medium": 2}
# Forward-backward check (Sundaram et al. 2010): |f + b|^2 < ALPHA (|f|^2 + |b|^2) + BETA.
FB_ALPHA, FB_BETA = 0.01, 0.5


def _cv2():
    import cv2  # lazily, as media/transforms.py: a client-only install may lack OpenCV

    return cv2


def gray(frame: np.ndarray) -> np.ndarray:
    """uint8 single-channel luminance of an RGB frame (a gray frame is returned as is)."""
    if frame.ndim == 2:
        return frame
    return _cv2().cvtColor(frame, _cv2().COLOR_RGB2GRAY)


class FlowEstimator:
    """DIS optical flow (Kroeger et al., ECCV 2016) with one OpenCV object per estimator: DIS
    objects keep scratch buffers, so an estimator must not be shared between threads."""

    def __init__(self, preset: str = "medium"):
        if preset not in DIS_PRESETS:
            raise TransformError(f"unknown DIS preset {preset!r}; expected one of {sorted(DIS_PRESETS)}")
        self.preset = preset
        self._dis = _cv2().DISOpticalFlow_create(DIS_PRESETS[preset])

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """float32 [H, W, 2] flow from frame ``a`` to frame ``b`` (RGB or gray uint8)."""
        return self._dis.calc(gray(a), gray(b), None)


def _sample_grid(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return xs + flow[..., 0], ys + flow[..., 1]


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``image`` (time t-1) sampled at ``x + flow[x]``: frame t-1 seen from frame t, for the flow
    from t to t-1. Bilinear; samples outside the frame repeat the border."""
    map_x, map_y = _sample_grid(flow)
    return _cv2().remap(image, map_x, map_y, _cv2().INTER_LINEAR,
                        borderMode=_cv2().BORDER_REPLICATE)


def reliable(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """bool [H, W] over frame t: True where the flow t -> t-1 (``backward``) and the flow
    t-1 -> t (``forward``) agree, i.e. following one and then the other comes back to the start,
    and the pixel does not move out of the frame."""
    forward_there = warp(forward, backward)
    round_trip = backward + forward_there
    lhs = (round_trip ** 2).sum(axis=2)
    rhs = FB_ALPHA * ((backward ** 2).sum(axis=2) + (forward_there ** 2).sum(axis=2)) + FB_BETA
    map_x, map_y = _sample_grid(backward)
    h, w = backward.shape[:2]
    inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
    return (lhs < rhs) & inside


@dataclass(frozen=True)
class FramePair:
    """What the scores need of frames t-1 and t of the input clip."""

    backward: np.ndarray   # flow t -> t-1, float32 [H, W, 2]
    mask: np.ndarray       # reliable pixels of frame t, bool [H, W]


def input_flows(frames: Sequence[np.ndarray], preset: str = "medium") -> list[FramePair]:
    """Flow and reliability mask for every consecutive pair of ``frames`` (len - 1 entries)."""
    estimate = FlowEstimator(preset)
    pairs = []
    for prev, cur in zip(frames[:-1], frames[1:]):
        backward, forward = estimate(cur, prev), estimate(prev, cur)
        pairs.append(FramePair(backward, reliable(backward, forward)))
    return pairs


def _unit(frame: np.ndarray) -> np.ndarray:
    return frame.astype(np.float32) / 255.0 if frame.dtype == np.uint8 else frame.astype(np.float32)


def frame_changes(frames: Sequence[np.ndarray]) -> np.ndarray:
    """mean |f[t] - f[t-1]| per t >= 1, frames in [0, 1]."""
    return np.array([float(np.abs(_unit(b) - _unit(a)).mean())
                     for a, b in zip(frames[:-1], frames[1:])])


def mean_gradient(frames: Sequence[np.ndarray]) -> float:
    """mean |horizontal| + mean |vertical| gray-level difference of neighbouring pixels over the
    clip, frames in [0, 1]: how much fine structure (edges, texture) the frames hold."""
    values = []
    for frame in frames:
        g = _unit(gray(frame) if frame.dtype == np.uint8 else frame)
        g = g.mean(axis=2) if g.ndim == 3 else g
        values.append(float(np.abs(np.diff(g, axis=1)).mean() + np.abs(np.diff(g, axis=0)).mean()))
    return float(np.mean(values))


def warp_errors(frames: Sequence[np.ndarray], pairs: Sequence[FramePair]) -> np.ndarray:
    """mean |f[t] - warp(f[t-1])| over the reliable pixels of each t >= 1 (NaN where none is)."""
    errors = []
    for (prev, cur), pair in zip(zip(frames[:-1], frames[1:]), pairs):
        diff = np.abs(_unit(cur) - _unit(warp(prev, pair.backward)))
        diff = diff.mean(axis=2) if diff.ndim == 3 else diff
        errors.append(float(diff[pair.mask].mean()) if pair.mask.any() else float("nan"))
    return np.array(errors)


@dataclass(frozen=True)
class TemporalScores:
    """The stability of an output clip against its input clip (see the module's docstring)."""

    flicker: float
    warp_error: float
    warp_floor: float                       # the input clip's own warping error
    detail: float = float("nan")            # output's mean gradient / the input's
    per_frame_flicker: list[float] = field(default_factory=list)   # per t >= 1
    per_frame_warp_error: list[float] = field(default_factory=list)
    reliable_fraction: float = 0.0

    def as_dict(self, per_frame: bool = False) -> dict:
        data = {"flicker": self.flicker, "warp_error": self.warp_error,
                "warp_floor": self.warp_floor, "reliable_fraction": self.reliable_fraction,
                "detail": self.detail}
        if per_frame:
            data.update(per_frame_flicker=self.per_frame_flicker,
                        per_frame_warp_error=self.per_frame_warp_error)
        return data


def temporal_scores(inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray], *,
                    pairs: Sequence[FramePair] | None = None, preset: str = "medium"
                    ) -> TemporalScores:
    """Scores ``outputs`` (the translation of ``inputs``, frame for frame, same size) for
    stability. ``pairs`` (from ``input_flows(inputs)``) may be passed to score several outputs
    of one clip without estimating its flow again."""
    if len(inputs) != len(outputs) or len(inputs) < 2:
        raise TransformError(f"temporal scores need two or more frames and as many outputs as "
                             f"inputs, got {len(inputs)} inputs and {len(outputs)} outputs")
    if inputs[0].shape[:2] != outputs[0].shape[:2]:
        raise TransformError(f"inputs are {inputs[0].shape[:2]} but outputs {outputs[0].shape[:2]}: "
                             "resize them to one size first")
    pairs = input_flows(inputs, preset) if pairs is None else pairs
    in_change, out_change = frame_changes(inputs), frame_changes(outputs)
    out_warp, in_warp = warp_errors(outputs, pairs), warp_errors(inputs, pairs)
    per_frame = out_change / np.maximum(in_change, 1e-6)
    return TemporalScores(
        flicker=float(out_change.mean() / max(in_change.mean(), 1e-12)),
        warp_error=float(np.nanmean(out_warp)), warp_floor=float(np.nanmean(in_warp)),
        detail=mean_gradient(outputs) / max(mean_gradient(inputs), 1e-12),
        per_frame_flicker=[float(v) for v in per_frame],
        per_frame_warp_error=[float(v) for v in out_warp],
        reliable_fraction=float(np.mean([p.mask.mean() for p in pairs])))


def resize_frames(frames: Iterable[np.ndarray], size: tuple[int, int]) -> list[np.ndarray]:
    """Frames resized to (width, height) with area filtering, as the server shrinks frames."""
    cv2 = _cv2()
    return [f if (f.shape[1], f.shape[0]) == size else
            cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]
