"""Scoring a generator on a video clip: temporal stability (flicker, warping error beside the
input's own floor, pix2pix_stream.media.temporal) and, when the clip's frames are the targets
(a video-trained engine scored on held-out frames of its clip), per-frame L1 / PSNR / SSIM.

The generator is any ``translate`` callable, uint8 [N, H, W, 3] inputs -> uint8 outputs, so the
same function scores a checkpoint (``checkpoint_translator``), an engine (pix2pix-eval builds
one from engines.runtime) or the training loop's generator. Frames are scaled to the
generator's size on their short side, aspect kept, as the server's default policy does; a
translate made by ``fitted`` pads them to the sizes the model takes and crops the padding off,
and the scores are measured at that size.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from pix2pix_stream.media.geometry import DEFAULT_MAX_SIZE, EngineGeometry, plan_compute
from pix2pix_stream.media.temporal import TemporalScores, input_flows, temporal_scores
from pix2pix_stream.media.temporal_filter import TemporalFilter, temporal_settings
from pix2pix_stream.media.transforms import InputTransform
from pix2pix_stream.pix2pix import metrics
from pix2pix_stream.pix2pix.data import to_tensor
from pix2pix_stream.pix2pix.data.video import decode_frames
from pix2pix_stream.pix2pix.errors import ConfigError

Translate = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class ClipSpec:
    """Which frames of which clip: ``frames`` frames from ``start`` (None: to the end)."""

    path: str
    start: int = 0
    frames: int | None = None
    stride: int = 1

    def __post_init__(self):
        if self.start < 0 or self.stride < 1 or (self.frames is not None and self.frames < 2):
            raise ConfigError(f"clip range needs start >= 0, stride >= 1 and frames >= 2, got "
                              f"start {self.start}, stride {self.stride}, frames {self.frames}")


@dataclass(frozen=True)
class VideoScores:
    temporal: TemporalScores
    frames: int
    per_frame: dict[str, list[float]] = field(default_factory=dict)   # l1/psnr/ssim, with targets

    def summary(self) -> dict[str, float]:
        data = {**self.temporal.as_dict(), "frames": self.frames}
        data.update({name: float(np.mean(values)) for name, values in self.per_frame.items()})
        return data


def load_clip(spec: ClipSpec, size: int) -> np.ndarray:
    """uint8 [N, size, size, 3] frames of the clip's range."""
    last = None if spec.frames is None else spec.start + spec.frames * spec.stride
    frames = decode_frames(Path(spec.path), size, max_frames=last)[spec.start:last:spec.stride]
    if len(frames) < 2:
        raise ConfigError(f"{spec.path} has {len(frames)} frame(s) from frame {spec.start}; "
                          "stability needs two or more")
    return frames


def translate_clip(translate: Translate, frames: np.ndarray, transform: InputTransform, *,
                   batch_size: int = 8, temporal: str = "off") -> np.ndarray:
    """The generator's output for every frame, in order; with ``temporal`` light/strong the
    server's temporal filter runs over them as it would on a stream."""
    outputs = []
    for i in range(0, len(frames), batch_size):
        inputs = np.stack([transform(np.ascontiguousarray(f)) for f in frames[i:i + batch_size]])
        outputs.append(translate(inputs))
    return filtered(frames, np.concatenate(outputs), temporal)


def filtered(frames: np.ndarray, outputs: np.ndarray, temporal: str) -> np.ndarray:
    """``outputs`` with the server's temporal filter at ``temporal`` run over them as on a
    stream (``off``: the outputs themselves)."""
    settings = temporal_settings(temporal)
    return outputs if settings is None else run_filter(TemporalFilter(settings), frames, outputs)


def run_filter(smoother: TemporalFilter, frames: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """Each output through ``smoother`` with the frame it was made from, in display order."""
    return np.stack([smoother(src, out) for src, out in zip(frames, outputs)])


def score_outputs(frames: np.ndarray, outputs: np.ndarray, *, targets: bool, pairs=None
                  ) -> VideoScores:
    """Stability of ``outputs`` against ``frames``; L1/PSNR/SSIM per frame when the frames are
    also the targets."""
    per_frame = {}
    if targets:
        values = {name: [] for name in ("l1", "psnr", "ssim")}
        for i in range(0, len(frames), 16):
            out = torch.stack([to_tensor(o) for o in outputs[i:i + 16]])
            tgt = torch.stack([to_tensor(f) for f in frames[i:i + 16]])
            for name, v in metrics.all_metrics(out, tgt).items():
                values[name] += [float(x) for x in v]
        per_frame = values
    return VideoScores(temporal_scores(list(frames), list(outputs), pairs=pairs), len(frames),
                       per_frame)


def score_clip(translate: Translate, spec: ClipSpec, *, size: int, transform: InputTransform,
               targets: bool, batch_size: int = 8, temporal: str = "off") -> VideoScores:
    """Loads the clip's range at ``size``, translates it and scores it (see the module)."""
    frames = load_clip(spec, size)
    outputs = translate_clip(translate, frames, transform, batch_size=batch_size,
                             temporal=temporal)
    return score_outputs(frames, outputs, targets=targets, pairs=input_flows(list(frames)))


def generator_translator(generate: Callable[[torch.Tensor], torch.Tensor]) -> Translate:
    """A Translate over a float NCHW [-1, 1] generator function (the training loop's)."""
    from pix2pix_stream.pix2pix.data import to_uint8

    def translate(batch: np.ndarray) -> np.ndarray:
        tensors = torch.stack([to_tensor(image) for image in batch])
        with torch.no_grad():
            return to_uint8(generate(tensors))
    return translate


def fitted(translate: Translate, geometry: EngineGeometry) -> Translate:
    """``translate`` for frames of any size: each batch is planned by media.geometry at its own
    size (reflect-padded to the model's multiple, or resized for a fixed-size engine), as the
    server plans a frame, and the output cropped back."""
    def run(batch: np.ndarray) -> np.ndarray:
        plan = plan_compute(batch.shape[2], batch.shape[1], "native", geometry)
        if plan.is_identity:
            return translate(batch)
        outputs = translate(np.stack([plan.prepare(frame) for frame in batch]))
        return np.stack([plan.finish(output) for output in outputs])
    return run


def checkpoint_translator(checkpoint: str, device: str = "auto") -> tuple[Translate, dict]:
    """(translate, the checkpoint's info) for a checkpoint written by pix2pix-train, in eval
    mode, fitted to any frame size (padded to the U-Net's multiple)."""
    from pix2pix_stream.pix2pix.checkpoint import load_generator
    from pix2pix_stream.pix2pix.distributed import pick_device

    dev = pick_device(device)
    generator, info = load_generator(checkpoint, map_location=dev)
    generator.to(dev).eval()
    multiple = generator.config.divisor
    geometry = EngineGeometry(size_multiple=multiple, crop_size=int(info.get("image_size", 256)),
                              min_size=(multiple, multiple), max_size=DEFAULT_MAX_SIZE)
    translate = generator_translator(lambda x: generator(x.to(dev)).float().cpu())
    return fitted(translate, geometry), info


class ValidationClip:
    """The validation frames of a video run (its held-out tail, in order) with their flow
    estimated once, scored after every epoch for TensorBoard."""

    def __init__(self, inputs: np.ndarray, frames: np.ndarray):
        self.inputs, self.frames = inputs, frames
        self.pairs = input_flows(list(frames))

    @classmethod
    def from_dataset(cls, dataset) -> "ValidationClip | None":
        """From a PairDataset over a video's contiguous held-out frames; None when it has fewer
        than two."""
        if dataset is None or len(dataset) < 2:
            return None
        inputs, frames = zip(*(dataset.images(i) for i in range(len(dataset))))
        return cls(np.stack(inputs), np.stack(frames))

    def score(self, generate: Callable[[torch.Tensor], torch.Tensor], batch_size: int = 8
              ) -> dict[str, float]:
        translate = generator_translator(generate)
        outputs = np.concatenate([translate(self.inputs[i:i + batch_size])
                                  for i in range(0, len(self.inputs), batch_size)])
        return score_outputs(self.frames, outputs, targets=False, pairs=self.pairs).summary()
