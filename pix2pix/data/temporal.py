"""Consecutive-frame pairs of a training video for the temporal loss (pix2pix.stability): the
previous frame and the optical flow between the TARGET frames t and t-1, with its
forward-backward reliability mask, under the same jitter (crop, flip) as the frame itself.

The flow is DIS (OpenCV, pix2pix_stream.media.temporal) on the frames at the load size, computed
once per frame pair the first time it is needed and cached (in each loader process), so later
epochs only crop and flip it."""
from __future__ import annotations

import numpy as np
import torch

from pix2pix_stream.media.temporal import FlowEstimator, reliable
from pix2pix_stream.pix2pix.data.jitter import JitterParams


class FlowCache:
    """Flow t -> t-1 and its mask for frames of one video source, at the source's size."""

    def __init__(self, source, preset: str = "medium"):
        self.source, self.preset = source, preset
        self._estimate: FlowEstimator | None = None   # built lazily: one per loader process
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def get(self, index: int, previous: int) -> tuple[np.ndarray, np.ndarray]:
        """(float16 [H, W, 2] flow from frame ``index`` to frame ``previous``, bool [H, W])."""
        if index == previous:
            h, w = self.source[index][1].shape[:2]
            return np.zeros((h, w, 2), np.float16), np.ones((h, w), bool)
        if index not in self._cache:
            if self._estimate is None:
                self._estimate = FlowEstimator(self.preset)
            cur, prev = self.source[index][1], self.source[previous][1]
            backward, forward = self._estimate(cur, prev), self._estimate(prev, cur)
            self._cache[index] = (backward.astype(np.float16), reliable(backward, forward))
        return self._cache[index]


def jitter_flow(flow: np.ndarray, mask: np.ndarray, params: JitterParams | None, crop: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """The flow and mask under the frame's crop and flip. Crops keep flow vectors; a horizontal
    flip mirrors the field and negates its x component. Without jitter the frames are resized
    to the crop size, and the flow with them (vectors scaled)."""
    flow = flow.astype(np.float32)
    if params is None:
        import cv2

        h, w = mask.shape
        if (h, w) != (crop, crop):
            flow = cv2.resize(flow, (crop, crop), interpolation=cv2.INTER_LINEAR)
            flow *= np.float32([crop / w, crop / h])
            mask = cv2.resize(mask.astype(np.uint8), (crop, crop),
                              interpolation=cv2.INTER_NEAREST).astype(bool)
        return flow, mask
    flow = flow[params.y:params.y + crop, params.x:params.x + crop]
    mask = mask[params.y:params.y + crop, params.x:params.x + crop]
    if params.flip:
        flow = flow[:, ::-1] * np.float32([-1.0, 1.0])
        mask = mask[:, ::-1]
    return np.ascontiguousarray(flow), np.ascontiguousarray(mask)


def flow_tensors(flow: np.ndarray, mask: np.ndarray) -> dict[str, torch.Tensor]:
    return {"flow": torch.from_numpy(np.ascontiguousarray(flow.transpose(2, 0, 1))),
            "flow_mask": torch.from_numpy(mask[None].astype(np.float32))}
