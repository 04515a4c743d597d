"""The torch Dataset over a source: jitter, input transform, tensors in [-1, 1]; and the
deterministic train / validation split."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from pix2pix_stream.media.transforms import InputTransform
from pix2pix_stream.pix2pix.data.jitter import Jitter, centre_crop, default_load_size
from pix2pix_stream.pix2pix.data.sources import open_source, resolve_data
from pix2pix_stream.pix2pix.errors import ConfigError, EmptyDatasetError


@dataclass(frozen=True)
class DataConfig:
    path: str
    mode: str = "auto"                   # auto | aligned | pairs | video
    direction: str = "AtoB"              # which half/folder is the input (ignored for video)
    input_transform: InputTransform = field(default_factory=InputTransform)
    crop_size: int = 256
    load_size: int | None = None         # None: crop_size * 286 / 256
    flip: bool = True
    val_fraction: float = 0.1
    video_stride: int = 1
    max_frames: int | None = None

    def __post_init__(self):
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(f"--val-fraction must be in [0, 1), got {self.val_fraction}")
        if self.crop_size < 1:
            raise ConfigError(f"--crop-size must be >= 1, got {self.crop_size}")
        if self.load_size is not None and self.load_size < self.crop_size:
            raise ConfigError(f"--load-size {self.load_size} is smaller than --crop-size "
                              f"{self.crop_size}: the random crop needs a larger image")
        if self.video_stride < 1 or (self.max_frames is not None and self.max_frames < 1):
            raise ConfigError(f"--video-stride and --max-frames must be >= 1, got "
                              f"{self.video_stride} and {self.max_frames}")
        if self.direction not in ("AtoB", "BtoA"):
            raise ConfigError(f"direction must be AtoB or BtoA, got {self.direction!r}")

    @property
    def resolved_load_size(self) -> int:
        return self.load_size or default_load_size(self.crop_size)


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 HWC RGB -> float CHW in [-1, 1]."""
    return torch.from_numpy(np.array(image, copy=True)).permute(2, 0, 1).float().div_(127.5).sub_(1.0)


def to_uint8(batch: torch.Tensor) -> np.ndarray:
    """float NCHW in [-1, 1] -> uint8 NHWC."""
    x = ((batch.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).numpy()


class PairDataset(Dataset):
    """Items ``{"input", "target": float [3, S, S] in [-1, 1], "index": int}``.

    With ``jitter`` the crop and flip of item i in epoch e come from a generator seeded with
    (seed, e, i), not from a global RNG: the same run gives the same samples whatever the number
    of loader workers, and a resumed run sees exactly the samples the interrupted one would have.
    """

    def __init__(self, source, indices: list[int], transform: InputTransform, crop_size: int,
                 jitter: Jitter | None = None, seed: int = 0):
        self.source, self.indices = source, list(indices)
        self._index_set = set(self.indices)
        self.transform, self.crop_size, self.jitter = transform, crop_size, jitter
        self.seed, self.epoch = seed, 0
        self.flows = None   # a data.temporal.FlowCache: items also carry the previous frame

    def with_temporal_pairs(self) -> "PairDataset":
        from pix2pix_stream.pix2pix.data.temporal import FlowCache
        self.flows = FlowCache(self.source)
        return self

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.indices)

    def name(self, i: int) -> str:
        return self.source.name(self.indices[i])

    def images(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(input, target) uint8 RGB at the crop size, after jitter and the input transform."""
        inp, target, _ = self._images_of(self.indices[i])
        return inp, target

    def _images_of(self, index: int, params=None) -> tuple[np.ndarray, np.ndarray, Any]:
        """(input, target, jitter params). The params are drawn for this source's shape (the
        aspect ratio is kept) unless given: a frame's predecessor reuses its frame's."""
        src, target = self.source[index]
        if self.jitter is not None:
            if params is None:
                params = self.jitter.sample(np.random.default_rng([self.seed, self.epoch, index]),
                                            src.shape)
            src, target = self.jitter.apply(src, params), self.jitter.apply(target, params)
        else:
            src, target = centre_crop(src, self.crop_size), centre_crop(target, self.crop_size)
        # The transform runs on the final crop, as the server runs it on frames scaled to their
        # compute size (media.geometry): edges are detected at the scale the generator sees.
        return self.transform(np.ascontiguousarray(src)), target, params

    def __getitem__(self, i: int) -> dict[str, Any]:
        index = self.indices[i]
        inp, target, params = self._images_of(index)
        item = {"input": to_tensor(inp), "target": to_tensor(target), "index": index}
        if self.flows is not None:
            item.update(self._previous_frame(index, params))
        return item

    def _previous_frame(self, index: int, params) -> dict[str, Any]:
        """The frame before (itself for the first training frame: zero flow) under the same
        jitter, and the flow between the two targets."""
        from pix2pix_stream.pix2pix.data.temporal import flow_tensors, jitter_flow
        previous = index - 1 if index - 1 in self._index_set else index
        prev_input, _, _ = self._images_of(previous, params)
        flow, mask = jitter_flow(*self.flows.get(index, previous), params, self.crop_size)
        return {"prev_input": to_tensor(prev_input), **flow_tensors(flow, mask)}


def split_indices(n: int, val_fraction: float, seed: int, *, contiguous: bool
                  ) -> tuple[list[int], list[int]]:
    """(train, val). Images are split at random (seeded); video frames by holding out the last
    ones, because neighbouring frames are near-duplicates and would leak into validation."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    n_val = min(max(1, round(n * val_fraction)), n - 1) if val_fraction > 0 and n > 1 else 0
    order = np.arange(n) if contiguous else np.random.default_rng(seed).permutation(n)
    train, val = order[:n - n_val], order[n - n_val:]
    return sorted(int(i) for i in train), sorted(int(i) for i in val)


def build_datasets(config: DataConfig, seed: int = 0, *, temporal_pairs: bool = False
                   ) -> tuple[PairDataset, PairDataset | None]:
    """(train set with jitter, validation set without, or None when val_fraction is 0). With
    ``temporal_pairs`` a video's training items also carry the previous frame and the flow."""
    spec = resolve_data(config.path, config.mode)
    load = config.resolved_load_size  # >= crop_size: DataConfig checks a given one
    source = open_source(spec, direction=config.direction, load_size=load,
                         video_stride=config.video_stride, max_frames=config.max_frames)
    train_idx, val_idx = split_indices(len(source), config.val_fraction, seed,
                                       contiguous=spec.mode == "video")
    if not train_idx:
        raise EmptyDatasetError(f"no training samples in {Path(config.path)}", config.path)
    jitter = Jitter(load, config.crop_size, config.flip)
    train = PairDataset(source, train_idx, config.input_transform, config.crop_size, jitter, seed)
    if temporal_pairs and spec.mode == "video":
        train.with_temporal_pairs()
    val = (PairDataset(source, val_idx, config.input_transform, config.crop_size)
           if val_idx else None)
    return train, val


def eval_dataset(path: str | Path, *, mode: str = "auto", direction: str = "AtoB",
                 transform: InputTransform = InputTransform(), size: int = 256) -> PairDataset:
    """Every pair of ``path``, resized to ``size``, no jitter: what pix2pix-eval measures on."""
    spec = resolve_data(path, mode)
    source = open_source(spec, direction=direction, load_size=size)
    return PairDataset(source, list(range(len(source))), transform, size)
